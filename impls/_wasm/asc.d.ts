/**
 * The part of AssemblyScript's compiler API (`assemblyscript/asc`) that
 * `scripts/build_wasm.ts` uses. Declared here rather than taken from the package: its own
 * declarations bring AssemblyScript's global built-ins (`i32`, `usize`...) into every program
 * that type-checks the build script, where they clash with `assembly/builtins.d.ts`.
 */
/** Where the compiler reads sources and writes outputs, and where its report goes. */
export interface APIOptions {
  readFile(filename: string, baseDir: string): string | null;
  writeFile(filename: string, contents: Uint8Array | string, baseDir: string): void;
  listFiles(dirname: string, baseDir: string): string[] | null;
  stdout: { write(text: string): boolean };
  stderr: { write(text: string): boolean };
}

/** The compiler's command line, run in this process. */
export function main(argv: string[], options: APIOptions): Promise<{ error: Error | null }>;

declare const asc: { main: typeof main };
export default asc;

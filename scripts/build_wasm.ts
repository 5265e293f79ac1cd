/**
 * Builds the `wasm` adapter's kernels: `impls/_wasm/assembly/condconv.ts` (AssemblyScript)
 * into `impls/_wasm/condconv.wasm`, with AssemblyScript's compiler API in this process (npm
 * `assemblyscript`, from Deno's cache: no network once installed).
 *
 * `deno task build:wasm` writes the binary; `buildWasm()` returns the bytes, which
 * `impls/wasm_test.ts` compares with the committed binary (the build is deterministic).
 * @module
 */
// @ts-types="../impls/_wasm/asc.d.ts"
import asc from "assemblyscript/asc";

/** The source, relative to the project root. */
export const WASM_SOURCE = "impls/_wasm/assembly/condconv.ts";
/** The committed binary, relative to the project root. */
export const WASM_BINARY = "impls/_wasm/condconv.wasm";

/**
 * The compiler flags: optimised, no runtime or abort import, SIMD128 and threads, the memory
 * imported and shared (its maximum, 2 GiB, matches `impls/wasm.ts`).
 */
export const ASC_FLAGS = [
  "--optimizeLevel",
  "3",
  "--shrinkLevel",
  "0",
  "--runtime",
  "stub",
  "--noAssert",
  "--use",
  "abort=",
  "--enable",
  "simd",
  "--enable",
  "threads",
  "--enable",
  "relaxed-simd",
  "--importMemory",
  "--sharedMemory",
  "--initialMemory",
  "1",
  "--maximumMemory",
  "32768",
  "--noExportMemory",
];

/**
 * Compiles the kernels (or another AssemblyScript file, relative to `root`, with the same
 * flags); resolves to the `.wasm` bytes. Throws with the compiler's report.
 */
export async function buildWasm(root = ".", source = WASM_SOURCE): Promise<Uint8Array> {
  let binary: Uint8Array | undefined;
  let report = "";
  const { error } = await asc.main(
    [source, "--outFile", "condconv.wasm", ...ASC_FLAGS],
    {
      readFile: (name: string, baseDir: string) => {
        try {
          return Deno.readTextFileSync(`${root}/${baseDir}/${name}`);
        } catch {
          return null;
        }
      },
      writeFile: (name: string, contents: Uint8Array | string) => {
        if (name.endsWith(".wasm") && contents instanceof Uint8Array) binary = contents;
      },
      listFiles: () => [],
      stdout: { write: (text: string) => (report += text, true) },
      stderr: { write: (text: string) => (report += text, true) },
    } as unknown as Parameters<typeof asc.main>[1],
  );
  if (error || !binary) {
    throw new Error(`Cannot build ${source}: ${error?.message ?? "no binary"}\n${report}`);
  }
  return binary;
}

if (import.meta.main) {
  const bytes = await buildWasm();
  await Deno.writeFile(WASM_BINARY, bytes);
  console.log(`${WASM_BINARY}: ${bytes.length} bytes from ${WASM_SOURCE}`);
}

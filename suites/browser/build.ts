/**
 * Builds the page of `deno task browser` into `reports/browser-dist/` (git-ignored):
 * - `page.js`: `suites/browser/page.ts` with the adapters and their npm dependencies
 *   (`deno bundle --platform browser`);
 * - `wasm_worker.js` and `wasm/condconv.wasm`: the `wasm` adapter's worker and its kernels;
 * - `ts_worker.js`: the `ts` adapter's worker (`impls/_ts/worker.ts`), bundled on its own (a
 *   bundler leaves `new Worker(new URL(...))` alone, so the page passes this URL instead);
 * - `ort/`: onnxruntime-web's Emscripten glue and wasm, plain and asyncify builds
 *   (`configureOrt({ wasmPaths })` points here);
 * - `tfjs-wasm/`: tfjs-backend-wasm's three binaries (`configureTfjsWasm({ wasmPaths })`);
 * - `index.html`: the page.
 * @module
 */
import { TFJS_WASM_BINARIES } from "../../impls/tfjs_wasm.ts";

/** Where the build goes, relative to the repository root. */
export const DIST_DIR = "reports/browser-dist";

/** onnxruntime-web's files the two ort adapters load (ort-webgpu runs the asyncify build). */
const ORT_FILES = [
  "ort-wasm-simd-threaded.mjs",
  "ort-wasm-simd-threaded.wasm",
  "ort-wasm-simd-threaded.asyncify.mjs",
  "ort-wasm-simd-threaded.asyncify.wasm",
];

const INDEX_HTML = `<!doctype html>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>condconv loading</title>
<p>condconv-bench in the browser: <code>globalThis.condconvBrowser</code>
(suites/browser/page.ts), driven by <code>deno task browser</code>.</p>
<script type="module" src="./page.js"></script>
`;

async function bundle(entry: string, out: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("deno", {
    args: ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out, entry],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(`deno bundle ${entry} failed:\n${new TextDecoder().decode(stderr)}`);
  }
}

async function copyFiles(from: string, to: string, names: readonly string[]): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for (const name of names) {
    try {
      await Deno.copyFile(`${from}/${name}`, `${to}/${name}`);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      throw new Error(`Cannot build the page: "${from}/${name}" is missing (run deno install)`);
    }
  }
}

/** Builds everything into `dir` (emptied first); resolves to the seconds it took. */
export async function buildPage(dir = DIST_DIR): Promise<number> {
  const t0 = performance.now();
  await Deno.remove(dir, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.mkdir(dir, { recursive: true });
  await bundle("suites/browser/page.ts", `${dir}/page.js`);
  await bundle("impls/_ts/worker.ts", `${dir}/ts_worker.js`);
  await bundle("impls/_wasm/worker.ts", `${dir}/wasm_worker.js`);
  await copyFiles("impls/_wasm", `${dir}/wasm`, ["condconv.wasm"]);
  await copyFiles("node_modules/onnxruntime-web/dist", `${dir}/ort`, ORT_FILES);
  await copyFiles(
    "node_modules/@tensorflow/tfjs-backend-wasm/dist",
    `${dir}/tfjs-wasm`,
    TFJS_WASM_BINARIES,
  );
  await Deno.writeTextFile(`${dir}/index.html`, INDEX_HTML);
  return (performance.now() - t0) / 1000;
}

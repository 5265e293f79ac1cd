/**
 * `tfjs-wasm`: CondConv on TensorFlow.js's WebAssembly backend
 * (`@tensorflow/tfjs-backend-wasm`, XNNPACK kernels). See `_tfjs/adapter.ts`.
 *
 * The `.wasm` binaries are loaded from the package's own `dist/` folder, found with
 * `import.meta.resolve` (a `file:` URL under Deno, read with read permission only). tfjs
 * turns WebAssembly threads off whenever it detects Node.js, which includes Deno's Node
 * compatibility (`WASM_HAS_MULTITHREAD_SUPPORT` is then false), so this backend runs the
 * SIMD binary on one thread here; `availability()` records which binary and how many threads.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createTfjsAdapter, type TfjsAdapter } from "./_tfjs/adapter.ts";

let wasmFolder: string | undefined;

/** The folder holding the backend's `.wasm` files, set once before the backend starts. */
function setUpWasmPaths(): Promise<string | undefined> {
  if (wasmFolder === undefined) {
    let entry: string;
    try {
      entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
    } catch (error) {
      return Promise.resolve(
        `cannot locate @tensorflow/tfjs-backend-wasm: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    wasmFolder = new URL("./", entry).href;
    setWasmPaths(wasmFolder);
  }
  return Promise.resolve(undefined);
}

async function describeWasm() {
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") === true;
  const threads = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT") === true;
  const binary = simd && threads
    ? "tfjs-backend-wasm-threaded-simd.wasm"
    : simd
    ? "tfjs-backend-wasm-simd.wasm"
    : "tfjs-backend-wasm.wasm";
  return {
    wasmFolder,
    wasmBinary: binary,
    simd,
    multithreadSupported: threads,
    threads: getThreadsCount(),
    threadsNote: threads
      ? "XNNPACK thread pool on web workers"
      : tf.env().getBool("IS_NODE")
      ? "single-threaded: tfjs disables wasm threads when it detects Node.js (Deno included)"
      : "single-threaded: SharedArrayBuffer or wasm threads unavailable",
  };
}

/** The `tfjs-wasm` adapter. */
export const tfjsWasmAdapter: TfjsAdapter = createTfjsAdapter({
  id: "tfjs-wasm",
  description: "TensorFlow.js 4.22, wasm backend (XNNPACK, float32)",
  toleranceClass: "wasm",
  backendName: "wasm",
  setup: setUpWasmPaths,
  describe: describeWasm,
});

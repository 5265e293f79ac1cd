/**
 * `ort-wasm`: the CondConv layer exported to ONNX (`onnx_graph.ts`) and run by onnxruntime-web
 * 1.30 on its WebAssembly (CPU) execution provider, single-threaded (see `_ort/runtime.ts` for why).
 * @module
 */
import { makeOrtAdapter } from "./_ort/adapter.ts";

/** The `ort-wasm` adapter. */
export const ortWasmAdapter = makeOrtAdapter({
  id: "ort-wasm",
  description: "ONNX model of the layer on onnxruntime-web 1.30, WebAssembly EP (SIMD, 1 thread)",
  toleranceClass: "wasm",
  kernelMixing: "matmul",
  convBug: false,
  executionProvider: "wasm",
  wasmArtifact: "ort-wasm-simd-threaded.wasm",
  load: () => import("onnxruntime-web/wasm"),
});

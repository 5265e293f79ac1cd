/**
 * `ort-webgpu`: the CondConv layer exported to ONNX (`onnx_graph.ts`) and run by
 * onnxruntime-web 1.30 on its WebGPU execution provider (the native C++ EP of the
 * `onnxruntime-web/webgpu` entry point), every node on the GPU (CPU fallback disabled).
 * @module
 */
import { makeOrtAdapter } from "./_ort/adapter.ts";

/** The `ort-webgpu` adapter. */
export const ortWebgpuAdapter = makeOrtAdapter({
  id: "ort-webgpu",
  description: "ONNX model of the layer on onnxruntime-web 1.30, WebGPU EP, no CPU fallback",
  toleranceClass: "webgpu",
  kernelMixing: "mul-reducesum",
  executionProvider: "webgpu",
  wasmArtifact: "ort-wasm-simd-threaded.asyncify.wasm",
  load: () => import("onnxruntime-web/webgpu"),
});

/**
 * `ort-webgpu`: the CondConv layer exported to ONNX (`condconv/formats/onnx_graph.ts`) and run
 * by onnxruntime-web 1.30 on its WebGPU execution provider (the native C++ EP of the
 * `onnxruntime-web/webgpu` entry point, not JSEP: see `_ort/runtime.ts`), every node on the
 * GPU (CPU fallback disabled), with the EP's Conv bug avoided unless asked otherwise.
 * @module
 */
import { makeOrtAdapter, type OrtAdapter, type OrtAdapterOptions } from "./_ort/adapter.ts";

export type { OrtAdapter, OrtAdapterOptions };

/**
 * An `ort-webgpu` adapter; `{ workarounds: false }` builds the plain graphs, so that the
 * WebGPU EP's Conv bug shows. The default adapter's `withoutWorkarounds()` is that one
 * (conform and bench `--no-workarounds`).
 */
export function createOrtWebgpuAdapter(options: OrtAdapterOptions = {}): OrtAdapter {
  return makeOrtAdapter({
    id: "ort-webgpu",
    description: "ONNX model of the layer on onnxruntime-web 1.30, WebGPU EP, no CPU fallback",
    toleranceClass: "webgpu",
    kernelMixing: "mul-reducesum",
    convBug: true,
    executionProvider: "webgpu",
    wasmArtifact: "ort-wasm-simd-threaded.asyncify.wasm",
    load: () => import("onnxruntime-web/webgpu"),
  }, options);
}

/** The `ort-webgpu` adapter, workarounds on. */
export const ortWebgpuAdapter: OrtAdapter = createOrtWebgpuAdapter();

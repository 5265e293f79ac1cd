/**
 * `tfjs-webgpu`: CondConv on TensorFlow.js's WebGPU backend (`@tensorflow/tfjs-backend-webgpu`).
 * See `_tfjs/adapter.ts`.
 *
 * tfjs-webgpu runs small ops on the CPU when all their inputs are still CPU-side
 * (`WEBGPU_CPU_FORWARD`, below 1000 elements). This adapter turns that off, so that every op
 * of a run executes on the GPU; `availability()` records it. The backend registers itself
 * only when `navigator.gpu` exists at import time.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-webgpu";
import { type GpuSummary, requestGpuAdapter } from "./_webgpu.ts";
import { createTfjsAdapter, type TfjsAdapter } from "./_tfjs/adapter.ts";

/** The GPU adapter, as requested the way tfjs-webgpu requests it. */
let gpu: GpuSummary | undefined;
let powerPreference: GPUPowerPreference | undefined;

async function setUpWebGpu(): Promise<string | undefined> {
  // the cached adapter counts only while navigator.gpu is there (a test may remove it)
  if (gpu === undefined || !(globalThis.navigator as Navigator | undefined)?.gpu) {
    powerPreference = tf.env().getBool("WEBGPU_USE_LOW_POWER_GPU")
      ? "low-power"
      : "high-performance";
    const probe = await requestGpuAdapter({ powerPreference });
    if ("reason" in probe) return `no WebGPU adapter: ${probe.reason}`;
    gpu = probe.gpu;
  }
  if (tf.findBackendFactory("webgpu") === null) {
    return "tfjs webgpu backend is not registered: navigator.gpu was missing when it was imported";
  }
  // Every op on the GPU, even the small ones tfjs would hand to the CPU.
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  return undefined;
}

/** The `tfjs-webgpu` adapter. */
export const tfjsWebGpuAdapter: TfjsAdapter = createTfjsAdapter({
  id: "tfjs-webgpu",
  description: "TensorFlow.js 4.22, webgpu backend (WGSL shaders, float32)",
  toleranceClass: "webgpu",
  backendName: "webgpu",
  // tfjs-webgpu's matmul is 20-60x slower than addN of products for r @ W here (KernelMixing)
  kernelMixing: "elementwise",
  setup: setUpWebGpu,
  gpu: () => gpu,
  describe: () =>
    Promise.resolve({
      // the one JavaScript thread that encodes the GPU work; the kernels run on the GPU
      threads: 1,
      powerPreference,
      cpuForward: tf.env().getBool("WEBGPU_CPU_FORWARD"),
    }),
});

/**
 * `wgsl`: raw WebGPU with hand-written WGSL, no framework.
 *
 * Each run uploads the input (and supplied routing weights) with `queue.writeBuffer`, records
 * routing (average pool with a workgroup reduction, then linear layer and sigmoid or
 * softmax), kernel mixing (`K_b = sum_e r_e W_e` and the per-expert bias mix) and the
 * convolution into one command buffer, one compute pass per stage, copies the output to a
 * `MAP_READ` staging buffer and reads it back with `mapAsync`. The engine lives in `_wgsl/`:
 * one file per shader stage (`pool`, `route`, `mix`, and the convolutions `gemm` for 1x1 and
 * general layers and `depthwise`), the planner (`plan.ts`), the device (`device.ts`), a
 * shape's GPU state (`shape.ts`) and the layer class (`layer.ts`).
 *
 * Pipelines: a shader holds no size of the layer (sizes are uniform parameters), so the
 * device compiles a handful of pipelines, cached by their WGSL, for every layer and shape;
 * only GEMM tiles and the depthwise kernel shapes (unrolled) make new ones.
 *
 * Resources: prepare uploads the weights; the first run on an input shape (or
 * {@link WgslCondConv.reserve}) builds that shape's buffers and bind groups, which later
 * runs on the same shape reuse ({@link SHAPE_CACHE_SIZE} shapes are kept, the least recently
 * used destroyed). `dispose` destroys them all. Layers share one `GPUDevice`, destroyed when
 * the last layer is disposed, so {@link wgslAdapter}'s `resourceCounts()` returns to zero.
 *
 * GPU time: when the adapter offers `timestamp-query`, the device is created with it, each
 * stage's pass writes a timestamp at its start and end, and after a run
 * {@link WgslCondConv.lastGpuTimeMs} holds its GPU time (from the start of the first pass to
 * the end of the last: routing, mixing and convolution, not the upload or the readback) in
 * milliseconds, {@link WgslCondConv.lastGpuStageMs} the time of each stage. Without the
 * feature both stay `undefined`. On llvmpipe the first run's GPU time includes the shader
 * JIT compile, so report warm runs.
 *
 * Device loss: once the device is lost (driver reset, `device.destroy()`), runs reject with
 * an error that says so, including a run already waiting on its readback; prepare again to
 * get a new device.
 * @module
 */
import type { CondConvSpec, CondConvWeights } from "../condconv/spec.ts";
import { requestGpuAdapter } from "./_webgpu.ts";
import type { Availability, CondConvAdapter } from "./adapter.ts";
import { resourceCounts } from "./_wgsl/device.ts";
import { WGSL_BACKEND, type WgslCondConv } from "./_wgsl/layer.ts";
import { prepareWgsl } from "./_wgsl/prepare.ts";

export { LOSS_GRACE_MS } from "./_wgsl/device.ts";
export { SHAPE_CACHE_SIZE, WGSL_BACKEND, WgslCondConv } from "./_wgsl/layer.ts";
export type { StageName } from "./_wgsl/shape.ts";

/** The limits this adapter reads from the device, recorded in `availability().info`. */
export const LIMITS_USED = [
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxStorageBuffersPerShaderStage",
] as const;

async function availability(): Promise<Availability> {
  const probe = await requestGpuAdapter();
  if ("reason" in probe) return { available: false, reason: probe.reason };
  const { adapter, gpu } = probe;
  const limits: Record<string, number> = {};
  for (const name of LIMITS_USED) limits[name] = adapter.limits[name];
  return {
    available: true,
    backend: WGSL_BACKEND,
    gpu,
    info: { features: [...adapter.features].sort(), limits },
  };
}

/** {@link CondConvAdapter} whose prepared layers are {@link WgslCondConv}s. */
export interface WgslAdapter extends CondConvAdapter {
  prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<WgslCondConv>;
  resourceCounts(): { gpuBuffers: number; gpuQuerySets: number; gpuDevices: number };
}

/** The `wgsl` adapter: raw WebGPU compute with the hand-written shaders of `_wgsl/`. */
export const wgslAdapter: WgslAdapter = {
  id: "wgsl",
  description: "raw WebGPU, hand-written WGSL: tiled GEMM (1x1), tile+halo depthwise, " +
    "implicit-im2col GEMM (general); one command buffer per run",
  toleranceClass: "webgpu",
  availability,
  prepare: prepareWgsl,
  resourceCounts,
};

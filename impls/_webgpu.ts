/**
 * The one WebGPU probe every GPU adapter uses: which adapter `navigator.gpu` gives, whether it
 * is a software one, and the limits the adapters read. The result is a typed
 * {@link GpuSummary} that availability carries (`Availability.gpu`), so reports never have to
 * guess from free-form info whether a figure came from a real GPU.
 *
 * Which WebGPU implementation runs (wgpu on Vulkan or on OpenGL in Deno, Dawn in Chromium) is
 * not visible to a page: `GPUAdapterInfo` has no such field, and wgpu's Vulkan and GL backends
 * report the same llvmpipe description. The process that starts the adapter knows it (it chose
 * `DENO_WEBGPU_BACKEND`, or launched the browser) and records it beside each result; see
 * `suites/_shared/webgpu_matrix.ts`.
 * @module
 */

/** What every report records of the GPU adapter an adapter ran on. */
export interface GpuSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** `GPUAdapterInfo.isFallbackAdapter` (or the older `GPUAdapter` field); null if absent */
  isFallbackAdapter: boolean | null;
  /**
   * true for a CPU rasteriser posing as a GPU (llvmpipe, lavapipe, SwiftShader, WARP, or any
   * fallback adapter): its timings are CPU timings
   */
  software: boolean;
  timestampQuery: boolean;
  /** the limits the adapters of this project depend on */
  limits: Record<string, number>;
}

/** Limits recorded in every summary (the ones the wgsl planner and tfjs/ort rely on). */
export const RECORDED_LIMITS = [
  "maxComputeWorkgroupSizeX",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupStorageSize",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
] as const;

const SOFTWARE_RASTERISERS = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|microsoft basic/i;

/** Reads a `GPUAdapter` (its info fields are getters, invisible to `JSON.stringify`). */
export function summarizeGpuAdapter(adapter: GPUAdapter, info = adapter.info): GpuSummary {
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const isFallbackAdapter = typeof fallback === "boolean" ? fallback : null;
  const limits: Record<string, number> = {};
  for (const name of RECORDED_LIMITS) limits[name] = Number(adapter.limits[name]);
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter,
    software: isFallbackAdapter === true || SOFTWARE_RASTERISERS.test(text),
    timestampQuery: adapter.features.has("timestamp-query"),
    limits,
  };
}

/** The adapter `navigator.gpu` gives, or why there is none. Never throws. */
export async function requestGpuAdapter(
  options?: GPURequestAdapterOptions,
): Promise<{ adapter: GPUAdapter; gpu: GpuSummary } | { reason: string }> {
  const api = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!api) {
    return { reason: "navigator.gpu is missing (no WebGPU here; Deno needs --unstable-webgpu)" };
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await api.requestAdapter(options);
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { reason: `navigator.gpu.requestAdapter() threw ${message}` };
  }
  if (!adapter) {
    return { reason: "navigator.gpu.requestAdapter() gave no adapter" };
  }
  return { adapter, gpu: summarizeGpuAdapter(adapter) };
}

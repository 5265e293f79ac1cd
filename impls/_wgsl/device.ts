/**
 * The `wgsl` adapter's GPU device: one shared by every layer prepared on it and destroyed when
 * the last is disposed, its loss turned into clear errors, the live objects counted for
 * `resourceCounts()`, and the compiled pipelines cached by their WGSL.
 * @module
 */
import { messageOf } from "../_errors.ts";

// Live GPU objects of every layer, for resourceCounts().
const liveBuffers = new Set<GPUBuffer>();
const liveQuerySets = new Set<GPUQuerySet>();
// Devices created and neither destroyed by us nor lost.
const openDevices = new Set<DeviceHandle>();

/** Counts of the adapter's live GPU objects. */
export function resourceCounts(): { gpuBuffers: number; gpuQuerySets: number; gpuDevices: number } {
  return {
    gpuBuffers: liveBuffers.size,
    gpuQuerySets: liveQuerySets.size,
    gpuDevices: openDevices.size,
  };
}

/** A device shared by the layers prepared on it, destroyed when the last one is disposed. */
export interface DeviceHandle {
  device: GPUDevice;
  timestamps: boolean;
  refs: number;
  /** set by us before `destroy()`, so a handle no longer in use is never handed out */
  closed: boolean;
  lost?: GPUDeviceLostInfo;
  /** rejecters of runs waiting on the GPU, called when the device is lost */
  waiters: Set<(error: Error) => void>;
  /** compute pipelines by WGSL: a stage whose code is the same reuses the compiled one */
  pipelines: Map<string, GPUComputePipeline>;
}

let sharedDevice: Promise<DeviceHandle> | undefined;

/** The error of a run on a lost device. */
export function lostError(info: GPUDeviceLostInfo): Error {
  return new Error(
    `Cannot run the wgsl layer: the GPU device was lost (reason "${info.reason}", ` +
      `message "${info.message}"); prepare the layer again for a new device`,
  );
}

async function createDeviceHandle(): Promise<DeviceHandle> {
  const api = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!api) throw new Error("Cannot prepare the wgsl layer: navigator.gpu is missing");
  const adapter = await api.requestAdapter();
  if (!adapter) {
    throw new Error(
      "Cannot prepare the wgsl layer: navigator.gpu.requestAdapter() gave no adapter",
    );
  }
  const timestamps = adapter.features.has("timestamp-query");
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredFeatures: timestamps ? ["timestamp-query"] : [],
      // the largest buffers the adapter allows, so large batches fit
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
  } catch (error) {
    throw new Error(`Cannot prepare the wgsl layer: requestDevice failed: ${messageOf(error)}`);
  }
  const handle: DeviceHandle = {
    device,
    timestamps,
    refs: 0,
    closed: false,
    waiters: new Set(),
    pipelines: new Map(),
  };
  openDevices.add(handle);
  device.lost.then((info) => {
    openDevices.delete(handle);
    handle.lost = info;
    handle.closed = true;
    handle.pipelines.clear();
    const error = lostError(info);
    for (const reject of handle.waiters) reject(error);
    handle.waiters.clear();
  });
  return handle;
}

/** The shared device (created on first use), with one more reference to it. */
export async function acquireDevice(): Promise<DeviceHandle> {
  for (;;) {
    const pending = sharedDevice ??= createDeviceHandle();
    let handle: DeviceHandle;
    try {
      handle = await pending;
    } catch (error) {
      if (sharedDevice === pending) sharedDevice = undefined;
      throw error;
    }
    if (handle.closed) {
      if (sharedDevice === pending) sharedDevice = undefined;
      continue;
    }
    handle.refs++;
    return handle;
  }
}

/** Drops one reference to `handle`; the last one destroys the device. */
export function releaseDevice(handle: DeviceHandle): void {
  handle.refs--;
  if (handle.refs > 0) return;
  if (!handle.closed) {
    handle.closed = true;
    openDevices.delete(handle);
    handle.pipelines.clear();
    handle.device.destroy();
  }
  // drop the shared slot only if it still holds this handle
  const current = sharedDevice;
  current?.then((h) => {
    if (h === handle && sharedDevice === current) sharedDevice = undefined;
  }, () => {});
}

/** How long a failed run waits for `device.lost` to settle before blaming something else. */
export const LOSS_GRACE_MS = 100;

/**
 * The error to report for a failed run: the device loss when the device is lost (a destroyed
 * device fails its calls with a bare "validation error" before `device.lost` settles, so
 * wait a moment for it), otherwise `error` itself.
 */
export async function explainFailure(handle: DeviceHandle, error: unknown): Promise<unknown> {
  if (!handle.lost) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      handle.device.lost,
      new Promise((resolve) => timer = setTimeout(resolve, LOSS_GRACE_MS)),
    ]);
    clearTimeout(timer);
  }
  return handle.lost ? lostError(handle.lost) : error;
}

/** Waits for `promise`, rejecting at once if the device is lost meanwhile. */
export function untilLost<T>(handle: DeviceHandle, promise: Promise<T>): Promise<T> {
  if (handle.lost) return Promise.reject(lostError(handle.lost));
  return new Promise<T>((resolve, reject) => {
    handle.waiters.add(reject);
    promise.then(resolve, reject).finally(() => handle.waiters.delete(reject));
  });
}

/** A buffer of at least 4 bytes, counted until {@link destroyBuffer}. */
export function createBuffer(
  device: GPUDevice,
  label: string,
  bytes: number,
  usage: number,
): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(4, bytes), usage });
  liveBuffers.add(buffer);
  return buffer;
}

/** Destroys a buffer made by {@link createBuffer} (once). */
export function destroyBuffer(buffer: GPUBuffer): void {
  if (liveBuffers.delete(buffer)) buffer.destroy();
}

/** A timestamp query set, counted until {@link destroyQuerySet}. */
export function createQuerySet(device: GPUDevice, label: string, count: number): GPUQuerySet {
  const querySet = device.createQuerySet({ label, type: "timestamp", count });
  liveQuerySets.add(querySet);
  return querySet;
}

/** Destroys a query set made by {@link createQuerySet} (once). */
export function destroyQuerySet(querySet: GPUQuerySet): void {
  if (liveQuerySets.delete(querySet)) querySet.destroy();
}

/**
 * The compute pipeline of `code` on `handle`'s device, compiled on first use and then shared
 * by every layer and shape whose stage has the same code. A new one's code is pushed on
 * `created`, so a caller whose error scope then fails can drop it with {@link forgetPipelines}.
 */
export function pipelineFor(
  handle: DeviceHandle,
  label: string,
  code: string,
  created: string[],
): GPUComputePipeline {
  let pipeline = handle.pipelines.get(code);
  if (!pipeline) {
    created.push(code);
    const { device } = handle;
    const module = device.createShaderModule({ label: `wgsl ${label}`, code });
    pipeline = device.createComputePipeline({
      label: `wgsl ${label}`,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    handle.pipelines.set(code, pipeline);
  }
  return pipeline;
}

/** Drops pipelines from the cache (ones built inside a failed error scope). */
export function forgetPipelines(handle: DeviceHandle, codes: readonly string[]): void {
  for (const code of codes) handle.pipelines.delete(code);
}

/** Runs `body` inside validation and out-of-memory error scopes; throws the first error. */
export async function checked<T>(device: GPUDevice, what: string, body: () => T): Promise<T> {
  device.pushErrorScope("out-of-memory");
  device.pushErrorScope("validation");
  let result: { value: T } | { error: unknown };
  try {
    result = { value: body() };
  } catch (error) {
    result = { error };
  }
  const validation = await device.popErrorScope();
  const memory = await device.popErrorScope();
  if ("error" in result) throw result.error;
  const error = validation ?? memory;
  if (error) throw new Error(`Cannot ${what}: WebGPU reported "${error.message}"`);
  return result.value;
}

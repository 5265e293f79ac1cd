/**
 * `wgsl`: raw WebGPU with hand-written WGSL, no framework.
 *
 * Each run uploads the input (and supplied routing weights) with `queue.writeBuffer`, records
 * routing (average pool with a workgroup reduction, then linear layer and sigmoid or
 * softmax), kernel mixing (`K_b = sum_e r_e W_e` and the per-expert bias mix) and the
 * convolution into one command buffer, one compute pass per stage, copies the output to a
 * `MAP_READ` staging buffer and reads it back with `mapAsync`. The shaders live in
 * `_wgsl_shaders.ts`: a tiled GEMM for 1x1 kernels, a tile-plus-halo kernel for depthwise
 * layers and an implicit-im2col GEMM for everything else, each generated with the geometry
 * baked in.
 *
 * Resources: prepare uploads the weights; the first run on an input shape (or
 * {@link WgslCondConv.reserve}) builds that shape's buffers, pipelines and bind groups, which
 * later runs on the same shape reuse ({@link SHAPE_CACHE_SIZE} shapes are kept, the least
 * recently used destroyed). `dispose` destroys them all. Layers share one `GPUDevice`,
 * destroyed when the last layer is disposed, so {@link wgslAdapter}'s `resourceCounts()`
 * returns to zero.
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
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import {
  checkRunInputs,
  checkWeights,
  type Geometry,
  resolveGeometry,
} from "../condconv/geometry.ts";
import { requestGpuAdapter } from "./_webgpu.ts";
import type { Availability, CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import {
  type BufferRole,
  type ConvPath,
  flatDispatch,
  type LayerPlan,
  planLayer,
  type StagePlan,
} from "./_wgsl/shaders.ts";

/** The name of one dispatch of a run: `pool`, `route`, `mix` or `conv`. */
export type StageName = StagePlan["name"];

/** The backend string of this adapter. */
export const WGSL_BACKEND = "webgpu:wgsl";

/** Input shapes whose buffers and pipelines a layer keeps at once; older ones are destroyed. */
export const SHAPE_CACHE_SIZE = 4;

/** The limits this adapter reads from the device, recorded in `availability().info`. */
export const LIMITS_USED = [
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxStorageBuffersPerShaderStage",
] as const;

// Live GPU objects of every layer, for resourceCounts().
const liveBuffers = new Set<GPUBuffer>();
const liveQuerySets = new Set<GPUQuerySet>();
// Devices created and neither destroyed by us nor lost.
const openDevices = new Set<DeviceHandle>();

function gpu(): GPU | undefined {
  return (globalThis.navigator as Navigator | undefined)?.gpu;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A device shared by the layers prepared on it, destroyed when the last one is disposed. */
interface DeviceHandle {
  device: GPUDevice;
  timestamps: boolean;
  refs: number;
  /** set by us before `destroy()`, so a handle no longer in use is never handed out */
  closed: boolean;
  lost?: GPUDeviceLostInfo;
  /** rejecters of runs waiting on the GPU, called when the device is lost */
  waiters: Set<(error: Error) => void>;
}

let sharedDevice: Promise<DeviceHandle> | undefined;

function lostError(info: GPUDeviceLostInfo): Error {
  return new Error(
    `Cannot run the wgsl layer: the GPU device was lost (reason "${info.reason}", ` +
      `message "${info.message}"); prepare the layer again for a new device`,
  );
}

async function createDeviceHandle(): Promise<DeviceHandle> {
  const api = gpu();
  if (!api) throw new Error("Cannot prepare the wgsl layer: navigator.gpu is missing");
  const adapter = await api.requestAdapter();
  if (!adapter) {
    throw new Error(
      "Cannot prepare the wgsl layer: navigator.gpu.requestAdapter() gave no adapter",
    );
  }
  const timestamps = adapter.features.has("timestamp-query");
  const device = await adapter.requestDevice({
    requiredFeatures: timestamps ? ["timestamp-query"] : [],
    // the largest buffers the adapter allows, so large batches fit
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  const handle: DeviceHandle = { device, timestamps, refs: 0, closed: false, waiters: new Set() };
  openDevices.add(handle);
  device.lost.then((info) => {
    openDevices.delete(handle);
    handle.lost = info;
    handle.closed = true;
    const error = lostError(info);
    for (const reject of handle.waiters) reject(error);
    handle.waiters.clear();
  });
  return handle;
}

async function acquireDevice(): Promise<DeviceHandle> {
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

function releaseDevice(handle: DeviceHandle): void {
  handle.refs--;
  if (handle.refs > 0) return;
  if (!handle.closed) {
    handle.closed = true;
    openDevices.delete(handle);
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
async function explainFailure(handle: DeviceHandle, error: unknown): Promise<unknown> {
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
function untilLost<T>(handle: DeviceHandle, promise: Promise<T>): Promise<T> {
  if (handle.lost) return Promise.reject(lostError(handle.lost));
  return new Promise<T>((resolve, reject) => {
    handle.waiters.add(reject);
    promise.then(resolve, reject).finally(() => handle.waiters.delete(reject));
  });
}

function createBuffer(device: GPUDevice, label: string, bytes: number, usage: number): GPUBuffer {
  const buffer = device.createBuffer({ label, size: Math.max(4, bytes), usage });
  liveBuffers.add(buffer);
  return buffer;
}

function destroyBuffer(buffer: GPUBuffer): void {
  if (liveBuffers.delete(buffer)) buffer.destroy();
}

/** Runs `body` inside validation and out-of-memory error scopes; throws the first error. */
async function checked<T>(device: GPUDevice, what: string, body: () => T): Promise<T> {
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

/** The buffers, pipelines and bind groups of one input shape. */
interface ShapeState {
  key: string;
  geometry: Geometry;
  plan: LayerPlan;
  buffers: Partial<Record<BufferRole, GPUBuffer>>;
  staging: GPUBuffer;
  outputBytes: number;
  /** byte offset of the timestamps (a start and an end per stage) in the staging buffer */
  timestampOffset: number;
  resolve?: GPUBuffer;
  querySet?: GPUQuerySet;
  dispatches: {
    name: StageName;
    pipeline: GPUComputePipeline;
    bindGroup: GPUBindGroup;
    size: [number, number];
  }[];
}

/** Weight buffers uploaded by prepare. */
interface WeightBuffers {
  experts: GPUBuffer;
  bias?: GPUBuffer;
  routingParams?: GPUBuffer;
}

/**
 * A CondConv layer prepared by the `wgsl` adapter. Beside {@link PreparedCondConv}, it tells
 * the GPU time of its last run ({@link lastGpuTimeMs}), which convolution shader a shape
 * takes ({@link convPath}), and can build a shape's pipelines ahead of the first run
 * ({@link reserve}).
 */
export class WgslCondConv implements PreparedCondConv {
  readonly backend = WGSL_BACKEND;
  /**
   * GPU time of the last run (routing, mixing, convolution: from the start of its first
   * compute pass to the end of its last) in milliseconds, from timestamp queries; `undefined`
   * before the first run, after a failed one, or when the device lacks `timestamp-query`.
   * Upload and readback are not included: report it beside wall time.
   */
  lastGpuTimeMs: number | undefined;
  /**
   * The same run's GPU time per stage (`pool`, `route`, `mix`, `conv`; each is its own
   * compute pass), in milliseconds; `undefined` like {@link lastGpuTimeMs}. The stages sum to
   * a little less than {@link lastGpuTimeMs}, which also spans the gaps between passes.
   */
  lastGpuStageMs: Partial<Record<StageName, number>> | undefined;
  #handle: DeviceHandle;
  #spec: CondConvSpec;
  #weights: WeightBuffers;
  #shapes = new Map<string, ShapeState>();
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  /** Use {@link wgslAdapter}.prepare; this wraps buffers it already uploaded. */
  constructor(handle: DeviceHandle, spec: CondConvSpec, weights: WeightBuffers) {
    this.#handle = handle;
    this.#spec = spec;
    this.#weights = weights;
  }

  /** The device this layer runs on; destroying it makes every later run reject. */
  get device(): GPUDevice {
    return this.#handle.device;
  }

  /** Whether runs measure GPU time (the device has `timestamp-query`). */
  get timestamps(): boolean {
    return this.#handle.timestamps;
  }

  /** The convolution shader an NCHW input shape takes. */
  convPath(inputShape: readonly number[]): ConvPath {
    return this.#plan(resolveGeometry(this.#spec, inputShape)).convPath;
  }

  /**
   * Builds the buffers, pipelines and bind groups of an input shape without running. Some
   * drivers (llvmpipe among them) still compile a pipeline at its first dispatch, so warm up
   * with a run before timing.
   */
  reserve(inputShape: readonly number[]): Promise<void> {
    return this.#serial(async () => {
      this.#checkUsable();
      await this.#stateFor(resolveGeometry(this.#spec, inputShape));
    });
  }

  run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    return this.#serial(() => this.#run(input, routingWeights));
  }

  dispose(): Promise<void> {
    return this.#serial(() => {
      if (this.#disposed) return;
      this.#disposed = true;
      for (const state of this.#shapes.values()) destroyShape(state);
      this.#shapes.clear();
      destroyBuffer(this.#weights.experts);
      if (this.#weights.bias) destroyBuffer(this.#weights.bias);
      if (this.#weights.routingParams) destroyBuffer(this.#weights.routingParams);
      releaseDevice(this.#handle);
    });
  }

  /** Runs `task` after every earlier call on this layer settles (one staging buffer). */
  #serial<T>(task: () => T | Promise<T>): Promise<T> {
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => {});
    return next;
  }

  #checkUsable(): void {
    if (this.#disposed) throw new Error("Cannot run the wgsl layer: it was disposed");
    if (this.#handle.lost) throw lostError(this.#handle.lost);
  }

  #plan(g: Geometry): LayerPlan {
    const limits = this.#handle.device.limits;
    return planLayer(this.#spec, g, limits);
  }

  async #stateFor(g: Geometry): Promise<ShapeState> {
    const key = `${g.batch}x${g.inChannels}x${g.inHeight}x${g.inWidth}`;
    const cached = this.#shapes.get(key);
    if (cached) {
      // most recently used last
      this.#shapes.delete(key);
      this.#shapes.set(key, cached);
      return cached;
    }
    const state = await buildShape(this.#handle, this.#spec, g, this.#plan(g), this.#weights, key);
    this.#shapes.set(key, state);
    if (this.#shapes.size > SHAPE_CACHE_SIZE) {
      const [oldestKey, oldest] = this.#shapes.entries().next().value!;
      this.#shapes.delete(oldestKey);
      destroyShape(oldest);
    }
    return state;
  }

  /** Uploads the input (and supplied routing), records every stage and submits. */
  #submit(state: ShapeState, input: Float32Array, routingWeights?: Float32Array): void {
    const { device } = this.#handle;
    const { buffers, staging, querySet, resolve } = state;
    device.queue.writeBuffer(buffers.input!, 0, input);
    if (routingWeights) device.queue.writeBuffer(buffers.routing!, 0, routingWeights);
    const encoder = device.createCommandEncoder({ label: "wgsl run" });
    // one compute pass per stage, so each stage's GPU time can be read
    state.dispatches.forEach((d, n) => {
      const pass = encoder.beginComputePass({
        label: `wgsl ${d.name}`,
        timestampWrites: querySet
          ? { querySet, beginningOfPassWriteIndex: 2 * n, endOfPassWriteIndex: 2 * n + 1 }
          : undefined,
      });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.size[0], d.size[1]);
      pass.end();
    });
    encoder.copyBufferToBuffer(buffers.output!, 0, staging, 0, state.outputBytes);
    if (querySet && resolve) {
      const count = 2 * state.dispatches.length;
      encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, staging, state.timestampOffset, 8 * count);
    }
    device.queue.submit([encoder.finish()]);
  }

  async #run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    this.#checkUsable();
    const g = checkRunInputs(this.#spec, input, routingWeights);
    this.lastGpuTimeMs = this.lastGpuStageMs = undefined;
    const handle = this.#handle;
    try {
      const state = await this.#stateFor(g);
      this.#checkUsable();
      const { device } = handle;
      const { staging, querySet } = state;
      device.pushErrorScope("out-of-memory");
      device.pushErrorScope("validation");
      let scopes: Promise<GPUError | null>[];
      try {
        this.#submit(state, input.data, routingWeights);
      } finally {
        // popped whatever happened, so the scopes stay balanced
        scopes = [device.popErrorScope(), device.popErrorScope()];
        for (const scope of scopes) scope.catch(() => {});
      }
      const mapped = staging.mapAsync(GPUMapMode.READ);
      let errors: (GPUError | null)[];
      try {
        errors = await untilLost(handle, Promise.all(scopes));
      } catch (error) {
        mapped.catch(() => {});
        throw error;
      }
      const error = errors[0] ?? errors[1];
      if (error) {
        await mapped.then(() => staging.unmap(), () => {});
        throw new Error(`Cannot run the wgsl layer: WebGPU reported "${error.message}"`);
      }
      await untilLost(handle, mapped);
      try {
        const range = staging.getMappedRange();
        const data = new Float32Array(range.slice(0, state.outputBytes));
        if (querySet) {
          const stamps = new BigUint64Array(
            range,
            state.timestampOffset,
            2 * state.dispatches.length,
          );
          const stages: Partial<Record<StageName, number>> = {};
          state.dispatches.forEach((d, n) => {
            stages[d.name] = Number(stamps[2 * n + 1] - stamps[2 * n]) / 1e6;
          });
          this.lastGpuTimeMs = Number(stamps[stamps.length - 1] - stamps[0]) / 1e6;
          this.lastGpuStageMs = stages;
        }
        return { shape: [g.batch, g.outChannels, g.outHeight, g.outWidth], data };
      } finally {
        staging.unmap();
      }
    } catch (error) {
      throw await explainFailure(handle, error);
    }
  }
}

function destroyShape(state: ShapeState): void {
  // the weight buffers in state.buffers belong to the layer, which destroys them itself
  for (const role of OWNED_ROLES) {
    const buffer = state.buffers[role];
    if (buffer) destroyBuffer(buffer);
  }
  destroyBuffer(state.staging);
  if (state.resolve) destroyBuffer(state.resolve);
  if (state.querySet && liveQuerySets.delete(state.querySet)) state.querySet.destroy();
}

/** The per-shape buffers a shape state owns (the others are the layer's weights). */
const OWNED_ROLES = ["input", "pooled", "routing", "mixed", "output"] as const;

async function buildShape(
  handle: DeviceHandle,
  spec: CondConvSpec,
  g: Geometry,
  plan: LayerPlan,
  weights: WeightBuffers,
  key: string,
): Promise<ShapeState> {
  const { device } = handle;
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  for (const [name, floats] of Object.entries(plan.floats)) {
    if (4 * floats > maxBinding) {
      throw new RangeError(
        `Cannot run the wgsl layer on input [${g.batch}, ${g.inChannels}, ${g.inHeight}, ` +
          `${g.inWidth}]: the "${name}" buffer needs ${4 * floats} bytes, over ` +
          `maxStorageBufferBindingSize "${maxBinding}"; run a smaller batch`,
      );
    }
  }
  const S = GPUBufferUsage.STORAGE;
  const outputBytes = 4 * plan.floats.output;
  const timestampOffset = Math.ceil(outputBytes / 8) * 8;
  const buffers: Partial<Record<BufferRole, GPUBuffer>> = {
    experts: weights.experts,
    bias: weights.bias,
    routingParams: weights.routingParams,
  };
  const owned: GPUBuffer[] = [];
  const own = (b: GPUBuffer) => (owned.push(b), b);
  let querySet: GPUQuerySet | undefined;
  try {
    return await checked(device, `build the wgsl layer for input "${key}"`, () => {
      buffers.input = own(
        createBuffer(device, "input", 4 * plan.floats.input, S | GPUBufferUsage.COPY_DST),
      );
      if (spec.routing.kind !== "supplied") {
        buffers.pooled = own(createBuffer(device, "pooled", 4 * plan.floats.pooled, S));
      }
      buffers.routing = own(
        createBuffer(device, "routing", 4 * plan.floats.routing, S | GPUBufferUsage.COPY_DST),
      );
      buffers.mixed = own(createBuffer(device, "mixed", 4 * plan.floats.mixed, S));
      buffers.output = own(
        createBuffer(device, "output", outputBytes, S | GPUBufferUsage.COPY_SRC),
      );
      const staging = own(createBuffer(
        device,
        "staging",
        timestampOffset + (handle.timestamps ? 16 * plan.stages.length : 0),
        GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      ));
      let resolve: GPUBuffer | undefined;
      if (handle.timestamps) {
        querySet = device.createQuerySet({
          label: "wgsl pass times",
          type: "timestamp",
          count: 2 * plan.stages.length,
        });
        liveQuerySets.add(querySet);
        resolve = own(createBuffer(
          device,
          "timestamps",
          16 * plan.stages.length,
          GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        ));
      }
      const maxPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
      const dispatches = plan.stages.map((stage) => {
        const module = device.createShaderModule({ label: `wgsl ${stage.name}`, code: stage.code });
        const pipeline = device.createComputePipeline({
          label: `wgsl ${stage.name}`,
          layout: "auto",
          compute: { module, entryPoint: "main" },
        });
        const bindGroup = device.createBindGroup({
          label: `wgsl ${stage.name}`,
          layout: pipeline.getBindGroupLayout(0),
          entries: stage.bindings.map((role, binding) => {
            const buffer = buffers[role];
            if (!buffer) throw new Error(`Cannot bind "${role}": the layer has no such buffer`);
            return { binding, resource: { buffer } };
          }),
        });
        const size = flatDispatch(stage.workgroups, maxPerDimension);
        return { name: stage.name, pipeline, bindGroup, size };
      });
      return {
        key,
        geometry: g,
        plan,
        buffers,
        staging,
        outputBytes,
        timestampOffset,
        resolve,
        querySet,
        dispatches,
      };
    });
  } catch (error) {
    for (const b of owned) destroyBuffer(b);
    if (querySet && liveQuerySets.delete(querySet)) querySet.destroy();
    throw error;
  }
}

function packWeights(spec: CondConvSpec, weights: CondConvWeights) {
  const E = spec.numExperts;
  const kernel = weights.expertKernels.length / E;
  let experts = weights.expertKernels;
  if (spec.bias === "perExpert") {
    // (E, kernel + O): each expert's kernel followed by its bias, mixed in one pass
    const O = spec.outChannels;
    experts = new Float32Array(E * (kernel + O));
    for (let e = 0; e < E; e++) {
      experts.set(weights.expertKernels.subarray(e * kernel, (e + 1) * kernel), e * (kernel + O));
      experts.set(weights.bias!.subarray(e * O, (e + 1) * O), e * (kernel + O) + kernel);
    }
  }
  let routingParams: Float32Array | undefined;
  if (weights.routingWeight && weights.routingBias) {
    routingParams = new Float32Array(weights.routingWeight.length + weights.routingBias.length);
    routingParams.set(weights.routingWeight);
    routingParams.set(weights.routingBias, weights.routingWeight.length);
  }
  return { experts, bias: spec.bias === "shared" ? weights.bias : undefined, routingParams };
}

async function prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<WgslCondConv> {
  checkWeights(spec, weights);
  const packed = packWeights(spec, weights);
  const handle = await acquireDevice();
  const { device } = handle;
  const created: GPUBuffer[] = [];
  const upload = (label: string, data: Float32Array) => {
    if (data.byteLength > device.limits.maxStorageBufferBindingSize) {
      throw new RangeError(
        `Cannot prepare the wgsl layer: "${label}" needs ${data.byteLength} bytes, over ` +
          `maxStorageBufferBindingSize "${device.limits.maxStorageBufferBindingSize}"`,
      );
    }
    const buffer = createBuffer(
      device,
      label,
      data.byteLength,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    );
    created.push(buffer);
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  try {
    const buffers = await checked(device, "upload the wgsl layer's weights", () => ({
      experts: upload("experts", packed.experts),
      bias: packed.bias && upload("bias", packed.bias),
      routingParams: packed.routingParams && upload("routing params", packed.routingParams),
    }));
    return new WgslCondConv(handle, spec, buffers);
  } catch (error) {
    for (const b of created) destroyBuffer(b);
    releaseDevice(handle);
    throw error;
  }
}

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

/** The `wgsl` adapter: raw WebGPU compute with the hand-written shaders of this folder. */
export const wgslAdapter: WgslAdapter = {
  id: "wgsl",
  description: "raw WebGPU, hand-written WGSL: tiled GEMM (1x1), tile+halo depthwise, " +
    "implicit-im2col GEMM (general); one command buffer per run",
  toleranceClass: "webgpu",
  availability,
  prepare,
  resourceCounts() {
    return {
      gpuBuffers: liveBuffers.size,
      gpuQuerySets: liveQuerySets.size,
      gpuDevices: openDevices.size,
    };
  },
};

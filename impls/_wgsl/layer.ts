/**
 * {@link WgslCondConv}: a CondConv layer prepared by the `wgsl` adapter, its shapes' GPU state
 * cached, its runs serialised, each run one command buffer.
 * @module
 */
import type { CondConvSpec, Tensor } from "../../condconv/spec.ts";
import { checkRunInputs, type Geometry, resolveGeometry } from "../../condconv/geometry.ts";
import type { PreparedCondConv } from "../adapter.ts";
import {
  destroyBuffer,
  type DeviceHandle,
  explainFailure,
  lostError,
  releaseDevice,
  untilLost,
} from "./device.ts";
import { type ConvPath, type LayerPlan, planLayer } from "./plan.ts";
import {
  buildShape,
  destroyShape,
  type ShapeState,
  type StageName,
  type WeightBuffers,
} from "./shape.ts";

/** The backend string of this adapter. */
export const WGSL_BACKEND = "webgpu:wgsl";

/** Input shapes whose buffers and bind groups a layer keeps at once; older ones are destroyed. */
export const SHAPE_CACHE_SIZE = 4;

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

  /** Use the adapter's prepare; this wraps buffers it already uploaded. */
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
      destroyBuffer(this.#weights.bias);
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
    return planLayer(this.#spec, g, this.#handle.device.limits);
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

  /** Reads the output, and the stage times when measured, from the mapped staging buffer. */
  #readBack(state: ShapeState, g: Geometry): Tensor {
    const range = state.staging.getMappedRange();
    const data = new Float32Array(range.slice(0, state.outputBytes));
    if (state.querySet) {
      const count = 2 * state.dispatches.length;
      const stamps = new BigUint64Array(range, state.timestampOffset, count);
      const stages: Partial<Record<StageName, number>> = {};
      state.dispatches.forEach((d, n) => {
        stages[d.name] = Number(stamps[2 * n + 1] - stamps[2 * n]) / 1e6;
      });
      this.lastGpuTimeMs = Number(stamps[count - 1] - stamps[0]) / 1e6;
      this.lastGpuStageMs = stages;
    }
    return { shape: [g.batch, g.outChannels, g.outHeight, g.outWidth], data };
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
      const { staging } = state;
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
        return this.#readBack(state, g);
      } finally {
        staging.unmap();
      }
    } catch (error) {
      throw await explainFailure(handle, error);
    }
  }
}

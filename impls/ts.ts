/**
 * `ts`: CondConv in optimised TypeScript on the CPU, float32 storage with float64 arithmetic.
 *
 * Per example the expert kernels are mixed once (`E x |W|` multiply-adds), then one
 * convolution runs with the mixed kernel: a blocked GEMM for 1x1 layers, a direct loop with
 * the taps in registers for depthwise layers, im2col plus the same GEMM for everything else
 * (groups, strides, dilations, every padding mode, TensorFlow's asymmetric "same"). See
 * `_ts/plan.ts` for the plan and the paths, `_ts/slice.ts` for one thread's compute over the
 * kernels (`_ts/mixing.ts`, `_ts/gemm.ts`, `_ts/depthwise.ts`, `_ts/im2col.ts`), and
 * `_ts/team.ts` and `_ts/worker.ts` for the workers.
 *
 * Threads: `workers: n` compute threads. `1` runs everything on the calling thread, with no
 * worker and no shared memory. Above 1 the layer starts `n` module workers in `prepare`, shares
 * its tensors with them through `SharedArrayBuffer`s, wakes them with `Atomics.notify` and
 * awaits the job with `Atomics.waitAsync` (or, with `completion: "message"`, a message from
 * the last worker); `dispose` terminates them. That needs `Worker` and `SharedArrayBuffer`
 * (in a browser, a cross-origin isolated page); `availability()` says which is missing, and
 * the adapter is then unavailable rather than silently single-threaded.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import { checkRunInputs, staticConvSpec } from "../condconv/geometry.ts";
import type { Availability, CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import { defineAdapter } from "./_contract.ts";
import { makePlan, type TsBuffers, type TsPlan } from "./_ts/plan.ts";
import { TsSerialSchedule } from "./_ts/schedule.ts";
import { TsSlice } from "./_ts/slice.ts";
import { TS_COMPLETION } from "./_ts/protocol.ts";
import { type TsCompletion, type WorkerCounter, WorkerTeam } from "./_ts/team.ts";

/** The backend every `ts` layer reports. */
export const TS_BACKEND = "typescript:float32";

/** Options of `createTsAdapter`. */
export interface TsAdapterOptions {
  /**
   * Compute threads: `1` runs on the calling thread without workers; more starts that many
   * workers per prepared layer. Default: `navigator.hardwareConcurrency` (1 where unknown).
   */
  workers?: number;
  /** Adapter id; default `"ts"`, or `"ts-<n>w"` when `workers` is given. */
  id?: string;
  /**
   * How the main thread learns that the workers finished a job: `"atomics"`
   * (`Atomics.waitAsync`) or `"message"` (a `postMessage` from the last worker). Default:
   * `"atomics"` where `Atomics.waitAsync` exists, else `"message"`.
   */
  completion?: TsCompletion;
  /**
   * The worker module's URL. Default: `./_ts/worker.ts` beside this file (Deno, or any loader
   * that serves this folder's TypeScript). A bundled page passes its own bundle of it.
   */
  workerUrl?: string | URL;
}

/** See `TsAdapterOptions.completion`. */
export type { TsCompletion };

/** A `ts` adapter: its worker count and a live-worker count for leak checks. */
export interface TsAdapter extends CondConvAdapter {
  /** compute threads per prepared layer */
  readonly workers: number;
  /** `{ workers }`: workers started and not yet terminated, over all this adapter's layers */
  resourceCounts(): { workers: number };
}

/** `navigator.hardwareConcurrency`, or 1 where the runtime does not say. */
export function defaultWorkerCount(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof n === "number" && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Why workers cannot run here with `completion`, or `undefined` when they can. */
function workersUnavailable(completion: TsCompletion): string | undefined {
  if (typeof Worker !== "function") return "this runtime has no Worker";
  if (typeof SharedArrayBuffer !== "function") {
    return "SharedArrayBuffer is unavailable (a browser page must be cross-origin isolated)";
  }
  if (completion === "atomics" && typeof Atomics.waitAsync !== "function") {
    return 'Atomics.waitAsync is unavailable (use completion: "message")';
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (isolated === false) return "the page is not cross-origin isolated";
  return undefined;
}

function floats(length: number, shared: boolean): Float32Array {
  return shared ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
}

function doubles(length: number, shared: boolean): Float64Array {
  return shared ? new Float64Array(new SharedArrayBuffer(length * 8)) : new Float64Array(length);
}

function sharedCopy(data: Float32Array): Float32Array {
  const copy = floats(data.length, true);
  copy.set(data);
  return copy;
}

/** Private buffers (workers: 1) or shared ones, for one plan. */
function makeBuffers(
  plan: TsPlan,
  weights: CondConvWeights,
  shared: boolean,
): TsBuffers {
  const { batchCapacity: cap, inChannels: C, inHeight: H, inWidth: W } = plan;
  return {
    expertKernels: weights.expertKernels,
    bias: weights.bias,
    routingWeight: weights.routingWeight,
    routingBias: weights.routingBias,
    // workers: 1 reads the caller's input and writes a fresh output instead
    input: shared ? floats(cap * C * H * W, true) : new Float32Array(0),
    supplied: plan.routing === "supplied" && shared
      ? floats(cap * plan.numExperts, true)
      : undefined,
    packed: plan.path === "pointwise" ? floats(cap * plan.columnTiles * C * 4, shared) : undefined,
    pooled: plan.routing !== "supplied" ? doubles(cap * C, shared) : undefined,
    output: shared
      ? floats(cap * plan.outChannels * plan.outHeight * plan.outWidth, true)
      : new Float32Array(0),
  };
}

class TsCondConv implements PreparedCondConv {
  readonly backend = TS_BACKEND;
  #spec: CondConvSpec;
  #weights: CondConvWeights;
  #team?: WorkerTeam;
  #plan?: TsPlan;
  #buffers?: TsBuffers;
  #slice?: TsSlice;
  #schedule = new TsSerialSchedule();
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(spec: CondConvSpec, weights: CondConvWeights, team?: WorkerTeam) {
    this.#spec = spec;
    this.#weights = weights;
    this.#team = team;
  }

  run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    const job = this.#queue.then(() => this.#run(input, routingWeights));
    this.#queue = job.catch(() => {});
    return job;
  }

  async #run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    if (this.#disposed) throw new TypeError("Cannot run the ts layer: it was disposed");
    const g = checkRunInputs(this.#spec, input, routingWeights);
    const shape = [g.batch, g.outChannels, g.outHeight, g.outWidth];
    const size = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const team = this.#team;
    let plan = this.#plan;
    if (
      !plan || plan.inHeight !== g.inHeight || plan.inWidth !== g.inWidth ||
      plan.batchCapacity < g.batch
    ) {
      plan = makePlan(this.#spec, g, Math.max(g.batch, plan?.batchCapacity ?? 0));
      this.#buffers = makeBuffers(plan, this.#weights, team !== undefined);
      if (team) {
        this.#slice = undefined;
        await team.configure(plan, this.#buffers);
      } else {
        this.#slice = new TsSlice(plan, this.#buffers);
      }
      this.#plan = plan;
    }
    const buffers = this.#buffers!;
    if (!team) {
      const output = new Float32Array(size);
      buffers.input = input.data;
      buffers.supplied = routingWeights;
      buffers.output = output;
      try {
        this.#schedule.reset();
        this.#slice!.run(g.batch, this.#schedule);
      } finally {
        buffers.input = buffers.output = new Float32Array(0);
        buffers.supplied = undefined;
      }
      return { shape, data: output };
    }
    buffers.input.set(input.data);
    if (routingWeights) buffers.supplied!.set(routingWeights);
    let output = new Float32Array(0);
    await team.run(g.batch, () => {
      // A fresh array's pages fault in on first write (about 2 ms for 3 MB): touch them while
      // the workers compute, so that the copy below is a plain memcpy.
      output = new Float32Array(size);
      for (let i = 0; i < size; i += 1024) output[i] = 0;
    });
    output.set(size === buffers.output.length ? buffers.output : buffers.output.subarray(0, size));
    return { shape, data: output };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue;
    this.#team?.close();
    this.#team = undefined;
    this.#slice = undefined;
    this.#buffers = undefined;
  }
}

/**
 * A `ts` adapter with its own worker count (workers start only when a layer is prepared).
 *
 * @example Two compute threads
 * ```ts
 * import { createTsAdapter } from "./ts.ts";
 * const adapter = createTsAdapter({ workers: 2 });
 * if (adapter.id !== "ts-2w" || adapter.workers !== 2) throw new Error("unexpected adapter");
 * ```
 */
export function createTsAdapter(options: TsAdapterOptions = {}): TsAdapter {
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`Create the ts adapter with a whole number of workers: got "${workers}"`);
  }
  const counter: WorkerCounter = { live: 0 };
  const completion: TsCompletion = options.completion ??
    (typeof Atomics.waitAsync === "function" ? "atomics" : "message");
  if (!(completion in TS_COMPLETION)) {
    throw new RangeError(
      `Create the ts adapter with completion "atomics" or "message": got "${completion}"`,
    );
  }
  const id = options.id ?? (options.workers === undefined ? "ts" : `ts-${workers}w`);
  const threads = workers === 1 ? "the calling thread" : `${workers} workers`;
  const prepareLayer = async (
    spec: CondConvSpec,
    weights: CondConvWeights,
  ): Promise<TsCondConv> => {
    // defineAdapter has parsed the spec, checked the weights and copied them; workers need
    // them in shared memory
    const shared = workers > 1;
    if (!shared) return new TsCondConv(spec, weights);
    const reason = workersUnavailable(completion);
    if (reason) throw new TypeError(`Cannot prepare the ts layer on ${threads}: ${reason}`);
    const copies: CondConvWeights = { expertKernels: sharedCopy(weights.expertKernels) };
    if (weights.bias) copies.bias = sharedCopy(weights.bias);
    if (weights.routingWeight) copies.routingWeight = sharedCopy(weights.routingWeight);
    if (weights.routingBias) copies.routingBias = sharedCopy(weights.routingBias);
    const team = await WorkerTeam.start(workers, counter, completion, options.workerUrl);
    return new TsCondConv(spec, copies, team);
  };
  return defineAdapter({
    id,
    description: `optimised TypeScript, float32, mixed kernels, GEMM/direct convolution on ` +
      threads,
    toleranceClass: "cpu",
    workers,
    availability(): Promise<Availability> {
      const reason = workers > 1 ? workersUnavailable(completion) : undefined;
      if (reason) {
        return Promise.resolve({ available: false, reason: `${workers} workers: ${reason}` });
      }
      return Promise.resolve({
        available: true,
        backend: TS_BACKEND,
        info: {
          workers,
          threads,
          arithmetic: "float32 storage, float64 accumulation",
          sync: workers > 1
            ? `SharedArrayBuffer, Atomics.wait/notify; completion by ${
              completion === "atomics" ? "Atomics.waitAsync" : "postMessage"
            }`
            : "none",
        },
      });
    },
    prepare: prepareLayer,
    async prepareStatic(spec: CondConvSpec, kernel: Float32Array, bias?: Float32Array) {
      const staticSpec = staticConvSpec(spec);
      const layer = await prepareLayer(
        staticSpec,
        bias ? { expertKernels: kernel, bias } : { expertKernels: kernel },
      );
      let ones = new Float32Array(0);
      return {
        backend: layer.backend,
        run: (input: Tensor) => {
          const batch = input.shape[0] ?? 0;
          if (ones.length !== batch) ones = new Float32Array(batch).fill(1);
          return layer.run(input, ones);
        },
        dispose: () => layer.dispose(),
      };
    },
    resourceCounts: () => ({ workers: counter.live }),
  });
}

/** The registered `ts` adapter: `navigator.hardwareConcurrency` workers. */
export const tsAdapter: TsAdapter = createTsAdapter();

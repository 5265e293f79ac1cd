/**
 * `wasm`: CondConv in WebAssembly with SIMD128, relaxed SIMD's fused multiply-add and threads,
 * written in AssemblyScript (`impls/_wasm/assembly/condconv.ts`, built into
 * `impls/_wasm/condconv.wasm` by `deno task build:wasm`).
 *
 * Each prepared layer owns one shared `WebAssembly.Memory` holding its weights (copied),
 * its buffers, a plan and the control words, and computes on `navigator.hardwareConcurrency`
 * threads: that many minus one module workers that instantiate the kernels on that memory,
 * and the thread that calls `run`, with its own instance on the same memory. A run copies the
 * input in, wakes the workers through `Atomics.notify`, computes its own part of the job
 * (`_wasm/job.ts`), awaits the rest with `Atomics.waitAsync` (or a message where that is
 * missing) and copies the output out. The calling thread computing too saves a worker's
 * wake-up on the way in and the main thread's on the way out, which small layers at batch 1
 * feel most. Kernels: see the AssemblyScript module's doc.
 *
 * The `.wasm` is loaded with `fetch(new URL("./_wasm/condconv.wasm", import.meta.url))`: in
 * Deno that reads a `file:` URL (read permission on the project), in a browser page it is an
 * ordinary request. Threads need `Worker`, `SharedArrayBuffer` and a shared
 * `WebAssembly.Memory` (in a browser, a cross-origin isolated page); `availability()` says
 * which is missing: the adapter never falls back to a single thread silently.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import { checkRunInputs, type Geometry, staticConvSpec } from "../condconv/geometry.ts";
import type { Availability, CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import { defineAdapter } from "./_contract.ts";
import { jobUnits, makePlan, type Plan, weightLayout } from "./_wasm/plan.ts";
import * as L from "./_wasm/layout.ts";
import { ctrlWords } from "./_wasm/protocol.ts";
import type { Kernels } from "./_wasm/job.ts";
import { WasmTeam, type WorkerCounter } from "./_wasm/team.ts";

/** The backend every `wasm` layer reports. */
export const WASM_BACKEND = "wasm:simd128+threads";

/** 64 KiB pages the module may grow to (2 GiB; the module declares the same maximum). */
const MAX_PAGES = 32768;
const PAGE = 65536;

/** Options of `createWasmAdapter`. */
export interface WasmAdapterOptions {
  /**
   * threads computing each prepared layer: the calling thread and `threads - 1` workers;
   * default `navigator.hardwareConcurrency` (1 where unknown)
   */
  threads?: number;
  /** adapter id; default `"wasm"`, or `"wasm-<n>t"` when `threads` is given */
  id?: string;
  /**
   * The worker module's URL. Default: `./_wasm/worker.ts` beside this file (Deno, or any loader
   * that serves this folder's TypeScript). A bundled page passes its own bundle of it.
   */
  workerUrl?: string | URL;
  /** Where the kernels are. Default: `./_wasm/condconv.wasm` beside this file. */
  moduleUrl?: string | URL;
}

/** A `wasm` adapter: its thread count and live resources for leak checks. */
export interface WasmAdapter extends CondConvAdapter {
  /** threads per layer, the calling thread included */
  readonly threads: number;
  /** workers started and not terminated; memories allocated and not released */
  resourceCounts(): { workers: number; memories: number };
}

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** The compiled kernels at `url` (fetched and compiled once per realm and URL). */
export function wasmModule(
  url: string | URL = new URL("./_wasm/condconv.wasm", import.meta.url),
): Promise<WebAssembly.Module> {
  const key = String(url);
  let module = compiled.get(key);
  if (!module) {
    module = (async () => {
      const response = await fetch(url);
      if (!response.ok) {
        throw new Error(`Cannot load the kernels "${key}": HTTP ${response.status}`);
      }
      return WebAssembly.compile(await response.arrayBuffer());
    })();
    compiled.set(key, module);
    module.catch(() => compiled.delete(key));
  }
  return module;
}

function hardwareConcurrency(): number {
  const n = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency;
  return typeof n === "number" && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** Why the threads cannot run here, or `undefined` when they can. */
function threadsUnavailable(): string | undefined {
  if (typeof WebAssembly !== "object") return "this runtime has no WebAssembly";
  if (typeof Worker !== "function") return "this runtime has no Worker";
  if (typeof SharedArrayBuffer !== "function") {
    return "SharedArrayBuffer is unavailable (a browser page must be cross-origin isolated)";
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (isolated === false) return "the page is not cross-origin isolated";
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch (error) {
    return `a shared WebAssembly.Memory cannot be made: ${error}`;
  }
  return undefined;
}

/** A plan placed in memory, with the geometry it was made for. */
interface Placed {
  plan: Plan;
  at: number;
  g: Geometry;
  capacity: number;
}

/** What a prepared layer is made of. */
interface LayerParts {
  spec: CondConvSpec;
  memory: WebAssembly.Memory;
  team: WasmTeam;
  /** where the weights lie in `memory` */
  weights: ReturnType<typeof weightLayout>;
  /** byte offset of the plan words */
  planAt: number;
  /** called once by `dispose` */
  release: () => void;
  /** a plain convolution: one expert whose routing weight the layer sets to 1 */
  plain: boolean;
}

class WasmCondConv implements PreparedCondConv {
  readonly backend = WASM_BACKEND;
  #parts: LayerParts;
  #team?: WasmTeam;
  /** the spec run inputs are checked against: a plain convolution takes no routing weights */
  #inputSpec: CondConvSpec;
  #placed?: Placed;
  /** the last job: runs are serialised, each after the one before has settled */
  #last: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(parts: LayerParts) {
    this.#parts = parts;
    this.#team = parts.team;
    this.#inputSpec = parts.plain ? { ...parts.spec, routing: { kind: "sigmoid" } } : parts.spec;
  }

  run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    const job = this.#last.then(() => this.#run(input, routingWeights));
    this.#last = job.then(() => undefined, () => undefined);
    return job;
  }

  #place(g: Geometry): Placed {
    const old = this.#placed;
    if (
      old && old.g.inHeight === g.inHeight && old.g.inWidth === g.inWidth && old.capacity >= g.batch
    ) {
      return old;
    }
    const capacity = Math.max(g.batch, old?.capacity ?? 0);
    const plan = makePlan(
      this.#parts.spec,
      g,
      capacity,
      this.#team!.threads,
      this.#parts.weights,
      this.#parts.weights.end,
    );
    const pages = Math.ceil(plan.end / PAGE);
    const have = this.#parts.memory.buffer.byteLength / PAGE;
    if (pages > MAX_PAGES) {
      throw new RangeError(
        `Cannot run the wasm layer on input [${g.batch}, ${g.inChannels}, ${g.inHeight}, ` +
          `${g.inWidth}]: it needs ${plan.end} bytes, more than the 2 GiB memory`,
      );
    }
    if (pages > have) this.#parts.memory.grow(pages - have);
    const buffer = this.#parts.memory.buffer;
    new Int32Array(buffer, plan.words[L.P_ROWMAP_PTR], plan.rowMap.length).set(plan.rowMap);
    new Int32Array(buffer, plan.words[L.P_COLMAP_PTR], plan.colMap.length).set(plan.colMap);
    this.#placed = { plan, at: this.#parts.planAt, g, capacity };
    return this.#placed;
  }

  async #run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    if (this.#disposed) throw new TypeError("Cannot run the wasm layer: it was disposed");
    const g = checkRunInputs(this.#inputSpec, input, routingWeights);
    const placed = this.#place(g);
    const words = placed.plan.words;
    words[L.P_BATCH] = g.batch;
    const [one, two] = jobUnits(words, g.batch);
    words[L.P_UNITS] = two;
    const buffer = this.#parts.memory.buffer;
    new Int32Array(buffer, placed.at, L.PLAN_WORDS).set(words);
    new Float32Array(buffer, words[L.P_INPUT_PTR], input.data.length).set(input.data);
    if (this.#parts.plain) new Float32Array(buffer, words[L.P_SUPPLIED_PTR], g.batch).fill(1);
    else if (routingWeights) {
      new Float32Array(buffer, words[L.P_SUPPLIED_PTR], routingWeights.length).set(routingWeights);
    }
    await this.#team!.run(placed.at, one, two);
    const size = g.batch * g.outChannels * g.outHeight * g.outWidth;
    const data = new Float32Array(size);
    data.set(new Float32Array(this.#parts.memory.buffer, words[L.P_OUTPUT_PTR], size));
    return { shape: [g.batch, g.outChannels, g.outHeight, g.outWidth], data };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#last;
    this.#team?.close();
    this.#team = undefined;
    this.#placed = undefined;
    this.#parts.release();
  }
}

/**
 * A `wasm` adapter with its own thread count (workers start when a layer is prepared).
 *
 * @example Two threads per layer: the caller's and one worker
 * ```ts
 * import { createWasmAdapter } from "./wasm.ts";
 * const adapter = createWasmAdapter({ threads: 2 });
 * if (adapter.id !== "wasm-2t" || adapter.threads !== 2) throw new Error("unexpected adapter");
 * ```
 */
export function createWasmAdapter(options: WasmAdapterOptions = {}): WasmAdapter {
  const threads = options.threads ?? hardwareConcurrency();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Create the wasm adapter with a whole number of threads: got "${threads}"`,
    );
  }
  const id = options.id ?? (options.threads === undefined ? "wasm" : `wasm-${threads}t`);
  const counter: WorkerCounter = { live: 0 };
  let memories = 0;
  const completion = typeof Atomics.waitAsync === "function" ? "atomics" : "message";

  const prepareLayer = async (spec: CondConvSpec, weights: CondConvWeights, plain = false) => {
    // defineAdapter has parsed the spec and checked the weights; they are copied into the
    // layer's memory below
    const reason = threadsUnavailable();
    if (reason) throw new TypeError(`Cannot prepare the wasm layer: ${reason}`);
    const module = await wasmModule(options.moduleUrl);
    const base = (await WebAssembly.instantiate(module, {
      env: { memory: new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }) },
    })).exports.heapBase as () => number;
    const ctrlAt = Math.ceil(base() / 64) * 64;
    const planAt = ctrlAt + 4 * ctrlWords(threads);
    const layout = weightLayout(planAt + 4 * L.PLAN_WORDS, {
      expertKernels: weights.expertKernels.length,
      bias: weights.bias?.length ?? 0,
      routingWeight: weights.routingWeight?.length ?? 0,
      routingBias: weights.routingBias?.length ?? 0,
    });
    const memory = new WebAssembly.Memory({
      initial: Math.max(1, Math.ceil(layout.end / PAGE)),
      maximum: MAX_PAGES,
      shared: true,
    });
    const buffer = memory.buffer;
    // the weights are copied: the caller may reuse its arrays
    new Float32Array(buffer, layout.experts, weights.expertKernels.length).set(
      weights.expertKernels,
    );
    if (weights.bias) new Float32Array(buffer, layout.bias, weights.bias.length).set(weights.bias);
    if (weights.routingWeight) {
      new Float32Array(buffer, layout.routingWeight, weights.routingWeight.length)
        .set(weights.routingWeight);
    }
    if (weights.routingBias) {
      new Float32Array(buffer, layout.routingBias, weights.routingBias.length)
        .set(weights.routingBias);
    }
    memories++;
    let team: WasmTeam;
    try {
      const own = await WebAssembly.instantiate(module, { env: { memory } });
      team = await WasmTeam.start(
        threads,
        counter,
        module,
        memory,
        own.exports as unknown as Kernels,
        ctrlAt,
        completion,
        options.workerUrl,
      );
    } catch (error) {
      memories--;
      throw error;
    }
    return new WasmCondConv({
      spec,
      memory,
      team,
      weights: layout,
      planAt,
      release: () => memories--,
      plain,
    });
  };

  return defineAdapter({
    id,
    description: `WebAssembly SIMD128 and relaxed-SIMD FMA (AssemblyScript), mixed kernels ` +
      `packed for a 4x8 micro-kernel, ${threads} thread${threads === 1 ? "" : "s"} ` +
      `(the caller and ${threads - 1} worker${threads === 2 ? "" : "s"}) on one shared memory`,
    toleranceClass: "wasm",
    threads,
    async availability(): Promise<Availability> {
      const reason = threadsUnavailable();
      if (reason) return { available: false, reason };
      try {
        await wasmModule(options.moduleUrl);
      } catch (error) {
        return { available: false, reason: `the kernels do not load: ${error}` };
      }
      return {
        available: true,
        backend: WASM_BACKEND,
        info: {
          threads,
          workers: `${threads - 1} (the calling thread computes too)`,
          arithmetic: "float32 (SIMD128, relaxed-SIMD fused multiply-add), float64 channel " +
            "means and routing",
          microKernel: `${L.MR}x${L.NR}`,
          completion: completion === "atomics" ? "Atomics.waitAsync" : "postMessage",
        },
      };
    },
    prepare: prepareLayer,
    prepareStatic(spec: CondConvSpec, kernel: Float32Array, bias?: Float32Array) {
      // one expert whose routing weight the layer itself sets to 1 at every run
      const weights = bias ? { expertKernels: kernel, bias } : { expertKernels: kernel };
      return prepareLayer(staticConvSpec(spec), weights, true);
    },
    resourceCounts: () => ({ workers: counter.live, memories }),
  });
}

/** The registered `wasm` adapter: `navigator.hardwareConcurrency` threads per layer. */
export const wasmAdapter: WasmAdapter = createWasmAdapter();

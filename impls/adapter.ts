/**
 * The adapter interface: one CondConv implementation on one backend.
 *
 * Adapters are plain records (like tfjs's kernel configs), one per file in `impls/`, listed
 * by hand in `impls/registry.ts`. They use web APIs only, never `Deno.*`, so the same files
 * run in a browser page.
 *
 * Every record goes through `defineAdapter` (`_contract.ts`: applied by the adapter's file,
 * and by the registry to every adapter it lists), which holds every adapter to the same
 * rules, so that no engine can forget one:
 * - `prepare` and `prepareStatic` accept exactly what `CondConvSpec.parse` accepts (defaults
 *   filled, cross-field rules checked) and weights `checkWeights` accepts; anything else is a
 *   `TypeError` naming the field, before the engine sees it;
 * - `prepare` owns what it keeps: it copies the spec and every weight array, so changing the
 *   caller's objects afterwards has no effect on any later run (a new batch or input size
 *   included). `run` reads its input and routing weights until its promise settles: change
 *   them only after;
 * - after `dispose`, `run` rejects with a `TypeError` on every adapter.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import type { ToleranceClass } from "../condconv/tolerance.ts";
import type { GpuSummary } from "./_webgpu.ts";

export type { GpuSummary, ToleranceClass };

/** Whether an adapter can run here; when it cannot, the reason, never a fallback. */
export type Availability =
  | {
    available: true;
    /** the backend that will really run, e.g. `"tfjs:webgpu"` */
    backend: string;
    /** versions, thread counts, formulations: recorded with every result */
    info: Record<string, unknown>;
    /** for a WebGPU adapter: the GPU adapter it runs on (see `impls/_webgpu.ts`) */
    gpu?: GpuSummary;
  }
  | { available: false; reason: string };

/** A CondConv layer prepared on a backend: weights uploaded, kernels compiled. */
export interface PreparedCondConv {
  /** the backend that actually ran, checked after prepare (no silent fallback) */
  readonly backend: string;
  /**
   * Runs the layer on an NCHW input. `routingWeights` `(B, E)` is required exactly when
   * the spec's routing is `"supplied"`. Resolves once the output is read back to the CPU.
   */
  run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor>;
  /** Releases everything prepare and run allocated. */
  dispose(): Promise<void>;
  /**
   * GPU time of the last run in milliseconds, from timestamp queries, where the device
   * offers them; `undefined` or `null` elsewhere.
   */
  readonly lastGpuTimeMs?: number | null;
  /**
   * What this layer changed, in words, to avoid a library bug (one entry per kind, e.g. a
   * Conv built with zero-padded channels), in the models built so far (a model may be built
   * by the first run of each input size); empty where none was needed. Result rows record it,
   * so that a pass that a workaround made is never read as the library's own.
   */
  readonly workarounds?: readonly string[];
}

/** One CondConv implementation on one backend. */
export interface CondConvAdapter {
  /** stable id used by `--adapter`, e.g. `"tfjs-webgpu"` */
  readonly id: string;
  readonly description: string;
  readonly toleranceClass: ToleranceClass;
  /** Says whether this adapter can run here and, if not, why. Never throws. */
  availability(): Promise<Availability>;
  /** Validates and uploads one layer's weights; the result is reused for many runs. */
  prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<PreparedCondConv>;
  /**
   * Optional: a plain convolution of the same shape on the same backend, with one kernel
   * `(O, C/groups, kh, kw)` and an optional bias `(O)`: no routing, no mixing. The benchmark
   * measures CondConv's overhead against it. The prepared layer's `run(input)` takes no
   * routing weights. An adapter without it has its overhead reported as not measured.
   */
  prepareStatic?(
    spec: CondConvSpec,
    kernel: Float32Array,
    bias?: Float32Array,
  ): Promise<PreparedCondConv>;
  /**
   * Counts of live backend resources (tensors, GPU buffers, sessions, workers), for leak
   * tests: equal counts before prepare and after dispose, flat across runs.
   */
  resourceCounts?(): Record<string, number>;
  /**
   * Optional: the same adapter with its workarounds of library bugs turned off, to show a raw
   * bug (conform and bench `--no-workarounds`, under the known-failure rules that then
   * apply). Only an adapter that changes its work to avoid a library bug has it.
   */
  withoutWorkarounds?(): CondConvAdapter;
}

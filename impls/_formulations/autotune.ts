/**
 * The opt-in autotuning of a framework adapter (`adapter.prepareAutotuned(spec, weights)`):
 * every formulation that can compute the layer is prepared; the first run of each input
 * geometry (batch, height, width) runs each once to warm it, then once more timed, and keeps
 * the fastest for that geometry; later runs of it take that one only. Each candidate passes
 * the adapter's conformance on the goldens (`deno task conform`), so they compute the same
 * layer; the choice is by speed alone, on this device, at this moment. Runtime-neutral.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import type { PreparedCondConv } from "../adapter.ts";

/** A prepared layer in one formulation. */
type Candidate = PreparedCondConv & { readonly formulation?: string };

/** A layer that picks its fastest formulation per input geometry, by measuring. */
export class AutotunedLayer implements PreparedCondConv {
  readonly backend: string;
  readonly #candidates: Map<string, Candidate>;
  /** geometry key -> chosen formulation, with every candidate's timed run in ms */
  readonly #chosen = new Map<string, { formulation: string; timesMs: Record<string, number> }>();
  /** the tuning of each geometry in progress, so that overlapping first runs tune it once */
  readonly #tuning = new Map<string, Promise<unknown>>();
  #last: string;
  #disposed = false;

  /** `candidates`: each formulation's prepared layer, all on one backend. */
  constructor(candidates: Map<string, Candidate>) {
    const first = candidates.values().next().value;
    if (first === undefined) {
      throw new RangeError("Cannot autotune: no formulation computes this layer");
    }
    this.backend = first.backend;
    this.#candidates = candidates;
    this.#last = candidates.keys().next().value!;
  }

  /** The formulation of the last run (before any run, the first candidate). */
  get formulation(): string {
    return this.#last;
  }

  /** What each tuned geometry (`"BxCxHxW"`) chose, and every candidate's timed run. */
  get choices(): ReadonlyMap<string, { formulation: string; timesMs: Record<string, number> }> {
    return this.#chosen;
  }

  /** The workarounds of every candidate's models so far. */
  get workarounds(): readonly string[] {
    return [...new Set([...this.#candidates.values()].flatMap((c) => c.workarounds ?? []))];
  }

  async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    if (this.#disposed) throw new TypeError("Cannot run: the layer was disposed");
    if (!Array.isArray(input?.shape)) {
      throw new TypeError("Cannot run: input.shape must be an array of 4 dimensions");
    }
    const key = input.shape.join("x");
    const pending = this.#tuning.get(key); // checked before any await: one tuning per geometry
    if (pending) await pending;
    const chosen = this.#chosen.get(key);
    if (chosen) {
      this.#last = chosen.formulation;
      return await this.#candidates.get(chosen.formulation)!.run(input, routingWeights);
    }
    const tuning = this.#tune(key, input, routingWeights);
    this.#tuning.set(key, tuning.catch(() => {}));
    try {
      return await tuning;
    } finally {
      this.#tuning.delete(key);
    }
  }

  /** Runs every candidate on `input`, warm then timed, and keeps the fastest for `key`. */
  async #tune(key: string, input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    let best: { formulation: string; ms: number; output: Tensor } | undefined;
    const timesMs: Record<string, number> = {};
    for (const [formulation, layer] of this.#candidates) {
      await layer.run(input, routingWeights); // warm: sessions, shaders, packed weights
      const t0 = performance.now();
      const output = await layer.run(input, routingWeights);
      const ms = performance.now() - t0;
      timesMs[formulation] = ms;
      if (best === undefined || ms < best.ms) best = { formulation, ms, output };
    }
    this.#chosen.set(key, { formulation: best!.formulation, timesMs });
    this.#last = best!.formulation;
    return best!.output;
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    for (const layer of this.#candidates.values()) await layer.dispose();
    this.#candidates.clear();
  }
}

/**
 * Prepares `prepare(f)` for every formulation `f` of `formulations` that `problem` allows,
 * as one autotuned layer; a candidate that fails to prepare disposes the ones before it.
 */
export async function prepareAutotuned(
  formulations: readonly string[],
  problem: (formulation: string) => string | undefined,
  prepare: (formulation: string) => Promise<Candidate>,
): Promise<AutotunedLayer> {
  const candidates = new Map<string, Candidate>();
  try {
    for (const f of formulations) {
      if (problem(f) === undefined) candidates.set(f, await prepare(f));
    }
    return new AutotunedLayer(candidates);
  } catch (error) {
    for (const layer of candidates.values()) await layer.dispose().catch(() => {});
    throw error;
  }
}

/**
 * The formulation members of a framework adapter (`TfjsAdapter`, `OrtAdapter`), which
 * autotuning and `bench --formulations` use.
 */
export interface FormulationAxis {
  readonly formulations: readonly string[];
  formulationProblem(spec: CondConvSpec, formulation: string): string | undefined;
  /** `options.formulation`: a name of `formulations` that `formulationProblem` allows */
  prepareWith(
    spec: CondConvSpec,
    weights: CondConvWeights,
    options: { formulation: never },
  ): Promise<Candidate>;
}

/**
 * `adapter.prepareAutotuned(spec, weights)`: every formulation `axis` can compute the layer in,
 * each prepared through `axis.prepareWith` (so held to the adapter contract), from one copy of
 * the caller's spec and weights taken before the first await.
 */
export async function autotune(
  axis: FormulationAxis,
  spec: CondConvSpec,
  weights: CondConvWeights,
): Promise<AutotunedLayer> {
  const ownSpec = structuredClone(spec);
  const own: CondConvWeights = { expertKernels: weights.expertKernels?.slice() };
  if (weights.bias) own.bias = weights.bias.slice();
  if (weights.routingWeight) own.routingWeight = weights.routingWeight.slice();
  if (weights.routingBias) own.routingBias = weights.routingBias.slice();
  return await prepareAutotuned(
    axis.formulations,
    (f) => axis.formulationProblem(ownSpec, f),
    (f) => axis.prepareWith(ownSpec, own, { formulation: f as never }),
  );
}

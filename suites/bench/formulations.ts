/**
 * `deno task bench --formulations`: every formulation of a framework adapter (tfjs, ort) on
 * one case, each checked by the one verify path and then timed interleaved with the others:
 * round after round, each formulation runs once per round, so that a change in the machine's
 * load during the measurement reaches every formulation alike (mitata would time them one
 * after the other). A formulation other than the default whose first (checked) run took more
 * than `SCREEN_FACTOR` times the fastest first run and at least `SCREEN_MIN_MS` is not timed
 * warm (`screened`); one whose warm median is past `DROP_FACTOR` times the best after
 * `MIN_SAMPLES_FLOOR` samples stops early. Both are far from being anyone's choice, and
 * timing them fully would take most of the run; a first run shorter than `SCREEN_MIN_MS` is
 * cheap to time again, and may be slow only from compiling (JIT, shaders).
 * @module
 */
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import type { FormulationAxis } from "../../impls/_formulations/autotune.ts";
import type { Tensor } from "../../condconv/spec.ts";
import { formulationCell } from "../../condconv/formulation.ts";
import { flops } from "../../condconv/geometry.ts";
import { messageOf, withTimeout } from "../_shared/calls.ts";
import { verify } from "../_shared/verify.ts";
import type { BenchResult, FormulationTiming } from "../results/bench.ts";
import type { LoadedBenchCase } from "./load.ts";
import { timingStats } from "./rows.ts";
import { MIN_SAMPLES_FLOOR } from "./limits.ts";

/** How long to time (`measure.ts`'s `TimingOptions`, which imports this module). */
export interface FormulationTimingOptions {
  minSamples: number;
  budgetMs: number;
  maxMsPerCase: number;
  timeoutMs: number;
  workarounds?: boolean;
}

/** A first run this many times slower than the fastest first run is not timed warm. */
export const SCREEN_FACTOR = 8;
/** A first run shorter than this is never screened out. */
export const SCREEN_MIN_MS = 25;
/** A warm median this many times the best one stops being sampled. */
export const DROP_FACTOR = 3;

/** `adapter`'s formulation axis, or `undefined` for an adapter without one. */
export function formulationAxis(adapter: CondConvAdapter): FormulationAxis | undefined {
  const a = adapter as Partial<FormulationAxis>;
  const ok = Array.isArray(a.formulations) && typeof a.formulationProblem === "function" &&
    typeof a.prepareWith === "function";
  return ok ? a as FormulationAxis : undefined;
}

/** The formulation a prepared layer's last run took, where it says. */
export function formulationOf(layer: PreparedCondConv): string | undefined {
  const f = (layer as { formulation?: unknown }).formulation;
  return typeof f === "string" ? f : undefined;
}

/** The row fields of the case's cell in the defaults table. */
export function cellFields(loaded: LoadedBenchCase): BenchResult["formulationCell"] {
  const { spec, input } = loaded.target;
  const [batch, , height, width] = input.shape;
  const { kernel, batch: b, spatial } = formulationCell("", spec, batch, height, width);
  return { kernel, batch: b, spatial };
}

/** A formulation that passed its check, with its layer. */
interface Candidate {
  entry: FormulationTiming;
  prepared: PreparedCondConv;
  run: () => Promise<Tensor>;
  samples: number[];
  active: boolean;
}

/**
 * Every formulation of `axis` on `loaded`, checked and timed; `defaultFormulation` is the
 * one the adapter's own `prepare` ran on this case.
 */
export async function benchFormulations(
  adapter: CondConvAdapter,
  axis: FormulationAxis,
  backend: string,
  loaded: LoadedBenchCase,
  options: FormulationTimingOptions,
  defaultFormulation: string | undefined,
): Promise<FormulationTiming[]> {
  const { target } = loaded;
  const entries: FormulationTiming[] = [];
  const candidates: Candidate[] = [];
  try {
    for (const formulation of axis.formulations) {
      const entry: FormulationTiming = {
        formulation,
        status: "error",
        default: formulation === defaultFormulation,
      };
      entries.push(entry);
      const problem = axis.formulationProblem(target.spec, formulation);
      if (problem !== undefined) {
        Object.assign(entry, { status: "skip", reason: problem });
        continue;
      }
      const forced: CondConvAdapter = {
        ...adapter,
        // a name of the adapter's own axis, that formulationProblem allowed
        prepare: (spec, weights) =>
          axis.prepareWith(spec, weights, { formulation: formulation as never }),
      };
      const verdict = await verify(forced, backend, target, {
        timeoutMs: options.timeoutMs,
        keep: true,
        workarounds: options.workarounds,
      });
      if (verdict.comparison) entry.maxAbsErr = verdict.comparison.maxAbsErr;
      if (verdict.firstRunMs !== undefined) entry.firstRunMs = verdict.firstRunMs;
      if (verdict.knownFailure && verdict.status !== "pass") {
        entry.knownFailure = verdict.knownFailure.id;
      }
      if (!verdict.layer) {
        entry.status = verdict.status === "error" ? "error" : "wrong";
        entry.reason = verdict.reason;
        continue;
      }
      const { prepared, run } = verdict.layer;
      entry.status = "timed"; // until screened out or a run fails
      candidates.push({ entry, prepared, run, samples: [], active: true });
    }
    await timeInterleaved(candidates, options, flops(target.spec, target.input.shape).total);
  } finally {
    for (const c of candidates) await c.prepared.dispose().catch(() => {});
  }
  const fastest = Math.min(
    ...entries.flatMap((e) => e.status === "timed" && e.warm ? [e.warm.p50Ms] : []),
  );
  for (const e of entries) {
    if (e.warm) e.overFastest = e.warm.p50Ms / fastest;
  }
  return entries;
}

/** Screens the candidates by their first run, then samples the rest round by round. */
async function timeInterleaved(
  candidates: Candidate[],
  options: FormulationTimingOptions,
  flopsTotal: number,
): Promise<void> {
  const firstFastest = Math.min(...candidates.map((c) => c.entry.firstRunMs ?? Infinity));
  for (const c of candidates) {
    const first = c.entry.firstRunMs ?? Infinity;
    if (!c.entry.default && first > SCREEN_FACTOR * firstFastest && first >= SCREEN_MIN_MS) {
      c.active = false;
      c.entry.status = "screened";
      c.entry.firstRunOverFastest = first / firstFastest;
      c.entry.reason = `first run ${first.toFixed(1)} ms, ${(first / firstFastest).toFixed(1)}x ` +
        `the fastest first run (${firstFastest.toFixed(1)} ms): not timed warm`;
    }
  }
  const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const started = performance.now();
  // the budget grows with the formulations, each getting about --max-ms at most
  const cap = options.maxMsPerCase * Math.max(1, candidates.length);
  for (;;) {
    const active = candidates.filter((c) => c.active);
    if (active.length === 0) break;
    for (const c of active) {
      try {
        const t0 = performance.now();
        await withTimeout(c.run(), options.timeoutMs, `a ${c.entry.formulation} run`);
        c.samples.push(performance.now() - t0);
      } catch (error) {
        c.active = false;
        c.entry.status = "error";
        c.entry.reason = messageOf(error);
      }
    }
    const sampled = candidates.filter((c) => c.active);
    const best = Math.min(...sampled.map((c) => median(c.samples)));
    for (const c of sampled) {
      if (c.samples.length >= MIN_SAMPLES_FLOOR && median(c.samples) > DROP_FACTOR * best) {
        c.active = false;
        c.entry.reason = `stopped after ${c.samples.length} samples: its median was past ` +
          `${DROP_FACTOR}x the best`;
      }
    }
    const elapsed = performance.now() - started;
    const fewest = Math.min(...sampled.filter((c) => c.active).map((c) => c.samples.length));
    const enough = fewest >= options.minSamples && elapsed >= options.budgetMs;
    const overCap = fewest >= MIN_SAMPLES_FLOOR && elapsed >= cap;
    if (enough || overCap || sampled.every((c) => !c.active)) break;
  }
  for (const c of candidates) {
    if (c.entry.status === "timed" && c.samples.length > 0) {
      c.entry.warm = timingStats(c.samples);
      c.entry.gflops = flopsTotal / c.entry.warm.p50Ms / 1e6;
    }
  }
}

/**
 * Bench rows as `bench/measure.ts` and the browser runner's page both fill them: the fields
 * every row has, and what the check before timing gives (the cold prepare and first run, the
 * correctness figures, the known library bug that explains a wrong result). Runtime-neutral.
 * @module
 */
import { p50Interval } from "../report/interval.ts";
import { flops } from "../../condconv/geometry.ts";
import type { CheckTarget, Verdict } from "../_shared/verify.ts";
import type { BenchResult, TimingStats } from "../results/bench.ts";

/** What a row needs to know of its case. */
export interface RowCase {
  /** `<golden id>@b<batch>` */
  id: string;
  goldenCase: string;
  batch: number;
  target: CheckTarget;
}

/** A row of `adapter` on `c` with `status`; `extra` adds or overrides fields. */
export function benchRow(
  adapter: string,
  c: RowCase,
  status: BenchResult["status"],
  extra: Partial<BenchResult> = {},
): BenchResult {
  return {
    adapter,
    case: c.id,
    goldenCase: c.goldenCase,
    batch: c.batch,
    status,
    softwareGpu: false,
    flops: flops(c.target.spec, c.target.input.shape),
    readbackIncluded: true,
    ...extra,
  };
}

/** The fields of a bench row that `verdict` decides. */
export function checkedFields(
  verdict: Verdict,
  checkedAgainst: NonNullable<BenchResult["correctness"]>["checkedAgainst"],
): Pick<BenchResult, "cold" | "correctness" | "knownFailure" | "workarounds"> {
  const fields: Pick<BenchResult, "cold" | "correctness" | "knownFailure" | "workarounds"> = {};
  if (verdict.workarounds) fields.workarounds = verdict.workarounds;
  if (verdict.prepareMs !== undefined && verdict.firstRunMs !== undefined) {
    fields.cold = { prepareMs: verdict.prepareMs, firstRunMs: verdict.firstRunMs };
  }
  const c = verdict.comparison;
  if (c) {
    fields.correctness = {
      checkedAgainst,
      pass: c.pass,
      maxAbsErr: c.maxAbsErr,
      maxRelErr: c.maxRelErr,
      worstRatio: c.worstRatio,
    };
  }
  if (verdict.status === "known-fail") fields.knownFailure = verdict.knownFailure!.id;
  return fields;
}

/** Timing samples in ms as the bench report's statistics (sorted; quantiles by index). */
export function timingStats(samplesMs: readonly number[]): TimingStats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))];
  return {
    p50Ms: at(0.5),
    p50Ci: p50Interval(sorted),
    p99Ms: at(0.99),
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    avgMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    samples: sorted.length,
    samplesMs: sorted,
  };
}

/**
 * The confidence interval of a p50 that bench writes into every timed row and that the report
 * computes for files written before rows carried one (from their `samplesMs`, with the same
 * seed, so both give the same interval). Pure: it runs in any runtime.
 * @module
 */
import { mulberry32 } from "../gate/stats.ts";
import type { P50Interval } from "../results/bench.ts";

/** The p50 interval's settings: a 95% interval from 1000 resamples, seed 1. */
export const P50_INTERVAL = { confidence: 0.95, resamples: 1000, seed: 1 } as const;

/**
 * A percentile-bootstrap confidence interval of the p50 of `sorted` (ascending): resample the
 * samples with replacement (the gate's seeded `mulberry32`), take each resample's p50 as
 * `toStats` takes it (the sample at `floor(0.5 (n - 1))`), and report the two tail quantiles.
 * As the samples are sorted, a resample's p50 is found by counting how often each sample was
 * drawn, without sorting. Throws a `RangeError` when there are no samples.
 *
 * @example Ten samples, 1 to 10 ms: the interval holds the p50 and lies within the samples
 * ```ts
 * import { p50Interval } from "./interval.ts";
 * const ci = p50Interval([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
 * if (!(ci.lowMs >= 1 && ci.lowMs <= 5 && ci.highMs >= 5 && ci.highMs <= 10)) throw new Error();
 * ```
 */
export function p50Interval(
  sorted: readonly number[],
  settings: { confidence: number; resamples: number; seed: number } = P50_INTERVAL,
): P50Interval {
  const n = sorted.length;
  if (n === 0) throw new RangeError("Cannot bootstrap the p50: no samples");
  const { confidence, resamples, seed } = settings;
  const random = mulberry32(seed);
  const counts = new Uint32Array(n);
  const rank = Math.floor(0.5 * (n - 1)); // the p50's index in a sorted resample
  const draws = new Float64Array(resamples);
  for (let i = 0; i < resamples; i++) {
    counts.fill(0);
    for (let k = 0; k < n; k++) counts[Math.floor(random() * n)]++;
    let seen = 0, at = 0;
    while (seen + counts[at] <= rank) seen += counts[at++];
    draws[i] = sorted[at];
  }
  draws.sort();
  const alpha = (1 - confidence) / 2;
  const pick = (q: number) => draws[Math.min(resamples - 1, Math.floor(q * resamples))];
  return { lowMs: pick(alpha), highMs: pick(1 - alpha), confidence, resamples };
}

/**
 * The statistics of the speed gate: ratios of medians from interleaved measurements, with a
 * bootstrap confidence interval, judged in the manner of criterion.rs.
 *
 * The samples come in rounds. A round is one pair of worker processes (working tree, base
 * revision) timed in lock step, block by block, A B B A ... (`gate_lockstep.ts`). Two blocks
 * that ran next to each other saw the same machine, so each block pair gives one ratio of
 * medians (the head block's median run time over the base block's) that is free of the
 * machine's drift. So:
 *
 * - the ratio is the median of the block pairs' ratios of medians, over all rounds; a median,
 *   so that a round whose process came out unusually fast or slow (JIT decisions, memory
 *   layout, thread placement: this happens) moves it little;
 * - its interval is a hierarchical (cluster) bootstrap: resample rounds with replacement, then
 *   each picked round's block pairs with replacement, and take the 2.5% and 97.5% quantiles;
 * - a change counts only when the whole interval lies beyond the noise threshold:
 *   `low - 1 > threshold` is a regression, `high - 1 < -threshold` an improvement.
 *
 * A percentile interval over a few rounds is somewhat narrower than its nominal 95%; the
 * noise threshold is the margin for that, as in criterion.rs. On this project's 2-core VM,
 * 1200 comparisons replayed from real rounds of an unchanged tree (`scripts/gate_power.ts`)
 * gave no false regression (the README's gate section has the figures).
 * @module
 */
import type { Comparison } from "../results/gate.ts";

/**
 * One round: the median run time of each timed block, per side, in ms. `head[i]` and
 * `base[i]` ran next to each other in time: the i-th block pair.
 */
export interface Round {
  head: number[];
  base: number[];
}

/** Settings of one comparison. */
export interface GateSettings {
  /** noise threshold as a fraction: 0.10 means changes within 10% never count */
  threshold: number;
  /** confidence level of the interval, e.g. 0.95 */
  confidence: number;
  /** bootstrap resamples */
  resamples: number;
  /** seed of the bootstrap's generator, so a verdict is reproducible */
  seed: number;
}

/** Defaults, applied in one place. */
export const GATE_STATS_DEFAULTS: GateSettings = {
  threshold: 0.10,
  confidence: 0.95,
  resamples: 2000,
  seed: 1,
};

/** mulberry32: a small seeded generator, uniform on [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The median of `values` (left as they are); the one median of the project's timings. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median: no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function quantile(sorted: number[], q: number): number {
  const position = q * (sorted.length - 1);
  const lower = Math.floor(position), upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/**
 * Compares head with base over lock-step rounds of block medians.
 *
 * @example A steady 20% slowdown is a regression
 * ```ts
 * import { compareRounds } from "./stats.ts";
 * const rounds = [0, 1, 2, 3].map((r) => ({
 *   base: [10, 10.2, 9.9, 10.1].map((v) => v + r * 0.1),
 *   head: [12, 12.1, 11.9, 12.2].map((v) => v + r * 0.1),
 * }));
 * if (compareRounds(rounds).verdict !== "regressed") throw new Error("missed it");
 * ```
 */
export function compareRounds(
  rounds: readonly Round[],
  settings: Partial<GateSettings> = {},
): Comparison {
  const { threshold, confidence, resamples, seed } = { ...GATE_STATS_DEFAULTS, ...settings };
  const usable = rounds.filter((r) => r.head.length > 0 && r.base.length > 0);
  if (usable.length < 2) {
    throw new RangeError(
      `Cannot form an interval from ${usable.length} round(s) with samples on both sides: ` +
        "need 2 or more",
    );
  }
  const logs = usable.map((r, i) => {
    if (r.head.length !== r.base.length) {
      throw new RangeError(
        `Cannot pair the blocks of round ${i}: ${r.head.length} head, ${r.base.length} base`,
      );
    }
    return r.head.map((h, k) => Math.log(h / r.base[k]));
  });
  const random = mulberry32(seed);
  const index = (length: number) => Math.floor(random() * length);
  const draws: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const picked: number[] = [];
    for (let r = 0; r < logs.length; r++) {
      const round = logs[index(logs.length)];
      for (let k = 0; k < round.length; k++) picked.push(round[index(round.length)]);
    }
    draws.push(median(picked));
  }
  draws.sort((a, b) => a - b);
  const alpha = (1 - confidence) / 2;
  const low = Math.exp(quantile(draws, alpha)), high = Math.exp(quantile(draws, 1 - alpha));
  const verdict = low - 1 > threshold
    ? "regressed"
    : high - 1 < -threshold
    ? "improved"
    : "unchanged";
  return {
    ratio: Math.exp(median(logs.flat())),
    low,
    high,
    verdict,
    headMedianMs: median(usable.flatMap((r) => r.head)),
    baseMedianMs: median(usable.flatMap((r) => r.base)),
    rounds: usable.length,
  };
}

/**
 * The statistics of the speed gate: the ratio of medians of two interleaved measurements,
 * with a bootstrap confidence interval, judged in the manner of criterion.rs.
 *
 * The samples come in rounds (one child process per side per round, sides alternating
 * A B B A ...). Noise on a shared machine is correlated within a round, so the bootstrap is
 * hierarchical: resample rounds with replacement, then each picked round's runs with
 * replacement, and take the ratio of the pooled medians. A change counts only when the whole
 * interval lies beyond the noise threshold: `ratio_low - 1 > threshold` is a regression,
 * `ratio_high - 1 < -threshold` an improvement, anything else is no change.
 * @module
 */

/** The runs of one round: `head` (the working tree) and `base` (the base revision), in ms. */
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

/** How head compares with base. */
export interface Comparison {
  /** median(head) / median(base): above 1 is slower */
  ratio: number;
  low: number;
  high: number;
  verdict: "regressed" | "improved" | "unchanged";
  headMedianMs: number;
  baseMedianMs: number;
}

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

/** The median of `values` (which it sorts in place). */
export function median(values: number[]): number {
  if (values.length === 0) throw new RangeError("Cannot take the median: no values");
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

function quantile(sorted: number[], q: number): number {
  const position = q * (sorted.length - 1);
  const lower = Math.floor(position), upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/**
 * Compares head with base over interleaved rounds.
 *
 * @example A steady 20% slowdown is a regression
 * ```ts
 * import { compareRounds } from "./gate_stats.ts";
 * const rounds = [0, 1, 2].map((r) => ({
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
  if (usable.length === 0) {
    throw new RangeError("Cannot compare: no round has samples on both sides");
  }
  const headMedianMs = median(usable.flatMap((r) => r.head));
  const baseMedianMs = median(usable.flatMap((r) => r.base));
  const ratio = headMedianMs / baseMedianMs;
  const random = mulberry32(seed);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)];
  const ratios: number[] = [];
  for (let i = 0; i < resamples; i++) {
    const head: number[] = [], base: number[] = [];
    for (let r = 0; r < usable.length; r++) {
      const round = pick(usable);
      for (let k = 0; k < round.head.length; k++) head.push(pick(round.head));
      for (let k = 0; k < round.base.length; k++) base.push(pick(round.base));
    }
    ratios.push(median(head) / median(base));
  }
  ratios.sort((a, b) => a - b);
  const alpha = (1 - confidence) / 2;
  const low = quantile(ratios, alpha), high = quantile(ratios, 1 - alpha);
  const verdict = low - 1 > threshold
    ? "regressed"
    : high - 1 < -threshold
    ? "improved"
    : "unchanged";
  return { ratio, low, high, verdict, headMedianMs, baseMedianMs };
}

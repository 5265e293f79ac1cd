/**
 * When a timing is too noisy to read closely, as every report flags it. Pure functions on the
 * figures of one row, no imports, so that `bench.md`, `RESULTS.md` and the page agree.
 *
 * **Noisy: p99 over p50 above 3.** The threshold comes from the data: over the 98 warm
 * timings (CondConv and static rows) of three distinct bench files that helpers of this
 * project wrote on its shared 2-core VM on 2026-12-01 (a browser run and a Deno run of smoke
 * and effnet-b0 cases, and a `wasm` run of all 26 effnet-b0 cases), p99/p50 was at most 1.5
 * in 24% of them, at most 2 in 43%, at most 3 in 62% and at most 10 in 89%, with a long tail
 * up to 177 (p99 up to 38x p50 was also seen on smoke cases). The quietest quarter, spread by
 * run-to-run variation alone, sat at 1.1 to 1.5; beyond 3x the typical spread, a tail of
 * interruptions (other processes on the cores, garbage collection, a timer's granularity)
 * decides the p99, and the p50 itself is suspect when the samples are few. So above 3 a row
 * is marked `noisy`: read its p50 with its confidence interval, and measure again on a quiet
 * machine before drawing a conclusion from it.
 *
 * **A speed-up that is within the noise.** An `x static` below 1 (CondConv faster than the
 * same adapter's static convolution, which does less work) is flagged when the two p50
 * intervals overlap: the data do not tell the two apart.
 * @module
 */

/** p99 / p50 above this marks a noisy timing (see the module's notes for the data). */
export const NOISY_P99_OVER_P50 = 3;

/** A p50 with its interval, as the rows carry them. */
export interface P50WithInterval {
  p50Ms: number;
  lowMs?: number;
  highMs?: number;
}

/** True when a timing's p99 is more than `NOISY_P99_OVER_P50` times its p50. */
export function isNoisy(p50Ms: number | undefined, p99Ms: number | undefined): boolean {
  if (p50Ms === undefined || p99Ms === undefined || !(p50Ms > 0)) return false;
  return p99Ms / p50Ms > NOISY_P99_OVER_P50;
}

/**
 * True when CondConv looks faster than its static convolution (`x static` below 1) but the two
 * p50 intervals overlap, so the data cannot tell them apart. False when either interval is
 * unknown (a file written before intervals were recorded): nothing to judge by.
 */
export function fasterThanStaticWithinNoise(
  condconv: P50WithInterval | undefined,
  staticConv: P50WithInterval | undefined,
): boolean {
  if (!condconv || !staticConv) return false;
  if (!(condconv.p50Ms < staticConv.p50Ms)) return false;
  const { lowMs: a0, highMs: a1 } = condconv, { lowMs: b0, highMs: b1 } = staticConv;
  if (a0 === undefined || a1 === undefined || b0 === undefined || b1 === undefined) return false;
  return a0 <= b1 && b0 <= a1;
}

/** The p50 interval as the tables write it: `[1.21, 1.34]`, `-` when unknown. */
export function fmtInterval(
  lowMs: number | undefined,
  highMs: number | undefined,
  fmt: (v: number) => string,
): string {
  return lowMs === undefined || highMs === undefined ? "-" : `[${fmt(lowMs)}, ${fmt(highMs)}]`;
}

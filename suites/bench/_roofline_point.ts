/**
 * Where one timed run sits under the machine's ceilings (the roofline model): its arithmetic
 * intensity, its GFLOP/s, the attainable `min(peak, intensity x bandwidth)` at its thread
 * count, and its percent of that.
 * @module
 */
import type { MachineLimits, RooflinePoint, ThreadedFigure } from "../results/machine_limits.ts";

/** Which compute peak a run is held against: wasm SIMD (the default) or scalar JavaScript. */
export type ComputeCeiling = "wasmSimd" | "scalarJs";

/**
 * A figure at `threads`: the one-thread best at 1, the all-threads best at `limits.threads`
 * or more, and a straight line between them.
 */
function atThreads(figure: ThreadedFigure, threads: number, limitThreads: number): number {
  const one = figure.oneThread.best, all = figure.allThreads.best;
  if (threads <= 1 || limitThreads <= 1) return one;
  if (threads >= limitThreads) return all;
  return one + ((all - one) * (threads - 1)) / (limitThreads - 1);
}

function checkPositive(name: string, value: number) {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `Cannot place a roofline point: ${name} must be a positive number, got ${value}`,
    );
  }
}

/**
 * Places a run of `flops` FLOPs moving `bytes` bytes in `ms` milliseconds on `threads` threads
 * under `limits`. Throws a `RangeError` naming the argument at fault.
 *
 * @example 100 MFLOP over 10 MB in 10 ms on one thread, under a 50 GFLOP/s, 20 GB/s machine
 * ```ts
 * import { rooflinePoint } from "./_roofline_point.ts";
 * import type { LimitFigure, MachineLimits } from "../results/machine_limits.ts";
 * const fig = (best: number): LimitFigure =>
 *   ({ best, median: best, worst: best, spreadPercent: 0 });
 * const limits = {
 *   threads: 2,
 *   wasmSimdGflops: { oneThread: fig(50), allThreads: fig(100) },
 *   scalarJsGflops: { oneThread: fig(2), allThreads: fig(4) },
 *   bandwidthGBps: { oneThread: fig(20), allThreads: fig(30) },
 * } as MachineLimits;
 * const point = rooflinePoint(100e6, 10e6, 10, 1, limits);
 * // intensity 10 FLOP/byte: 10 x 20 GB/s = 200 > 50, so compute-bound at 50; 10 GFLOP/s is 20%
 * if (point.ceilingGflops !== 50 || point.percentOfCeiling !== 20) throw new Error("wrong");
 * ```
 */
export function rooflinePoint(
  flops: number,
  bytes: number,
  ms: number,
  threads: number,
  limits: MachineLimits,
  compute: ComputeCeiling = "wasmSimd",
): RooflinePoint {
  checkPositive("flops", flops);
  checkPositive("bytes", bytes);
  checkPositive("ms", ms);
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Cannot place a roofline point: threads must be a positive integer, got ${threads}`,
    );
  }
  if (compute !== "wasmSimd" && compute !== "scalarJs") {
    throw new RangeError(
      `Cannot place a roofline point: compute must be "wasmSimd" or "scalarJs", got "${compute}"`,
    );
  }
  const peakFigure = compute === "wasmSimd" ? limits.wasmSimdGflops : limits.scalarJsGflops;
  const peakGflops = atThreads(peakFigure, threads, limits.threads);
  const bandwidthGBps = atThreads(limits.bandwidthGBps, threads, limits.threads);
  const arithmeticIntensity = flops / bytes;
  const memoryCeiling = arithmeticIntensity * bandwidthGBps;
  const ceilingGflops = Math.min(peakGflops, memoryCeiling);
  const gflops = flops / ms / 1e6;
  return {
    arithmeticIntensity,
    gflops,
    peakGflops,
    bandwidthGBps,
    ceilingGflops,
    boundBy: memoryCeiling < peakGflops ? "memory" : "compute",
    percentOfCeiling: (100 * gflops) / ceilingGflops,
    percentOfPeak: (100 * gflops) / peakGflops,
    threads,
    compute,
  };
}

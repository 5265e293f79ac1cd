/**
 * Known `MachineLimits` for tests of what reads them (no measurement).
 * @module
 */
import { type LimitFigure, MachineLimits } from "./roofline.ts";

/** A figure whose best is `best`, median 0.9x and worst half of it. */
export function knownFigure(best: number): LimitFigure {
  return {
    best,
    median: best * 0.9,
    worst: best * 0.5,
    spreadPercent: 10,
  };
}

/** Limits with the given `[one thread, all threads]` bests and the default method. */
export function knownLimits(
  threads: number,
  wasmSimdGflops: [number, number],
  scalarJsGflops: [number, number],
  bandwidthGBps: [number, number],
): MachineLimits {
  const pair = ([one, all]: [number, number]) => ({
    oneThread: knownFigure(one),
    allThreads: knownFigure(all),
  });
  return MachineLimits.parse({
    threads,
    wasmSimdGflops: pair(wasmSimdGflops),
    scalarJsGflops: pair(scalarJsGflops),
    bandwidthGBps: pair(bandwidthGBps),
    method: {
      multiplyAdd: "f32x4.relaxed_madd",
      wasmChains: 12,
      wasmUnroll: 8,
      scalarChains: 8,
      triadFloats: 1 << 24,
      triadBytesPerElement: 12,
      blockMs: 2,
      repetitions: 3,
      minRepetitions: 3,
      maxRepetitions: 3,
      settleRounds: 0,
      statistic: "best of repetitions",
    },
    warnings: [],
    elapsedMs: 1000,
  });
}

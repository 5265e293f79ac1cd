/**
 * The machine's measured limits (the roofline probe of `suites/bench/roofline.ts`) and where one
 * timed run sits under them, as the bench report stores them.
 * @module
 */
import { z } from "zod";

/** Bytes a triad element moves, counted as STREAM does: read b and c, write a. */
export const TRIAD_BYTES_PER_ELEMENT = 12;

const positive = z.number().positive().finite();

/** One measured figure: the best of the rounds, with their spread. */
export const LimitFigure = z.strictObject({
  best: positive,
  median: positive,
  worst: positive,
  /** `100 * (best - median) / best` */
  spreadPercent: z.number().nonnegative().finite(),
});
/** `LimitFigure` after parsing. */
export type LimitFigure = z.infer<typeof LimitFigure>;

/** A figure on one thread and on all `threads`. */
export const ThreadedFigure = z.strictObject({ oneThread: LimitFigure, allThreads: LimitFigure });
/** `ThreadedFigure` after parsing. */
export type ThreadedFigure = z.infer<typeof ThreadedFigure>;

/** The machine's measured limits, as `measureMachineLimits` returns them. */
export const MachineLimits = z.strictObject({
  /** workers of the all-threads figures (`navigator.hardwareConcurrency` unless told) */
  threads: z.int().positive(),
  /** GFLOP/s of the wasm SIMD multiply-add loop */
  wasmSimdGflops: ThreadedFigure,
  /** GFLOP/s of scalar JavaScript float64 multiply-adds */
  scalarJsGflops: ThreadedFigure,
  /** GB/s (1e9 bytes) of the triad, 12 bytes an element */
  bandwidthGBps: ThreadedFigure,
  method: z.strictObject({
    multiplyAdd: z.enum(["f32x4.relaxed_madd", "f32x4.mul+f32x4.add"]),
    wasmChains: z.int().positive(),
    wasmUnroll: z.int().positive(),
    scalarChains: z.int().positive(),
    /** floats per triad array on one thread; all threads split it in equal slices */
    triadFloats: z.int().positive(),
    triadBytesPerElement: z.literal(TRIAD_BYTES_PER_ELEMENT),
    /** each block of work takes at least this long when calibrated */
    blockMs: positive,
    /** rounds measured: at least `minRepetitions`, at most `maxRepetitions` */
    repetitions: z.int().positive(),
    minRepetitions: z.int().positive(),
    maxRepetitions: z.int().positive(),
    /** the run stopped after this many rounds in a row raised no best by more than 1% */
    settleRounds: z.int().nonnegative(),
    statistic: z.literal("best of repetitions"),
  }),
  /** figures whose median fell far below their best: the machine was busy (`disturbances`) */
  warnings: z.array(z.string()),
  /** how long the whole probe took */
  elapsedMs: positive,
});
/** `MachineLimits` after parsing. */
export type MachineLimits = z.infer<typeof MachineLimits>;

const finite = z.number().nonnegative().finite();

/** One run under the roofline, as `rooflinePoint` returns it. */
export const RooflinePoint = z.strictObject({
  /** FLOP per byte */
  arithmeticIntensity: finite,
  /** achieved GFLOP/s */
  gflops: finite,
  /** the compute peak at the run's threads, GFLOP/s */
  peakGflops: finite,
  /** the bandwidth at the run's threads, GB/s */
  bandwidthGBps: finite,
  /** `min(peakGflops, arithmeticIntensity * bandwidthGBps)` */
  ceilingGflops: finite,
  /** which of the two sets the ceiling */
  boundBy: z.enum(["compute", "memory"]),
  /** `100 * gflops / ceilingGflops` */
  percentOfCeiling: finite,
  /** `100 * gflops / peakGflops` */
  percentOfPeak: finite,
  threads: z.int().positive(),
  compute: z.enum(["wasmSimd", "scalarJs"]),
});
/** `RooflinePoint` after parsing. */
export type RooflinePoint = z.infer<typeof RooflinePoint>;

/**
 * The machine's limits (a roofline probe) and where a measured layer sits under them.
 *
 * `measureMachineLimits` measures, on one thread and on all threads (Web Workers released
 * together by a barrier in a `SharedArrayBuffer`):
 * - the peak GFLOP/s of a wasm SIMD multiply-add loop (`f32x4.relaxed_madd` where the runtime
 *   has relaxed SIMD, else `f32x4.mul` then `f32x4.add`; 2 FLOPs per lane either way), with
 *   12 independent accumulator chains unrolled 8 times (`_roofline_wasm.ts`);
 * - the peak GFLOP/s of scalar JavaScript: 8 independent float64 `x = x * m + a` chains;
 * - the memory bandwidth of a STREAM triad `a[i] = b[i] + s * c[i]` (wasm SIMD) on float32
 *   arrays far larger than the caches, counted as STREAM does: 12 bytes an element (read `b`,
 *   read `c`, write `a`; the write-allocate read of `a` is not counted).
 *
 * Method: each kernel is first calibrated alone (on worker 0, after a warm-up that lets the
 * engine optimize it) to a fixed amount of work that takes at least `blockMs`; every worker
 * then runs that same work (the all-threads triad each over its own `1 / threads` slice of the
 * arrays; the triad walks on from where its last block stopped, so short blocks still stream
 * from memory). After one unmeasured round, rounds run the six figures in turn, so that a burst
 * of load from elsewhere hits every figure alike: at least `repetitions` rounds, then on until
 * `settleRounds` rounds in a row raised no figure's best by more than 1%, at most
 * `maxRepetitions` (the best of a loaded machine keeps rising while the probe rarely gets both
 * cores at once; the rule waits for it to settle). A figure of one round is the
 * total work divided by the time of the slowest worker (each timed from its release by the
 * barrier to its end); the figure reported is the best round (the least disturbed by other
 * processes), with the median, the worst and `spreadPercent = 100 (best - median) / best`.
 *
 * `rooflinePoint` places one timed run under these ceilings, and `condConvBytes` counts the
 * bytes a CondConv layer must move at the least (input, output and weights read once).
 * @module
 */
import { z } from "zod";
import {
  DEFAULT_FMA_SHAPE,
  type FmaKernelShape,
  supportsRelaxedSimd,
  TRIAD_VECTOR_FLOATS,
} from "./_roofline_wasm.ts";
import {
  costPerUnit,
  type ProbeKernel,
  SCALAR_CHAINS,
  TRIAD_BYTES_PER_ELEMENT,
} from "./_roofline_kernels.ts";
import { ProbeTeam, type TeamRun } from "./_roofline_team.ts";

export { type CondConvBytes, condConvBytes } from "./_roofline_bytes.ts";
export { type ComputeCeiling, rooflinePoint } from "./_roofline_point.ts";
export {
  LimitFigure,
  MachineLimits,
  RooflinePoint,
  ThreadedFigure,
} from "../results/machine_limits.ts";
import { type LimitFigure, MachineLimits } from "../results/machine_limits.ts";

/**
 * Short blocks, many of them: on a shared machine the best of many short blocks finds the
 * moments the probe had the cores to itself, where long blocks average the other load in
 * (2 x 2-core runs at load average 6-7: 2 ms x 100 agreed within 3% on all six figures, 5 ms
 * x 40 differed by up to 75% on the all-threads ones). 2 ms is 400 ticks of a browser's
 * 5 us timer in a cross-origin isolated page (which `SharedArrayBuffer` needs anyway).
 */
export const DEFAULT_BLOCK_MS = 2;
/** The fewest measured rounds of the six figures. */
export const DEFAULT_REPETITIONS = 100;
/** The most measured rounds (about 8 s of blocks at 2 ms, with the machine to itself). */
export const DEFAULT_MAX_REPETITIONS = 600;
/** Rounds in a row that must raise no best by more than `SETTLE_PERCENT` to stop early. */
export const DEFAULT_SETTLE_ROUNDS = 60;
const SETTLE_PERCENT = 1;
/**
 * 2^24 floats: three arrays of 64 MiB (192 MiB). On the 2-core Xeon measured, 4x that (768
 * MiB) gave the same GB/s within 3%, while 12 MiB gave 1.4x (one thread) to 1.7x (two):
 * 192 MiB streams from memory. The triad walks on through the arrays block after block.
 */
export const DEFAULT_TRIAD_FLOATS = 2 ** 24;

/** What `measureMachineLimits` may be told; every field has a default. */
export const MachineLimitsOptions = z.strictObject({
  /** workers for the all-threads figures; default `navigator.hardwareConcurrency` */
  threads: z.int().positive().max(256).optional(),
  /** the least time a calibrated block of work takes; default `DEFAULT_BLOCK_MS` */
  blockMs: z.number().min(1).max(10_000).default(DEFAULT_BLOCK_MS),
  /** the fewest measured rounds; default `DEFAULT_REPETITIONS` */
  repetitions: z.int().min(1).max(10_000).default(DEFAULT_REPETITIONS),
  /** the most measured rounds; default `DEFAULT_MAX_REPETITIONS` (or `repetitions`, if more) */
  maxRepetitions: z.int().min(1).max(10_000).optional(),
  /** stop once this many rounds in a row raised no best by 1%; default `DEFAULT_SETTLE_ROUNDS` */
  settleRounds: z.int().min(0).max(10_000).default(DEFAULT_SETTLE_ROUNDS),
  /** floats per triad array on one thread; default `DEFAULT_TRIAD_FLOATS` */
  triadFloats: z.int().min(1024).max(2 ** 28).default(DEFAULT_TRIAD_FLOATS),
  /** use `f32x4.relaxed_madd`; default: when the runtime validates it */
  relaxedSimd: z.boolean().optional(),
});
/** `MachineLimitsOptions` before defaults. */
export type MachineLimitsOptions = z.input<typeof MachineLimitsOptions>;

/**
 * A spread above this says the probe rarely had the cores to itself: its best may still be
 * below the machine's (on a 2-core machine at load average 14-17 the all-threads triad came
 * out 25-45% low, with spreads of 75-80%; at load 11-13, spreads under 20%, the runs agreed).
 */
export const DISTURBED_SPREAD_PERCENT = 20;

/**
 * One warning per figure whose spread exceeds `DISTURBED_SPREAD_PERCENT`.
 *
 * @example
 * ```ts
 * import { disturbances } from "./roofline.ts";
 * const calm = { best: 10, median: 9.5, worst: 2, spreadPercent: 5 };
 * const busy = { best: 10, median: 3, worst: 1, spreadPercent: 70 };
 * const warnings = disturbances({
 *   wasmSimdGflops: { oneThread: calm, allThreads: busy },
 *   scalarJsGflops: { oneThread: calm, allThreads: calm },
 *   bandwidthGBps: { oneThread: calm, allThreads: calm },
 * });
 * if (warnings.length !== 1 || !warnings[0].startsWith("wasmSimdGflops.allThreads")) {
 *   throw new Error(warnings.join());
 * }
 * ```
 */
export function disturbances(
  figures: Pick<MachineLimits, "wasmSimdGflops" | "scalarJsGflops" | "bandwidthGBps">,
): string[] {
  const warnings: string[] = [];
  for (const name of ["wasmSimdGflops", "scalarJsGflops", "bandwidthGBps"] as const) {
    for (const threads of ["oneThread", "allThreads"] as const) {
      const figure = figures[name][threads];
      if (figure.spreadPercent <= DISTURBED_SPREAD_PERCENT) continue;
      warnings.push(
        `${name}.${threads}: the median is ${figure.spreadPercent.toFixed(0)}% below the best ` +
          `(${figure.median.toPrecision(3)} against ${figure.best.toPrecision(3)}): the machine ` +
          `was busy, and the best may be low too`,
      );
    }
  }
  return warnings;
}

function roundUp(value: number, multiple: number) {
  return Math.ceil(value / multiple) * multiple;
}

function summarize(samples: number[]): LimitFigure {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
  const best = sorted[sorted.length - 1];
  return {
    best,
    median,
    worst: sorted[0],
    spreadPercent: (100 * (best - median)) / best,
  };
}

/** The exact result each kernel must return (see `_roofline_worker.ts`'s constants). */
function expectedResult(kernel: ProbeKernel, shape: FmaKernelShape): number {
  // x -> 0.5 x + 1 settles on exactly 2 after a few dozen steps; the triad writes 1 + 3 * 2.
  if (kernel === "wasmSimd") return shape.chains * 4 * 2;
  if (kernel === "scalarJs") return SCALAR_CHAINS * 2;
  return 7;
}

interface Configuration {
  figure: keyof Pick<MachineLimits, "wasmSimdGflops" | "scalarJsGflops" | "bandwidthGBps">;
  threads: "oneThread" | "allThreads";
  kernel: ProbeKernel;
  work: number;
  participants: number;
  triadFloats: number;
}

function rate(config: Configuration, shape: FmaKernelShape, run: TeamRun): number {
  const expected = expectedResult(config.kernel, shape);
  const wrong = run.results.findIndex((result) => result !== expected);
  if (wrong >= 0) {
    throw new RangeError(
      `Cannot trust the roofline probe: worker ${wrong}'s ${config.kernel} kernel returned ` +
        `${run.results[wrong]}, expected ${expected}`,
    );
  }
  const slowest = Math.max(...run.elapsedMs);
  const units = config.work * config.participants;
  return (units * costPerUnit(config.kernel, shape)) / slowest / 1e6;
}

/**
 * Measures the machine's compute and bandwidth limits (see the module doc for the method).
 * Throws a `RangeError` naming the option at fault, or when a kernel computes a wrong result.
 *
 * @example A quick, rough probe on two threads
 * ```ts ignore
 * import { measureMachineLimits } from "./roofline.ts";
 * const limits = await measureMachineLimits({ threads: 2, blockMs: 20, repetitions: 3 });
 * console.log(limits.wasmSimdGflops.allThreads.best, limits.bandwidthGBps.oneThread.best);
 * ```
 */
export async function measureMachineLimits(
  options: MachineLimitsOptions = {},
): Promise<MachineLimits> {
  const parsed = MachineLimitsOptions.safeParse(options);
  if (!parsed.success) {
    throw new RangeError(`Cannot measure the machine's limits: ${z.prettifyError(parsed.error)}`);
  }
  const { blockMs, repetitions, settleRounds } = parsed.data;
  const maxRepetitions = parsed.data.maxRepetitions ??
    Math.max(DEFAULT_MAX_REPETITIONS, repetitions);
  if (maxRepetitions < repetitions) {
    throw new RangeError(
      `Cannot measure the machine's limits: maxRepetitions (${maxRepetitions}) is below ` +
        `repetitions (${repetitions})`,
    );
  }
  const threads = parsed.data.threads ?? navigator.hardwareConcurrency;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Cannot measure the machine's limits: navigator.hardwareConcurrency is ${threads}; ` +
        `pass options.threads`,
    );
  }
  const relaxed = parsed.data.relaxedSimd ?? supportsRelaxedSimd();
  const shape: FmaKernelShape = { ...DEFAULT_FMA_SHAPE, relaxed };
  const triadFloats = roundUp(parsed.data.triadFloats, TRIAD_VECTOR_FLOATS);
  const sliceFloats = roundUp(Math.ceil(triadFloats / threads), TRIAD_VECTOR_FLOATS);

  const started = performance.now();
  const team = await ProbeTeam.start(threads, shape, triadFloats, sliceFloats);
  try {
    const configs: Configuration[] = [];
    const kernels = [
      ["wasmSimdGflops", "wasmSimd"],
      ["scalarJsGflops", "scalarJs"],
      ["bandwidthGBps", "triad"],
    ] as const;
    for (const [figure, kernel] of kernels) {
      const work = await team.calibrate(kernel, blockMs);
      configs.push({ figure, threads: "oneThread", kernel, work, participants: 1, triadFloats });
      // Every worker does the one-thread work (the triad over its own slice).
      configs.push({
        figure,
        threads: "allThreads",
        kernel,
        work,
        participants: threads,
        triadFloats: sliceFloats,
      });
    }
    const samples = configs.map(() => [] as number[]);
    const best = configs.map(() => 0);
    let lastRise = 0, rounds = 0;
    for (let round = -1; round < maxRepetitions; round++) {
      if (round >= repetitions && round - lastRise >= settleRounds) break;
      for (const [index, config] of configs.entries()) {
        const run = await team.run(
          config.kernel,
          config.work,
          config.participants,
          config.triadFloats,
        );
        const figure = rate(config, shape, run);
        if (round < 0) continue;
        samples[index].push(figure);
        if (figure > best[index] * (1 + SETTLE_PERCENT / 100)) lastRise = round;
        best[index] = Math.max(best[index], figure);
      }
      rounds = round + 1;
    }
    const figureOf = (figure: Configuration["figure"]) => {
      const pick = (threads: Configuration["threads"]) =>
        summarize(samples[configs.findIndex((c) => c.figure === figure && c.threads === threads)]);
      return { oneThread: pick("oneThread"), allThreads: pick("allThreads") };
    };
    const figures = {
      wasmSimdGflops: figureOf("wasmSimdGflops"),
      scalarJsGflops: figureOf("scalarJsGflops"),
      bandwidthGBps: figureOf("bandwidthGBps"),
    };
    return MachineLimits.parse({
      threads,
      ...figures,
      method: {
        multiplyAdd: relaxed ? "f32x4.relaxed_madd" : "f32x4.mul+f32x4.add",
        wasmChains: shape.chains,
        wasmUnroll: shape.unroll,
        scalarChains: SCALAR_CHAINS,
        triadFloats,
        triadBytesPerElement: TRIAD_BYTES_PER_ELEMENT,
        blockMs,
        repetitions: rounds,
        minRepetitions: repetitions,
        maxRepetitions,
        settleRounds,
        statistic: "best of repetitions",
      },
      warnings: disturbances(figures),
      elapsedMs: performance.now() - started,
    });
  } finally {
    team.close();
  }
}

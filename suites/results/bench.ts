/**
 * `reports/bench.json`, written by `deno task bench`: warm and cold timings of every adapter
 * on every bench case, each checked for correctness before it was timed, beside PyTorch's
 * CPU baseline.
 *
 * Derived ratios (`gflops`, `overVsStatic`) are `null` when JSON could not write them (a
 * non-finite number), read as "not available".
 * @module
 */
import { z } from "zod";
import type { FlopCount as CountedFlops } from "../../condconv/geometry.ts";
import { AdapterSummary, AppliedWorkarounds, RunFilters } from "./adapter_summary.ts";
import { Environment } from "./environment.ts";
import { MachineLimits, RooflinePoint } from "./machine_limits.ts";

/**
 * A confidence interval of the p50 (a percentile bootstrap of the median over the samples,
 * seeded, so the same samples give the same interval).
 */
export const P50Interval = z.object({
  lowMs: z.number(),
  highMs: z.number(),
  /** e.g. 0.95 */
  confidence: z.number().gt(0).lt(1),
  resamples: z.number().int().positive(),
});
/** A confidence interval of the p50. */
export type P50Interval = z.infer<typeof P50Interval>;

/**
 * Warm timing statistics, milliseconds; `samplesMs` are mitata's samples, sorted. `p50Ci` is
 * absent from files written before it was computed.
 */
export const TimingStats = z.object({
  p50Ms: z.number(),
  p50Ci: P50Interval.optional(),
  p99Ms: z.number(),
  minMs: z.number(),
  maxMs: z.number(),
  avgMs: z.number(),
  samples: z.number().int().nonnegative(),
  samplesMs: z.array(z.number()),
});
/** Warm timing statistics, milliseconds. */
export type TimingStats = z.infer<typeof TimingStats>;

/** A ratio JSON may have written as `null` (a non-finite number). */
const ratio = z.number().nullable().optional();

/** The static-convolution baseline of one adapter on one case. */
export const StaticBaseline = z.object({
  status: z.enum(["timed", "wrong", "not-measured", "error"]),
  reason: z.string().optional(),
  maxAbsErr: z.number().optional(),
  warm: TimingStats.optional(),
  gflops: ratio,
  /** where the static convolution sits under the machine's limits (its own FLOPs and bytes) */
  roofline: RooflinePoint.optional(),
});
/** The static-convolution baseline of one adapter on one case. */
export type StaticBaseline = z.infer<typeof StaticBaseline>;

/** The FLOPs of one case (`condconv/geometry.ts`'s `flops`). */
export const FlopCount = z.object({
  routing: z.number(),
  mixing: z.number(),
  conv: z.number(),
  total: z.number(),
  staticConv: z.number(),
});
/** The FLOPs of one case. */
export type FlopCount = z.infer<typeof FlopCount>;
const _sameFlops = (f: CountedFlops): FlopCount => f;

/**
 * One formulation of a framework adapter on one case (`deno task bench --formulations`):
 * prepared with `prepareWith(spec, weights, { formulation })`, checked by the same verify
 * path as the row, and timed interleaved with the layer's other formulations (round by
 * round, so that a drift in the machine's load reaches all alike). `screened` marks one whose
 * first run was so much slower than the fastest first run that it was not timed warm.
 */
export const FormulationTiming = z.object({
  formulation: z.string().min(1),
  /** `skip`: the formulation cannot compute this layer here (the reason says why) */
  status: z.enum(["timed", "screened", "wrong", "skip", "error"]),
  reason: z.string().optional(),
  knownFailure: z.string().optional(),
  /** whether it is the adapter's default for this layer at this batch */
  default: z.boolean(),
  maxAbsErr: z.number().optional(),
  firstRunMs: z.number().optional(),
  /** on a `screened` entry: its first run over the fastest first run */
  firstRunOverFastest: ratio,
  warm: TimingStats.optional(),
  gflops: ratio,
  /** warm p50 over the fastest formulation's warm p50 on this case (1 for the fastest) */
  overFastest: ratio,
});
/** One formulation of a framework adapter on one case. */
export type FormulationTiming = z.infer<typeof FormulationTiming>;

/** The cell of a case in the formulation defaults table (`condconv/formulation.ts`). */
export const FormulationCellFields = z.object({
  kernel: z.enum(["pointwise", "depthwise", "general"]),
  batch: z.enum(["1", "2+"]),
  spatial: z.enum(["<=100px", "<=400px", ">400px"]),
});

/** The statuses of a bench row: `wrong` failed the correctness check, so was not timed. */
export const BENCH_STATUSES = ["timed", "wrong", "skip", "error"] as const;

/** One adapter on one bench case. */
export const BenchResult = z.object({
  adapter: z.string().min(1),
  /** `<golden id>@b<batch>` */
  case: z.string().min(1),
  goldenCase: z.string().min(1),
  batch: z.number().int().positive(),
  status: z.enum(BENCH_STATUSES),
  reason: z.string().optional(),
  /** on a `wrong` row: the known library bug (`known_failures.ts` rule id) that explains it */
  knownFailure: z.string().optional(),
  /** what the layer changed to avoid a library bug: a timing with it is the workaround's */
  workarounds: AppliedWorkarounds.optional(),
  backend: z.string().optional(),
  /** the WebGPU implementation under it (e.g. "wgpu/vulkan"), where the runner knows it */
  implementation: z.string().optional(),
  /** true when the adapter ran on a software GPU adapter: CPU figures, not GPU ones */
  softwareGpu: z.boolean(),
  correctness: z.object({
    checkedAgainst: z.enum(["golden", "reference", "pytorch"]),
    pass: z.boolean(),
    maxAbsErr: z.number(),
    maxRelErr: z.number(),
    worstRatio: z.number(),
  }).optional(),
  flops: FlopCount,
  /** the first prepare (weights upload, shader compilation, session creation) and first run */
  cold: z.object({ prepareMs: z.number(), firstRunMs: z.number() }).optional(),
  /** warm wall time per run, output read back to the CPU included */
  warm: TimingStats.optional(),
  /** total FLOPs / warm p50 */
  gflops: ratio,
  /** GPU time per run from timestamp queries, where the device offers them */
  gpu: z.object({
    p50Ms: z.number(),
    minMs: z.number(),
    maxMs: z.number(),
    samples: z.number(),
  }).nullable().optional(),
  static: StaticBaseline.optional(),
  /** warm p50 of CondConv / warm p50 of the static convolution, same adapter */
  overVsStatic: ratio,
  memory: z.object({
    rssBytes: z.number(),
    heapUsedBytes: z.number(),
    peakRssBytes: z.number().nullable(),
  }).optional(),
  readbackIncluded: z.literal(true),
  /**
   * CPU threads the row computed on (`bench/threads.ts`), on CPU rows; absent on GPU rows and
   * from files written before it was recorded
   */
  threads: z.int().positive().optional(),
  /** where `threads` came from: the adapter's info, or "assumed: all cores" when it had none */
  threadsFrom: z.string().optional(),
  /** where the run sits under the machine's limits (`environment.machineLimits`), if probed */
  roofline: RooflinePoint.optional(),
  /** the formulation the row's (default) timing ran, on a framework adapter */
  formulation: z.string().optional(),
  /** with `--formulations`: the case's cell of the defaults table */
  formulationCell: FormulationCellFields.optional(),
  /** with `--formulations`: every formulation of the adapter on this case */
  formulations: z.array(FormulationTiming).optional(),
});
/** One adapter on one bench case. */
export type BenchResult = z.infer<typeof BenchResult>;

/** PyTorch's p50s of one case. */
const TorchCell = z.object({
  condconvP50Ms: z.number(),
  staticP50Ms: z.number(),
  samples: z.number(),
});

/**
 * PyTorch's warm p50 per case, or why it was not measured. `threads` and `results` are the
 * run with the most threads; `runs` holds every run (by default at 1 thread and at all
 * cores), each row being set against the one at its own thread count. Files written before
 * `runs` have the one run only.
 */
export const TorchBaseline = z.discriminatedUnion("status", [
  z.object({
    status: z.literal("measured"),
    torch: z.string(),
    threads: z.number().int().positive(),
    results: z.record(z.string(), TorchCell),
    runs: z.array(z.object({
      threads: z.int().positive(),
      results: z.record(z.string(), TorchCell),
    })).optional(),
  }),
  z.object({ status: z.literal("not-measured"), reason: z.string() }),
]);
/** PyTorch's warm p50 per case, or why it was not measured. */
export type TorchBaseline = z.infer<typeof TorchBaseline>;

/** An adapter as a bench run saw it. */
export const BenchAdapter = AdapterSummary.extend({ softwareGpu: z.boolean() });
/** An adapter as a bench run saw it. */
export type BenchAdapter = z.infer<typeof BenchAdapter>;

/** The machine-readable result of a benchmark run. */
export const BenchReport = z.object({
  kind: z.literal("bench"),
  /**
   * `machineLimits`: the roofline probe's figures, absent when the run did not probe;
   * `loadAverage`: `Deno.loadavg()` (1, 5 and 15 minutes) before and after the probe and at the
   * end of the run, where the task may read it (`--allow-sys=loadavg`)
   */
  environment: Environment.extend({
    machineLimits: MachineLimits.optional(),
    loadAverage: z.object({
      beforeProbe: z.array(z.number()).optional(),
      afterProbe: z.array(z.number()).optional(),
      atEnd: z.array(z.number()),
    }).optional(),
  }),
  /** absent from files written before filters were recorded */
  filters: RunFilters.optional(),
  settings: z.object({
    sets: z.array(z.string()),
    cases: z.array(z.string()),
    minSamples: z.number(),
    budgetMs: z.number(),
    torchThreads: z.number().nullable(),
    readback: z.string(),
    /** whether every formulation of the framework adapters was timed (`--formulations`) */
    formulations: z.boolean().optional(),
  }),
  adapters: z.array(BenchAdapter),
  results: z.array(BenchResult),
  torch: TorchBaseline,
});
/** The machine-readable result of a benchmark run. */
export type BenchReport = z.infer<typeof BenchReport>;

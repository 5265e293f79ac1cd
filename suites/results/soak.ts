/**
 * `reports/soak.json`, written by `deno task soak`: whether each adapter kept its resources
 * and memory flat over many runs and gave everything back on dispose.
 * @module
 */
import { z } from "zod";
import { Environment } from "./environment.ts";

/** Memory figures in bytes, from `Deno.memoryUsage()`. */
export const MemoryFigures = z.object({
  rss: z.number(),
  heapUsed: z.number(),
  external: z.number(),
});
/** Memory figures in bytes. */
export type MemoryFigures = z.infer<typeof MemoryFigures>;

const Counts = z.record(z.string(), z.number());

/** What the soak found for one adapter. */
export const SoakResult = z.object({
  adapter: z.string().min(1),
  status: z.enum(["pass", "fail", "skip", "error"]),
  /** why it failed, errored or was skipped */
  problems: z.array(z.string()),
  backend: z.string().optional(),
  runs: z.number().int(),
  cycles: z.number().int(),
  msPerRun: z.number().optional(),
  /** `resourceCounts()` (`{}` for an adapter without it) at each checkpoint */
  counts: z.object({
    beforePrepare: Counts,
    afterFirstRun: Counts,
    afterLastRun: Counts,
    afterDispose: Counts,
    beforeCycles: Counts,
    afterCycles: Counts,
  }).optional(),
  memory: z.object({
    afterWarmRun: MemoryFigures,
    afterLastRun: MemoryFigures,
    rssGrowthMiB: z.number(),
    externalGrowthMiB: z.number(),
    heapUsedGrowthMiB: z.number(),
    /** `heapUsed` growth over the second half of the runs: a steady leak shows here */
    heapUsedSecondHalfMiB: z.number(),
    /** whether the figures follow a forced GC */
    gcForced: z.boolean(),
  }).optional(),
  cyclesMs: z.number().optional(),
});
/** What the soak found for one adapter. */
export type SoakResult = z.infer<typeof SoakResult>;

/** The machine-readable result of a soak. */
export const SoakReport = z.object({
  kind: z.literal("soak"),
  environment: Environment,
  settings: z.object({
    runs: z.number().int(),
    cycles: z.number().int(),
    warmRun: z.number().int(),
    bounds: z.object({ rssMiB: z.number(), externalMiB: z.number(), heapUsedMiB: z.number() }),
    gcForced: z.boolean(),
    layer: z.object({
      spec: z.record(z.string(), z.unknown()),
      input: z.object({ batch: z.number(), height: z.number(), width: z.number() }),
    }),
  }),
  results: z.array(SoakResult),
});
/** The machine-readable result of a soak. */
export type SoakReport = z.infer<typeof SoakReport>;

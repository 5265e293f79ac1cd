/**
 * `reports/gate.json`, written by `deno task gate`: the working tree against a base revision,
 * one verdict per adapter and gate case, with every round's block medians behind it.
 * @module
 */
import { z } from "zod";
import { Environment } from "./environment.ts";

/** How head compares with base (`gate/stats.ts`'s `compareRounds`). */
export const Comparison = z.object({
  /** the median over block pairs of median(head block) / median(base block): above 1 is slower */
  ratio: z.number(),
  low: z.number(),
  high: z.number(),
  verdict: z.enum(["regressed", "improved", "unchanged"]),
  /** median of every head block median, all rounds (for the printed table) */
  headMedianMs: z.number(),
  baseMedianMs: z.number(),
  /** the rounds that had samples on both sides */
  rounds: z.number().int().nonnegative(),
});
/** How head compares with base. */
export type Comparison = z.infer<typeof Comparison>;

/** The verdict on one adapter x case. */
export const GateRow = Comparison.partial().extend({
  adapter: z.string().min(1),
  case: z.string().min(1),
  outcome: z.enum(["pass", "regressed", "accepted", "improved", "new", "broken"]),
  reason: z.string().optional(),
});
/** The verdict on one adapter x case. */
export type GateRow = z.infer<typeof GateRow>;

/** The two sides of a comparison. */
export const Side = z.enum(["head", "base"]);
/** The two sides of a comparison. */
export type Side = z.infer<typeof Side>;

/** One case of one round, on one side. */
export const SideCase = z.object({
  status: z.enum(["ready", "wrong", "error", "skip"]),
  reason: z.string().optional(),
  /** the median wall time of each timed block, ms, in the order the blocks ran */
  blocks: z.array(z.number()),
  /** runs per block */
  runs: z.number().int().nonnegative(),
});
/** One case of one round, on one side. */
export type SideCase = z.infer<typeof SideCase>;

/** One adapter x case in one round: both sides, or why the round was lost and on which side. */
export const RoundEntry = z.union([
  z.object({ head: SideCase, base: SideCase }),
  z.object({ error: z.string(), side: Side }),
]);
/** One adapter x case in one round. */
export type RoundEntry = z.infer<typeof RoundEntry>;

/** The machine-readable result of a gate run. */
export const GateReport = z.object({
  kind: z.literal("gate"),
  environment: Environment,
  base: z.object({ rev: z.string(), commit: z.string() }),
  settings: z.object({
    rounds: z.number().int(),
    blocks: z.number().int(),
    blockMs: z.number(),
    warmupMs: z.number(),
    timeoutMs: z.number(),
    threshold: z.number(),
    confidence: z.number(),
    adapters: z.array(z.string()),
    cases: z.array(z.string()),
  }),
  rows: z.array(GateRow),
  /** each adapter's availability info (versions, threads, device) on both sides */
  sides: z.record(z.string(), z.record(z.string(), z.record(z.string(), z.unknown()))),
  /** per `<adapter>|<case>`, every round */
  rounds: z.record(z.string(), z.array(RoundEntry)),
  passed: z.boolean(),
});
/** The machine-readable result of a gate run. */
export type GateReport = z.infer<typeof GateReport>;

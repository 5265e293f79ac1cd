/**
 * `reports/conformance.json`, written by `deno task conform`: every adapter's verdict on every
 * golden case (or on a user's layer), with the tolerance policy that judged it.
 * @module
 */
import { z } from "zod";
import { AdapterSummary, AppliedWorkarounds, RunFilters } from "./adapter_summary.ts";
import { Environment } from "./environment.ts";

/** The verdicts, in the order summaries list them. */
export const CONFORM_STATUSES = ["pass", "fail", "known-fail", "skip", "error"] as const;
/** One verdict: `known-fail` is a fail listed in `known_failures.ts` (a library's bug). */
export const ConformStatus = z.enum(CONFORM_STATUSES);
/** One verdict. */
export type ConformStatus = z.infer<typeof ConformStatus>;

/** Counts per verdict, all zero. */
export function emptySummary(): Record<ConformStatus, number> {
  return Object.fromEntries(CONFORM_STATUSES.map((s) => [s, 0])) as Record<ConformStatus, number>;
}

/** The verdict of one adapter on one case. */
export const ConformResult = z.object({
  adapter: z.string().min(1),
  case: z.string().min(1),
  status: ConformStatus,
  maxAbsErr: z.number().optional(),
  maxRelErr: z.number().optional(),
  /** the largest error as a fraction of what the tolerance allows (pass: at most 1) */
  worstRatio: z.number().optional(),
  atol: z.number().optional(),
  rtol: z.number().optional(),
  /** PyTorch's own float32 max abs error on this case, which anchors `atol` */
  torchFloat32MaxAbsErr: z.number().optional(),
  /** the backend that really ran */
  backend: z.string().optional(),
  /** the WebGPU implementation under it (e.g. "wgpu/vulkan"), where the runner knows it */
  implementation: z.string().optional(),
  reason: z.string().optional(),
  /** on a pass of a pair listed as a known failure: that the bug did not show here */
  note: z.string().optional(),
  /** what the layer changed to avoid a library bug: a pass with it is the workaround's */
  workarounds: AppliedWorkarounds.optional(),
  prepareMs: z.number().optional(),
  runMs: z.number().optional(),
});
/** The verdict of one adapter on one case. */
export type ConformResult = z.infer<typeof ConformResult>;

/** Counts per verdict. */
export const ConformSummary = z.object({
  pass: z.number().int(),
  fail: z.number().int(),
  /** absent from files written before known failures were listed */
  "known-fail": z.number().int().optional(),
  skip: z.number().int(),
  error: z.number().int(),
});

/** The machine-readable result of a conformance run. */
export const ConformReport = z.object({
  kind: z.literal("conformance"),
  environment: Environment,
  /** absent from files written before filters were recorded */
  filters: RunFilters.optional(),
  /** absent from files written before the policy was recorded */
  tolerancePolicy: z.object({
    classes: z.record(z.string(), z.object({ atol: z.number(), rtol: z.number() })),
    torchErrorFactor: z.number(),
    rule: z.string(),
  }).optional(),
  adapters: z.array(AdapterSummary),
  results: z.array(ConformResult),
  summary: ConformSummary,
});
/** The machine-readable result of a conformance run. */
export type ConformReport = z.infer<typeof ConformReport>;

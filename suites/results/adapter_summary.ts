/**
 * What an adapter said about itself before the cases ran, as every result file records it,
 * and the filters of a run (issue 14: a filtered run must never read as a full one).
 * @module
 */
import { z } from "zod";
import type { GpuSummary as ProbedGpu } from "../../impls/_webgpu.ts";

/** The GPU adapter a WebGPU adapter ran on: `impls/_webgpu.ts`'s `GpuSummary`, as stored. */
export const GpuSummary = z.object({
  vendor: z.string(),
  architecture: z.string(),
  device: z.string(),
  description: z.string(),
  isFallbackAdapter: z.boolean().nullable(),
  /** a CPU rasteriser posing as a GPU (llvmpipe, SwiftShader, ...): its timings are CPU ones */
  software: z.boolean(),
  timestampQuery: z.boolean(),
  limits: z.record(z.string(), z.number()),
});
/** The GPU adapter a WebGPU adapter ran on. */
export type GpuSummary = z.infer<typeof GpuSummary>;

// The probe's type and the stored one are the same record (checked by `deno check`).
const _sameGpu = (g: ProbedGpu): GpuSummary => g;
const _sameGpuBack = (g: GpuSummary): ProbedGpu => g;

/** What an adapter said about itself before the cases ran. */
export const AdapterSummary = z.object({
  id: z.string().min(1),
  description: z.string(),
  toleranceClass: z.string(),
  available: z.boolean(),
  /** the backend that will really run */
  backend: z.string().optional(),
  /** why the adapter is not available */
  reason: z.string().optional(),
  info: z.record(z.string(), z.unknown()).optional(),
  /** for a WebGPU adapter: the GPU adapter it runs on (`Availability.gpu`) */
  gpu: GpuSummary.optional(),
  /** where it ran, as its result rows say (`wgpu/gl llvmpipe ...`, `deno`) */
  implementation: z.string().optional(),
});
/** What an adapter said about itself before the cases ran. */
export type AdapterSummary = z.infer<typeof AdapterSummary>;

/** The filters a conform or bench run was started with, as given on the command line. */
export const RunFilters = z.object({
  /** `--adapter` ids or globs; empty: every registered adapter */
  adapters: z.array(z.string()),
  /** `--case` ids or globs; empty: no case filter */
  cases: z.array(z.string()),
  /** bench's `--set` names (empty for conform) */
  sets: z.array(z.string()),
  /** bench's `--batch` sizes (empty: each case's own) */
  batches: z.array(z.number().int().positive()),
  /** `--weights`: the user's layer file checked instead of the goldens, or null */
  weights: z.string().nullable(),
  /** how many golden cases the fixture manifest holds (null for a `--weights` run) */
  goldenCases: z.number().int().nonnegative().nullable(),
  /**
   * whether the adapters' workarounds of library bugs were on (`--no-workarounds`: false, so
   * that raw bugs show under their known-failure rules); absent from files written before
   * it was recorded
   */
  workarounds: z.boolean().optional(),
});
/** The filters a conform or bench run was started with. */
export type RunFilters = z.infer<typeof RunFilters>;

/**
 * On a result row: what the adapter's layer changed to avoid a library bug
 * (`PreparedCondConv.workarounds`), so that a pass it made is not read as the library's own.
 * Absent where it changed nothing.
 */
export const AppliedWorkarounds = z.array(z.string().min(1)).min(1);

/**
 * The environment block every result file carries: runtime, machine and versions of one run.
 * @module
 */
import { z } from "zod";
import { GpuSummary } from "./adapter_summary.ts";

/** Thread counts: asked for, and what the engine reports it runs (null: not reported). */
const ThreadCount = z.object({ requested: z.number().int(), running: z.number().int().nullable() });

/** The browser a run of `deno task browser` ran the adapters in. */
export const BrowserInfo = z.object({
  /** e.g. `"chromium 156"`, as the rows' `implementation` starts */
  name: z.string(),
  /** `Browser.version()`, e.g. `"Chrome/156.0.8078.114"` */
  version: z.string(),
  executablePath: z.string(),
  userAgent: z.string(),
  flags: z.array(z.string()),
  crossOriginIsolated: z.boolean(),
  sharedArrayBuffer: z.boolean(),
  hardwareConcurrency: z.object({
    /** the machine's logical cores */
    real: z.number().int(),
    /** what `navigator.hardwareConcurrency` said in the page */
    page: z.number().int(),
    /** why the page was told another count (DevTools `Emulation.setHardwareConcurrencyOverride`) */
    override: z.string().nullable(),
  }),
  /** per engine: ort (onnxruntime-web `numThreads`), tfjs (XNNPACK threads), ts (workers) */
  threads: z.object({ ort: ThreadCount, tfjs: ThreadCount, ts: ThreadCount }),
  /** the GPU adapter the page's `navigator.gpu` gives, or why there is none */
  gpu: z.union([GpuSummary, z.object({ reason: z.string() })]),
});
/** The browser a run of `deno task browser` ran the adapters in. */
export type BrowserInfo = z.infer<typeof BrowserInfo>;

/** Runtime, machine and version facts of one run. */
export const Environment = z.object({
  /** when the run started, ISO 8601 */
  date: z.string().min(1),
  deno: z.string(),
  v8: z.string(),
  typescript: z.string(),
  os: z.string(),
  arch: z.string(),
  cpuModel: z.string().nullable(),
  logicalCores: z.number().int().nonnegative(),
  gitCommit: z.string().nullable(),
  /** npm packages and versions from deno.json's import map */
  packages: z.record(z.string(), z.string()),
  /** where the adapters ran in a browser (`deno task browser`); absent: in Deno */
  browser: BrowserInfo.optional(),
});
/** Runtime, machine and version facts of one run. */
export type Environment = z.infer<typeof Environment>;

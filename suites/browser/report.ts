/**
 * The result files of `deno task browser`: a conformance report and a bench report of the
 * kinds `deno task conform` and `deno task bench` write (`suites/results/`), whose environment
 * adds a `browser` block: the browser and its version, its flags, isolation, the
 * `hardwareConcurrency` the page saw (and any override), the thread count of each wasm engine
 * and the GPU adapter (`GpuSummary`). Each report is checked against its schema before it is
 * written.
 * @module
 */
import { z } from "zod";
import { GpuSummary } from "../results/adapter_summary.ts";
import { BenchReport } from "../results/bench.ts";
import { ConformReport } from "../results/conformance.ts";
import { Environment } from "../results/environment.ts";

/** Thread counts: asked for, and what the engine reports it runs. */
const ThreadCount = z.object({ requested: z.number().int(), running: z.number().int().nullable() });

/** What a browser run adds to the environment. */
export const BrowserInfo = z.object({
  /** e.g. `"chromium 156"`, as the rows' `implementation` starts */
  name: z.string(),
  /** `Browser.version()`, e.g. `"HeadlessChrome/156.0.8078.114"` */
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
/** What a browser run adds to the environment. */
export type BrowserInfo = z.infer<typeof BrowserInfo>;

/** The environment of a browser run. */
export const BrowserEnvironment = Environment.extend({ browser: BrowserInfo });
/** The environment of a browser run. */
export type BrowserEnvironment = z.infer<typeof BrowserEnvironment>;

/** `reports/browser-conformance.json`: a conformance report with a browser environment. */
export const BrowserConformReport = ConformReport.extend({ environment: BrowserEnvironment });
/** `reports/browser-conformance.json`. */
export type BrowserConformReport = z.infer<typeof BrowserConformReport>;

/** `reports/browser-bench.json`: a bench report with a browser environment. */
export const BrowserBenchReport = BenchReport.extend({ environment: BrowserEnvironment });
/** `reports/browser-bench.json`. */
export type BrowserBenchReport = z.infer<typeof BrowserBenchReport>;

/** Parses `report` with `schema`; a `TypeError` lists every field that is wrong. */
export function checked<T>(schema: z.ZodType<T>, report: unknown, what: string): T {
  const parsed = schema.safeParse(report);
  if (!parsed.success) {
    throw new TypeError(`Invalid ${what} report:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The thread count an adapter's info reports, where it has one. */
export function runningThreads(
  adapters: readonly { id: string; info?: Record<string, unknown> }[],
  id: string,
  key: string,
): number | null {
  const value = adapters.find((a) => a.id === id)?.info?.[key];
  return typeof value === "number" ? value : null;
}

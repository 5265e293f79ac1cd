/**
 * The result files of `deno task browser`: a conformance report and a bench report of the
 * kinds `deno task conform` and `deno task bench` write (`suites/results/`), whose environment
 * has its `browser` block (`BrowserInfo`: the browser and its version, its flags, isolation,
 * the `hardwareConcurrency` the page saw and any override, the thread count of each wasm
 * engine, the GPU adapter). Each report is checked against its schema before it is written.
 * @module
 */
import { z } from "zod";
import { BenchReport } from "../results/bench.ts";
import { ConformReport } from "../results/conformance.ts";
import { BrowserInfo, Environment } from "../results/environment.ts";

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

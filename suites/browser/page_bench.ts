/**
 * The smoke benchmark inside the page: for each adapter and bench case, the one verify path
 * (`_shared/verify.ts`) checks the layer first, as `deno task bench` does, and only a layer
 * that passed is timed: `warmup` runs, then `runs` timed runs, each awaiting its output read
 * back to the CPU. A few runs give a warm p50, not mitata's budgeted sampling; the rows use the
 * bench report's schema. Runtime-neutral (web APIs only).
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { messageOf, withTimeout } from "../_shared/calls.ts";
import { announce, type CheckTarget, verify } from "../_shared/verify.ts";
import type { AdapterSummary } from "../results/adapter_summary.ts";
import type { BenchAdapter, BenchResult } from "../results/bench.ts";
import type { BenchMeta } from "./targets.ts";
import { benchRow, checkedFields, type RowCase, timingStats } from "../bench/rows.ts";

/** How many runs to make per adapter and case. */
export interface BenchOptions {
  runs: number;
  warmup: number;
  timeoutMs: number;
}

/** One bench case in the page. */
export interface PageBenchCase extends BenchMeta {
  target: CheckTarget;
}

/** What the page's benchmark gives. */
export interface PageBench {
  adapters: BenchAdapter[];
  results: BenchResult[];
}

function rowCase(c: PageBenchCase): RowCase {
  return { id: c.target.id, goldenCase: c.goldenCase, batch: c.batch, target: c.target };
}

async function benchCase(
  adapter: CondConvAdapter,
  summary: BenchAdapter,
  c: PageBenchCase,
  options: BenchOptions,
): Promise<BenchResult> {
  const { target } = c;
  const result = benchRow(adapter.id, rowCase(c), "error", {
    backend: summary.backend,
    softwareGpu: summary.softwareGpu,
    implementation: summary.implementation,
  });
  const verdict = await verify(adapter, summary.backend!, target, {
    timeoutMs: options.timeoutMs,
    keep: true,
    implementation: summary.implementation,
  });
  Object.assign(result, checkedFields(verdict, c.checkedAgainst));
  if (verdict.status === "error") return { ...result, reason: verdict.reason };
  if (!verdict.layer) return { ...result, status: "wrong", reason: `${verdict.reason}: not timed` };
  const { prepared, run } = verdict.layer;
  try {
    for (let i = 0; i < options.warmup; i++) await withTimeout(run(), options.timeoutMs, "warmup");
    const samples: number[] = [];
    for (let i = 0; i < options.runs; i++) {
      const t0 = performance.now();
      await withTimeout(run(), options.timeoutMs, "timed run");
      samples.push(performance.now() - t0);
    }
    result.warm = timingStats(samples);
    result.gflops = result.flops.total / result.warm.p50Ms / 1e6;
    result.static = {
      status: "not-measured",
      reason: "the browser smoke benchmark times CondConv only",
    };
    result.status = "timed";
  } catch (error) {
    result.reason = messageOf(error);
  } finally {
    await prepared.dispose().catch(() => {});
  }
  return result;
}

/** Every adapter over every case; an adapter's fault is a row, never a throw. */
export async function benchInPage(
  adapters: readonly CondConvAdapter[],
  cases: readonly PageBenchCase[],
  implementationOf: (summary: AdapterSummary) => string,
  options: BenchOptions,
): Promise<PageBench> {
  const out: PageBench = { adapters: [], results: [] };
  for (const adapter of adapters) {
    const announced = await announce(adapter, options.timeoutMs);
    const softwareGpu = announced.summary.gpu?.software ?? false;
    const summary: BenchAdapter = { ...announced.summary, softwareGpu };
    summary.implementation = implementationOf(summary);
    out.adapters.push(summary);
    for (const c of cases) {
      if (announced.backend === undefined) {
        out.results.push(
          benchRow(adapter.id, rowCase(c), announced.failed ? "error" : "skip", {
            reason: summary.reason,
            softwareGpu,
            implementation: summary.implementation,
          }),
        );
        continue;
      }
      out.results.push(await benchCase(adapter, summary, c, options));
    }
  }
  return out;
}

/**
 * bench.md's section on the machine and PyTorch: the measured limits, then one line per timed
 * row with its threads, its percent of the roofline ceiling (and its static convolution's),
 * and its time over PyTorch's at its own thread count. Runtime-neutral, no imports beyond
 * types and formatting.
 * @module
 */
import type { BenchReport, BenchResult } from "../results/bench.ts";
import type { LimitFigure, RooflinePoint } from "../results/machine_limits.ts";
import { fmtGflops, fmtRatio, mdTable, wrap } from "../report/format.ts";
import { rowLabel } from "../_shared/webgpu_matrix.ts";
import { torchRunFor } from "./threads.ts";

/** A percent with three significant digits (`-` when absent). */
function fmtPercent(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : `${v.toPrecision(3)}%`;
}

/** `12.3% (compute, 4.56 of 37.1 GFLOP/s)` for a roofline point. */
function fmtPoint(p: RooflinePoint | undefined): string {
  if (!p) return "-";
  return `${fmtPercent(p.percentOfCeiling)} (${p.boundBy}, ${fmtGflops(p.gflops)} of ` +
    `${fmtGflops(p.ceilingGflops)})`;
}

/** The PyTorch runs of a report: every run, or the one a file before `runs` holds. */
function torchRuns(torch: BenchReport["torch"]) {
  if (torch.status !== "measured") return [];
  return torch.runs ?? [{ threads: torch.threads, results: torch.results }];
}

/** `x torch` of a row: its p50 over PyTorch's at the row's threads, and which run that was. */
function overTorch(report: BenchReport, r: BenchResult): string {
  const run = torchRunFor(torchRuns(report.torch), r.threads);
  const t = run?.results[r.case];
  if (!run || !t || !r.warm) return "-";
  return `${fmtRatio(r.warm.p50Ms / t.condconvP50Ms)} (${run.threads}t)`;
}

/** The limits line: one thread / all threads of each figure. */
function limitsLine(report: BenchReport): string {
  const limits = report.environment.machineLimits;
  if (!limits) {
    return "The machine's limits were not measured (`--no-roofline`): rows have no roofline.";
  }
  const f = (x: { oneThread: LimitFigure; allThreads: LimitFigure }) =>
    `${x.oneThread.best.toPrecision(3)} / ${x.allThreads.best.toPrecision(3)}`;
  const load = report.environment.loadAverage;
  const one = (avg: number[] | undefined) => avg?.[0]?.toFixed(2) ?? "-";
  const loadText = load
    ? ` Load average (1 min) before the probe ${one(load.beforeProbe)}, after it ` +
      `${one(load.afterProbe)}, at the end ${one(load.atEnd)}.`
    : "";
  const warnings = limits.warnings.length > 0 ? ` Warnings: ${limits.warnings.join("; ")}.` : "";
  return `Measured limits on 1 / ${limits.threads} threads (best of ` +
    `${limits.method.repetitions} rounds, ${(limits.elapsedMs / 1000).toFixed(1)} s): wasm SIMD ` +
    `${f(limits.wasmSimdGflops)} GFLOP/s, scalar JavaScript ${f(limits.scalarJsGflops)} ` +
    `GFLOP/s, triad bandwidth ${f(limits.bandwidthGBps)} GB/s.${loadText}${warnings}`;
}

/** The section's lines (ending with a blank line). */
export function renderRooflineSection(report: BenchReport): string[] {
  const lines = ["## Against the machine and PyTorch at equal threads", ""];
  lines.push(wrap(limitsLine(report)), "");
  lines.push(
    wrap(
      "`% of ceiling` is the row's GFLOP/s over its roofline ceiling, min(peak, intensity x " +
        "bandwidth) at the row's threads: the wasm SIMD peak for the wasm adapters, scalar " +
        "JavaScript for reference, ts and tfjs-cpu (bytes: each tensor read or written once). " +
        "GPU rows have none: the limits are the CPU's. `threads` comes from the adapter's info " +
        '("assumed: all cores" where it names none). `x torch` is the p50 over PyTorch\'s ' +
        "at the thread count in parentheses: the run at the row's own threads, else the " +
        "nearest; a GPU row is set against the run with the most threads.",
    ),
    "",
  );
  const timed = report.results.filter((r) => r.status === "timed" && r.warm);
  const rows = timed.map((r) => [
    rowLabel(r),
    r.case,
    r.threads === undefined ? "GPU" : `${r.threads} (${r.threadsFrom ?? "-"})`,
    fmtPoint(r.roofline),
    fmtPoint(r.static?.roofline),
    overTorch(report, r),
  ]);
  const header = ["adapter", "case", "threads", "% of ceiling", "static % of ceiling", "x torch"];
  lines.push(mdTable(header, rows, header.map((_, i) => (i < 3 ? "left" : "right"))), "");
  return lines;
}

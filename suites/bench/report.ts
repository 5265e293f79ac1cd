/**
 * Rendering benchmark results: one terminal row per result, and the Markdown summary. Numbers
 * are written as `deno task report` writes them (`report/format.ts`).
 * @module
 */
import { formulationMarkdown } from "../report/formulations.ts";
import { anchorMarkdown, type AnchorRow, anchorRows } from "../report/anchors.ts";
import type { BenchReport, BenchResult, TimingStats } from "../results/bench.ts";
import { fmtGflops, fmtMs as ms, fmtRatio, mdTable, wrap } from "../report/format.ts";
import { rowLabel } from "../_shared/webgpu_matrix.ts";
import {
  fasterThanStaticWithinNoise,
  fmtInterval,
  isNoisy,
  NOISY_P99_OVER_P50,
} from "../report/noise.ts";
import { type Painter, paintVerdict, plain } from "../_shared/terminal.ts";
import { workaroundsNote } from "../conform/print.ts";
import { renderRooflineSection } from "./report_roofline.ts";

/** One line of the progress table, its verdict coloured by `paint`. */
export function formatBenchRow(r: BenchResult, paint: Painter = plain): string {
  const head = `${rowLabel(r).padEnd(16)} ${r.case.padEnd(36)}`;
  const software = r.softwareGpu ? "  [software GPU]" : "";
  const status = `${r.status.toUpperCase()}${workaroundsNote(r.workarounds)}`;
  if (r.status !== "timed" || !r.warm) {
    // A known bug's whole story is in the report; the row names the rule.
    const reason = r.knownFailure === undefined
      ? r.reason ?? ""
      : `known library bug ${r.knownFailure} (suites/conform/known_failures.ts): not timed`;
    const verdict = r.status === "wrong" && r.knownFailure !== undefined ? "known-fail" : r.status;
    return `${head} ${paintVerdict(paint, verdict, status)}  ${reason}${software}`;
  }
  const gpu = r.gpu ? `  gpu p50 ${ms(r.gpu.p50Ms)} ms` : "";
  const overhead = r.overVsStatic == null
    ? `  static: ${r.static?.status ?? "-"}`
    : `  ${fmtRatio(r.overVsStatic)} static`;
  return `${head} p50 ${ms(r.warm.p50Ms).padStart(8)} ms  p99 ${
    ms(r.warm.p99Ms).padStart(8)
  } ms  ` +
    `${fmtGflops(r.gflops ?? undefined).padStart(7)} GFLOP/s  cold ${ms(r.cold?.prepareMs)}+` +
    `${ms(r.cold?.firstRunMs)} ms${gpu}${overhead}${workaroundsNote(r.workarounds)}${software}`;
}

/** A timing's p50 and interval, as `noise.ts` compares them. */
function interval(w: TimingStats | undefined) {
  return w && { p50Ms: w.p50Ms, lowMs: w.p50Ci?.lowMs, highMs: w.p50Ci?.highMs };
}

/** PyTorch and ort-node side by side, PyTorch's run at ort-node's thread count. */
function benchAnchors(report: BenchReport): AnchorRow[] {
  const torch = report.torch.status === "measured" ? report.torch : undefined;
  const runs = torch?.runs ?? (torch ? [{ threads: torch.threads, results: torch.results }] : []);
  return anchorRows(
    report.settings.cases,
    (c) => {
      const r = report.results.find((x) => x.adapter === "ort-node" && x.case === c);
      return r?.warm && r.threads ? { p50Ms: r.warm.p50Ms, threads: r.threads } : undefined;
    },
    (c, threads) => {
      const run = runs.find((x) => x.threads === threads);
      const cell = run?.results[c];
      return run && cell ? { p50Ms: cell.condconvP50Ms, threads: run.threads } : undefined;
    },
  );
}

/** The Markdown summary: environment, then one table per case set of batch sizes. */
export function renderBenchMarkdown(report: BenchReport): string {
  const env = report.environment;
  const lines: string[] = [];
  lines.push("# condconv-bench results", "");
  lines.push(
    `Deno ${env.deno} (V8 ${env.v8}), ${env.os}/${env.arch}, ${env.cpuModel ?? "unknown CPU"}, ` +
      `${env.logicalCores} logical cores, commit ${env.gitCommit?.slice(0, 10) ?? "unknown"}, ` +
      `${env.date}.`,
    "",
  );
  for (const a of report.adapters) {
    const state = a.available
      ? `\`${a.backend}\`${
        a.softwareGpu ? " — **software GPU adapter (llvmpipe): not a GPU figure**" : ""
      }`
      : `skipped: ${a.reason}`;
    lines.push(`- **${a.id}**: ${state}`);
  }
  const torch = report.torch;
  lines.push(
    torch.status === "measured"
      ? `- **PyTorch** ${torch.torch} on the CPU, runs at ${
        (torch.runs ?? [torch]).map((r) => r.threads).join(" and ")
      } threads (the table's column: ${torch.threads} threads)`
      : `- **PyTorch**: not measured (${torch.reason})`,
    "",
    wrap(
      "Warm p50 wall time per run in ms (output read back to the CPU included), GFLOP/s in " +
        "parentheses; `x static` is CondConv's p50 over the same adapter's static convolution " +
        "of the same shape. `wrong` means the adapter failed the correctness check on that case " +
        "and was not timed. `[low, high]` is the p50's 95% bootstrap confidence interval; " +
        `\`noisy\` marks a p99 above ${NOISY_P99_OVER_P50}x the p50 (measure again on a quiet ` +
        "machine); `within noise` marks an `x static` below 1 whose two p50 intervals overlap.",
    ),
    "",
  );
  const adapters = report.adapters.filter((a) => a.available).map((a) => a.id);
  const header = ["case", ...adapters, "PyTorch CPU"];
  const rows = report.settings.cases.map((caseId) => {
    const cells = adapters.map((id) => {
      const r = report.results.find((x) => x.adapter === id && x.case === caseId);
      if (!r) return "-";
      if (r.status !== "timed" || !r.warm) return r.status;
      const within = fasterThanStaticWithinNoise(interval(r.warm), interval(r.static?.warm));
      const overhead = r.overVsStatic == null
        ? ""
        : `, ${fmtRatio(r.overVsStatic)} static${within ? " within noise" : ""}`;
      const ci = fmtInterval(r.warm.p50Ci?.lowMs, r.warm.p50Ci?.highMs, ms);
      const noisy = isNoisy(r.warm.p50Ms, r.warm.p99Ms) ? " noisy" : "";
      return `${ms(r.warm.p50Ms)} ${ci === "-" ? "" : `${ci} `}(${
        fmtGflops(r.gflops ?? undefined)
      }${overhead})${noisy}`;
    });
    const t = torch.status === "measured" ? torch.results[caseId] : undefined;
    const torchCell = t
      ? `${ms(t.condconvP50Ms)} (${fmtRatio(t.condconvP50Ms / t.staticP50Ms)} static)`
      : "-";
    return [caseId, ...cells, torchCell];
  });
  lines.push(mdTable(header, rows, header.map((_, i) => (i === 0 ? "left" : "right"))), "");
  lines.push(...renderRooflineSection(report));
  lines.push(...anchorMarkdown(benchAnchors(report)));
  lines.push(...formulationMarkdown(report.results));
  return lines.join("\n");
}

/**
 * Markdown of `deno task report`: `RESULTS.md` (every machine, every figure) and the compact
 * block between README's results markers. Tables and paragraphs are emitted in the form
 * `deno fmt` gives them (padded columns, prose wrapped at 100), so a formatted README stays
 * formatted after a report.
 * @module
 */
import { formulationMarkdown } from "./formulations.ts";
import { anchorMarkdown, type AnchorRow, anchorRows } from "./anchors.ts";
import {
  adaptersOf,
  gpuName,
  gpusOf,
  type Machine,
  type ReportRow,
  type ResultFile,
  rowsOfSet,
} from "./input.ts";
import { fmtErr, fmtGflops, fmtMs, fmtRatio, LINE_WIDTH, mdTable, wrap } from "./format.ts";
import { fmtInterval, NOISY_P99_OVER_P50 } from "./noise.ts";
import { environmentFacts, fileTag, mixedRunsNote } from "./provenance.ts";

export { environmentFacts } from "./provenance.ts";
import type { Reporter } from "./reporter.ts";
import { CONFORM_STATUSES, type ConformStatus, emptySummary } from "../results/conformance.ts";

/** README's markers; the report replaces what lies between them. */
export const README_MARKERS = {
  start: "<!-- results:start -->",
  end: "<!-- results:end -->",
} as const;

/** A bullet item, wrapped with its continuation lines indented. */
function bullet(text: string): string {
  return wrap(`- ${text}`, LINE_WIDTH, "  ");
}

/** The adapter's name in tables, flagged when it ran on a software GPU adapter. */
export function adapterLabel(id: string, softwareGpu: boolean): string {
  return softwareGpu ? `${id} (software GPU)` : id;
}

/** The conformance cell of a row: the verdict and its share of the tolerance. */
export function conformanceText(row: ReportRow): string {
  const c = row.conformance;
  if (!c) return "not run";
  const status = c.status === "fail"
    ? "FAIL"
    : c.status === "known-fail"
    ? "FAIL (known bug)"
    : c.status;
  return c.worstRatio === undefined ? status : `${status} (${c.worstRatio.toPrecision(2)} of tol)`;
}

/** One file of a machine, as the environment header lists it. */
function fileLine(file: ResultFile): string {
  const env = file.report.environment;
  return `${file.kind} \`${file.path}\`: commit ${
    env.gitCommit ? `\`${env.gitCommit.slice(0, 10)}\`` : "unknown"
  }, ${env.date}, Deno ${env.deno}`;
}

/** The loud warning shown above a machine's tables when it used a software GPU adapter. */
export function softwareGpuWarning(machine: Machine): string {
  const soft = machine.gpus.filter((g) => g.software).map((g) => g.description || g.vendor);
  const which = soft.length > 0 ? soft.join(", ") : "a software (fallback) adapter";
  const from = machine.files.filter((f) =>
    f.report.adapters.some((a) =>
      ("softwareGpu" in a && a.softwareGpu === true) || gpusOf(a).some((g) => g.software)
    )
  ).map(fileTag);
  return `**Warning: software GPU.** The WebGPU adapter of this machine is ${which} ` +
    `(reported by ${from.join(", ") || "its bench rows"}), which runs on the CPU. Figures ` +
    `marked "software GPU" are CPU figures, NOT GPU figures.`;
}

/** The timing cells of a row: p50 (or the status when it was not timed), its CI, min, p99, max. */
function timingCells(row: ReportRow): string[] {
  if (row.status !== "timed" || row.p50Ms === undefined) return [row.status, "-", "-", "-", "-"];
  return [
    fmtMs(row.p50Ms),
    fmtInterval(row.p50LowMs, row.p50HighMs, fmtMs),
    fmtMs(row.minMs),
    fmtMs(row.p99Ms),
    fmtMs(row.maxMs),
  ];
}

/** The flags of a row: `noisy` (p99/p50 above the threshold), `x static within noise`. */
export function rowFlags(row: ReportRow): string[] {
  const flags: string[] = [];
  if (row.noisy) flags.push("noisy");
  if (row.staticWithinNoise) flags.push("x static within noise");
  return flags;
}

/** What the flags and the interval mean, for the legends of `RESULTS.md` and the page. */
export const FLAGS_LEGEND = "`p50 95% CI` is a 95% bootstrap confidence interval of the p50 " +
  "(1000 resamples of the samples, seeded). Flags: `noisy` marks a timing whose p99 is more " +
  `than ${NOISY_P99_OVER_P50}x its p50, where interruptions rather than the code decide the ` +
  "tail (`suites/report/noise.ts` has the data behind the threshold): measure it again on a " +
  "quiet machine; `x static within noise` marks an `over static` below 1 whose two p50 " +
  "intervals overlap, so the data do not show CondConv to be faster than its static convolution.";

/** Reasons of untimed rows, one line per adapter and reason. */
function untimedNotes(rows: readonly ReportRow[]): string[] {
  const groups = new Map<
    string,
    { adapter: string; status: string; reason: string; cases: string[] }
  >();
  for (const r of rows) {
    if (r.status === "timed") continue;
    const reason = r.reason ?? "no reason recorded";
    const key = `${r.adapter}\u0000${r.status}\u0000${reason}`;
    const g = groups.get(key) ?? { adapter: r.adapter, status: r.status, reason, cases: [] };
    g.cases.push(r.case);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) =>
    `**${g.adapter}** ${g.status} on ${
      g.cases.length > 3 ? `${g.cases.length} cases` : g.cases.join(", ")
    }: ${g.reason}`
  );
}

/** The header of the full table. */
export const FULL_TABLE_HEADER = [
  "case",
  "adapter",
  "p50 ms",
  "p50 95% CI",
  "min ms",
  "p99 ms",
  "max ms",
  "GFLOP/s",
  "vs reference",
  "vs ts",
  "over static",
  "PyTorch CPU ms",
  "conformance",
  "max abs err",
  "flags",
] as const;

/** The cells of one row of the full table, in `FULL_TABLE_HEADER` order. */
export function fullTableCells(row: ReportRow): string[] {
  return [
    row.case,
    adapterLabel(row.adapter, row.softwareGpu),
    ...timingCells(row),
    fmtGflops(row.gflops),
    fmtRatio(row.vsReference),
    fmtRatio(row.vsTs),
    fmtRatio(row.overVsStatic),
    fmtMs(row.torchP50Ms),
    conformanceText(row),
    fmtErr(row.conformance?.maxAbsErr),
    rowFlags(row).join(", "),
  ];
}

/** The adapters of a machine as list items: backend or why it was skipped. */
export function adapterFacts(machine: Machine): string[] {
  return machine.adapters.map((a) => {
    if (!a.available) return `**${a.id}**: not available: ${a.reason ?? "no reason recorded"}`;
    const gpu = a.gpus.length > 0 ? ` on ${a.gpus.map(gpuName).join(", ")}` : "";
    const soft = a.softwareGpu ? ": **software GPU, not GPU figures**" : "";
    return `**${a.id}**: \`${a.backend ?? "?"}\`${gpu}${soft}`;
  });
}

/** Conformance totals per adapter of a machine (newest file per adapter and case). */
export function conformanceTotals(
  machine: Machine,
): ({ adapter: string } & Record<ConformStatus, number>)[] {
  const verdicts = new Map<string, Map<string, string>>();
  for (const file of machine.files) {
    if (file.kind !== "conformance") continue;
    for (const r of file.report.results) {
      const byCase = verdicts.get(r.adapter) ?? new Map<string, string>();
      byCase.set(r.case, r.status);
      verdicts.set(r.adapter, byCase);
    }
  }
  return [...verdicts.entries()].map(([adapter, byCase]) => {
    const t = { adapter, ...emptySummary() };
    for (const s of byCase.values()) t[s as ConformStatus]++;
    return t;
  });
}

/**
 * Which cases a machine's conformance verdicts cover, as the tables' heading says it:
 * `all 71 golden cases` only when the files name the manifest's size (their `filters`) and
 * their cases add up to all of it; `13 of 71 golden cases` for a filtered run; `13 cases` when
 * the files do not say (written before filters were recorded, or a `--weights` layer).
 */
export function conformanceCoverage(machine: Machine): string {
  const files = machine.files.flatMap((f) => f.kind === "conformance" ? [f.report] : []);
  const cases = new Set(files.flatMap((r) => r.results.map((x) => x.case))).size;
  const totals = files.map((r) => r.filters?.weights === null ? r.filters.goldenCases : null);
  if (totals.every((t): t is number => t !== null) && totals.length > 0) {
    const total = Math.max(...totals);
    return cases === total ? `all ${total} golden cases` : `${cases} of ${total} golden cases`;
  }
  return `${cases} case${cases === 1 ? "" : "s"}`;
}

/** PyTorch (its all-cores run) and ort-node side by side on `cases` of machine `m`. */
export function machineAnchors(m: Machine, cases: readonly string[]): AnchorRow[] {
  return anchorRows(
    cases,
    (c) => {
      const r = m.rows.find((x) => x.adapter === "ort-node" && x.case === c);
      return r?.p50Ms !== undefined && r.threads
        ? { p50Ms: r.p50Ms, threads: r.threads }
        : undefined;
    },
    (c) => {
      const t = m.torch.get(c);
      return t ? { p50Ms: t.condconvP50Ms, threads: t.threads } : undefined;
    },
  );
}

/** `RESULTS.md`: per machine, the environment, the adapters and the full tables. */
export function renderResultsMarkdown(machines: readonly Machine[]): string {
  const out: string[] = ["# condconv-bench results", ""];
  out.push(
    wrap(
      "Generated by `deno task report`. Warm wall time per run in ms over mitata's samples " +
        "(p50, p99), output read back to the CPU included. GFLOP/s is the layer's FLOPs over " +
        "p50. `vs reference` and `vs ts` are that adapter's p50 over this one's on the same " +
        "machine and case (above 1: faster). `over static` is CondConv's p50 over the same " +
        "adapter's static convolution of the same shape. `conformance` is the verdict of " +
        "`deno task conform` on the golden case, with the largest error as a share of the " +
        "tolerance, and `max abs err` its largest absolute error against the float64 truth. " +
        "Every environment fact names the result file(s) it comes from.",
    ),
    "",
    wrap(FLAGS_LEGEND),
    "",
  );
  for (const m of machines) {
    out.push(`## ${m.id}: ${m.label}`, "");
    if (m.softwareGpu) out.push(wrap(`> ${softwareGpuWarning(m)}`, LINE_WIDTH, "> "), "");
    out.push(...environmentFacts(m).map(([k, v]) => bullet(`**${k}**: ${v}`)), "");
    const mixed = mixedRunsNote(m);
    if (mixed) out.push(wrap(`> ${mixed}`, LINE_WIDTH, "> "), "");
    out.push("Result files:", "", ...m.files.map((f) => bullet(fileLine(f))), "");
    out.push("Adapters:", "", ...adapterFacts(m).map(bullet), "");
    const totals = conformanceTotals(m);
    if (totals.length > 0) {
      out.push(
        `Conformance (${conformanceCoverage(m)}):`,
        "",
        mdTable(
          ["adapter", ...CONFORM_STATUSES],
          totals.map((t) => [t.adapter, ...CONFORM_STATUSES.map((s) => `${t[s]}`)]),
          ["left", ...CONFORM_STATUSES.map(() => "right" as const)],
        ),
        "",
      );
    }
    if (m.sets.length === 0) out.push("No bench results from this machine.", "");
    for (const set of m.sets) {
      const rows = rowsOfSet(m, set);
      out.push(`### ${set.name}`, "");
      out.push(
        mdTable(
          [...FULL_TABLE_HEADER],
          rows.map(fullTableCells),
          FULL_TABLE_HEADER.map((_, i) => i >= 2 && i <= 11 ? "right" : "left"),
        ),
        "",
      );
      const notes = untimedNotes(rows);
      if (notes.length > 0) out.push("Not timed:", "", ...notes.map(bullet), "");
      out.push(...anchorMarkdown(machineAnchors(m, set.cases), "####"));
    }
    out.push(...formulationMarkdown(m.rows, "###"));
  }
  return out.join("\n").replace(/\n+$/, "\n");
}

/**
 * The compact README block: the newest machine with bench results, one table per case set,
 * cases by adapters, p50 ms. `null` when no input has bench results.
 */
export function renderReadmeBlock(
  machines: readonly Machine[],
  outDir: string,
): string | null {
  const m = machines.find((x) => x.latestBenchDate !== null && x.sets.length > 0);
  if (!m) return null;
  const env = m.environment;
  const out: string[] = [];
  out.push(
    wrap(
      `Newest bench run: ${m.label}. Deno ${env.deno}, commit ${
        env.gitCommit ? `\`${env.gitCommit.slice(0, 10)}\`` : "unknown"
      }, ${m.latestBenchDate}.`,
    ),
    "",
  );
  if (m.softwareGpu) out.push(wrap(softwareGpuWarning(m)), "");
  for (const set of m.sets) {
    const rows = rowsOfSet(m, set);
    const adapters = adaptersOf(m, rows);
    const torch = set.cases.some((c) => m.torch.has(c));
    out.push(
      wrap(`**${set.name}**: warm p50 per run in ms, output read back to the CPU included.`),
      "",
    );
    const header = [
      "case",
      ...adapters.map((a) =>
        adapterLabel(a.id, rows.some((r) => r.adapter === a.id && r.softwareGpu))
      ),
      ...(torch ? ["PyTorch CPU"] : []),
    ];
    const body = set.cases.map((c) => [
      c,
      ...adapters.map((a) => {
        const r = rows.find((x) => x.adapter === a.id && x.case === c);
        if (!r) return "-";
        return r.status === "timed" ? fmtMs(r.p50Ms) : r.status;
      }),
      ...(torch ? [fmtMs(m.torch.get(c)?.condconvP50Ms)] : []),
    ]);
    out.push(mdTable(header, body, header.map((_, i) => (i === 0 ? "left" : "right"))), "");
  }
  out.push(
    wrap(
      `Every figure (p99, GFLOP/s, speed-ups, overhead over a static convolution, ` +
        `conformance) is in \`${outDir}/RESULTS.md\`, with charts in \`${outDir}/index.html\`.`,
    ),
  );
  return out.join("\n");
}

/**
 * README text with the block between the markers replaced by `block`. Throws an `Error`
 * whose message says what is wrong when the markers are missing, repeated or out of order.
 */
export function replaceReadmeBlock(readme: string, block: string): string {
  const { start, end } = README_MARKERS;
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  if (i < 0 || j < 0) {
    throw new Error(`the markers "${start}" and "${end}" are not both there`);
  }
  if (readme.indexOf(start, i + 1) >= 0 || readme.indexOf(end, j + 1) >= 0) {
    throw new Error(`the markers "${start}" and "${end}" must appear once each`);
  }
  if (j < i) throw new Error(`"${end}" comes before "${start}"`);
  return `${readme.slice(0, i + start.length)}\n\n${block.trim()}\n\n${readme.slice(j)}`;
}

/** The `markdown` format: `RESULTS.md`. */
export const markdownReporter: Reporter = ({ machines }) => [
  { path: "RESULTS.md", text: renderResultsMarkdown(machines) },
];

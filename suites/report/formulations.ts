/**
 * The formulation matrix of a `deno task bench --formulations` run: for each framework
 * adapter, layer and batch, every formulation's warm p50, the fastest marked, the adapter's
 * default named, and advice a user can act on where the default is not the fastest.
 * Rendered in bench.md, RESULTS.md and the HTML page from the same rows. Runtime-neutral.
 * @module
 */
import { FORMULATIONS } from "../../condconv/formulation.ts";
import type { BenchResult, FormulationTiming } from "../results/bench.ts";
import { fmtMs as ms, fmtRatio, LINE_WIDTH, mdTable, wrap } from "./format.ts";

/** How close to the fastest a default must be to count as right (issue 18's target). */
export const DEFAULT_WITHIN = 1.1;

/** The fields of a bench row (or report row) the matrix reads. */
export type FormulationRowSource =
  & Pick<
    BenchResult,
    "adapter" | "case" | "batch" | "implementation" | "formulation" | "formulationCell"
  >
  & { formulations?: FormulationTiming[] };

/** One adapter x case of the matrix. */
export interface MatrixRow {
  adapter: string;
  case: string;
  batch: number;
  cell: NonNullable<BenchResult["formulationCell"]>;
  /** the formulation the adapter's default prepare ran */
  defaultFormulation: string | undefined;
  entries: FormulationTiming[];
  /** the timed formulation with the smallest p50 */
  fastest?: FormulationTiming;
  /** the default's p50 over the fastest's */
  defaultOverFastest?: number;
}

/** The rows that carry formulation timings, as matrix rows. */
export function matrixRows(rows: readonly FormulationRowSource[]): MatrixRow[] {
  return rows.flatMap((r) => {
    if (!r.formulations || !r.formulationCell) return [];
    const timed = r.formulations.filter((e) => e.status === "timed" && e.warm);
    const fastest = timed.reduce<FormulationTiming | undefined>(
      (best, e) => (best === undefined || e.warm!.p50Ms < best.warm!.p50Ms ? e : best),
      undefined,
    );
    const mine = r.formulations.find((e) => e.default);
    const over = mine?.warm && fastest?.warm ? mine.warm.p50Ms / fastest.warm.p50Ms : undefined;
    const label = r.implementation && r.implementation !== "deno"
      ? `${r.adapter}@${r.implementation}`
      : r.adapter;
    return [{
      adapter: label,
      case: r.case,
      batch: r.batch,
      cell: r.formulationCell,
      defaultFormulation: r.formulation,
      entries: r.formulations,
      fastest,
      defaultOverFastest: over,
    }];
  });
}

/** One formulation's cell text: p50 ms, bold when fastest, or why it has none. */
export function entryText(e: FormulationTiming | undefined, fastest?: FormulationTiming): string {
  if (e === undefined || e.status === "skip") return "-";
  if (e.status === "timed" && e.warm) {
    const text = ms(e.warm.p50Ms);
    return e === fastest ? `**${text}**` : text;
  }
  if (e.status === "screened") return `first run ${fmtRatio(e.firstRunOverFastest ?? undefined)}`;
  return e.status;
}

/** The formulations any row of `rows` has (in the axis's order). */
function columns(rows: readonly MatrixRow[]): string[] {
  const seen = new Set(rows.flatMap((r) => r.entries.map((e) => e.formulation)));
  return FORMULATIONS.filter((f) => seen.has(f));
}

/** The matrix's explanation, for every rendering. */
export const MATRIX_LEGEND = "`deno task bench --formulations`: every formulation of each " +
  "framework adapter on each case, checked first, then timed interleaved round by round. Warm " +
  "p50 in ms; the fastest in bold; `-`: the formulation cannot compute the layer on that " +
  "backend; `first run Nx`: its checked first run (compiling included) took N times the " +
  "fastest first run, so it was not timed warm. `default` is what the adapter ran unless told " +
  "otherwise, by the table (impls/_formulations/table.ts) in effect when the bench ran, and " +
  "`default / fastest` its p50 over the fastest's.";

/** The matrix's columns: case, cell, the formulations present, default, default / fastest. */
export function matrixTable(matrix: readonly MatrixRow[]): {
  header: string[];
  body: string[][];
  /** the formulation column range, `[first, end)` */
  formulationColumns: [number, number];
} {
  const cols = columns(matrix);
  const header = ["case", "cell", ...cols, "default", "default / fastest"];
  const body = matrix.map((r) => [
    r.case,
    `${r.cell.kernel} ${r.cell.spatial}`,
    ...cols.map((f) => entryText(r.entries.find((e) => e.formulation === f), r.fastest)),
    r.defaultFormulation ?? "-",
    r.defaultOverFastest === undefined ? "-" : fmtRatio(r.defaultOverFastest),
  ]);
  return { header, body, formulationColumns: [2, 2 + cols.length] };
}

/**
 * The matrix as Markdown: a heading at `level` (`"##"`), one table per adapter a level
 * below, then the advice; nothing when no row has formulation timings.
 */
export function formulationMarkdown(
  rows: readonly FormulationRowSource[],
  level = "##",
): string[] {
  const matrix = matrixRows(rows);
  if (matrix.length === 0) return [];
  const out: string[] = [`${level} Formulations`, ""];
  out.push(wrap(MATRIX_LEGEND), "");
  for (const adapter of [...new Set(matrix.map((r) => r.adapter))]) {
    const { header, body, formulationColumns: [, end] } = matrixTable(
      matrix.filter((r) => r.adapter === adapter),
    );
    const align = header.map((_, i) => (i < 2 || i >= end ? "left" : "right") as "left" | "right");
    out.push(`${level}# ${adapter}`, "", mdTable(header, body, align), "");
  }
  out.push(
    ...formulationAdvice(matrix).map((line) =>
      line === "" ? "" : wrap(line, LINE_WIDTH, line.startsWith("- ") ? "  " : "")
    ),
  );
  return out;
}

/** Whether `a`'s p50 interval lies wholly above `b`'s (a real difference, not noise). */
function clearlySlower(a: FormulationTiming, b: FormulationTiming): boolean {
  const low = a.warm?.p50Ci?.lowMs, high = b.warm?.p50Ci?.highMs;
  return low !== undefined && high !== undefined && low > high;
}

/**
 * The advice: how often the default is within `DEFAULT_WITHIN` of the fastest, then each row
 * where it is not, with what to force instead; a gap whose p50 intervals overlap is said to be
 * within the noise.
 */
export function formulationAdvice(matrix: readonly MatrixRow[]): string[] {
  const judged = matrix.filter((r) => r.entries.some((e) => e.default));
  const off = judged.filter((r) => !(r.defaultOverFastest! <= DEFAULT_WITHIN));
  const lines = [
    `The default is within ${DEFAULT_WITHIN.toFixed(2)}x of the fastest formulation on ` +
    `${judged.length - off.length} of ${judged.length} rows.`,
    "",
  ];
  for (const r of off) {
    const fastest = r.fastest, mine = r.entries.find((e) => e.default)!;
    const where = `- **${r.adapter}**, ${r.case} (${r.cell.kernel}, batch ${r.batch}): `;
    if (mine.status !== "timed" || !fastest) {
      lines.push(
        `${where}the default \`${mine.formulation}\` was ${mine.status}` +
          (mine.reason ? ` (${mine.reason})` : "") + ".",
      );
      continue;
    }
    const noise = clearlySlower(mine, fastest)
      ? ""
      : " (their p50 intervals overlap: within the noise of this run)";
    lines.push(
      `${where}\`${fastest.formulation}\` is ${fmtRatio(r.defaultOverFastest!)} faster than ` +
        `\`${r.defaultFormulation}\` (the default)${noise}; force it with ` +
        `\`prepareWith(spec, weights, { formulation: "${fastest.formulation}" })\`.`,
    );
  }
  if (off.length > 0) lines.push("");
  return lines;
}

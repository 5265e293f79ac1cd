/**
 * What `deno task conform` prints: one row per verdict as it comes, and the closing summary.
 * @module
 */
import type { ConformResult } from "../results/conformance.ts";
import type { ConformRun } from "./run.ts";
import { rowLabel } from "../_shared/webgpu_matrix.ts";

function formatNumber(value: number | undefined): string {
  return value === undefined ? "-" : value.toExponential(2);
}

/**
 * The workarounds of library bugs a row's layer applied, briefly (each one's kind, the words
 * before its first colon: the report has the whole change), e.g. ` (workaround: X)`, or "".
 */
export function workaroundsNote(workarounds: readonly string[] | undefined): string {
  if (!workarounds || workarounds.length === 0) return "";
  const kinds = workarounds.map((w) => w.split(": ")[0]);
  return ` (workaround${kinds.length > 1 ? "s" : ""}: ${kinds.join(", ")})`;
}

/** One line of the progress table. */
export function formatResultRow(r: ConformResult): string {
  const status = `${r.status.toUpperCase()}${workaroundsNote(r.workarounds)}`.padEnd(10);
  const numbers = r.maxAbsErr === undefined
    ? ""
    : `abs ${formatNumber(r.maxAbsErr)}  rel ${formatNumber(r.maxRelErr)}  ` +
      `${(r.worstRatio ?? 0).toFixed(3)} of tol`;
  // A known bug's whole story is in the report; the row names where to read it.
  const shown = r.status === "known-fail"
    ? r.reason?.replace(
      /; known library bug: .*/s,
      "; a known library bug (suites/conform/known_failures.ts)",
    )
    : r.reason;
  const reason = shown ? `  ${shown}` : "";
  return `${rowLabel(r).padEnd(16)} ${r.case.padEnd(36)} ${status} ${numbers}${reason}`;
}

/** The closing lines: skipped adapters, notes, the counts and where the report went. */
export function printConformSummary(run: ConformRun, reportPath: string): void {
  for (const a of run.adapters.filter((a) => !a.available)) {
    const errored = run.results.some((r) =>
      r.adapter === a.id && r.implementation === a.implementation && r.status === "error"
    );
    console.log(`${errored ? "error in" : "skipped"} ${rowLabel(a)}: ${a.reason}`);
  }
  const { pass, fail, skip, error } = run.summary;
  for (const r of run.results.filter((r) => r.note)) {
    console.log(`note: ${rowLabel(r)} on ${r.case}: ${r.note}`);
  }
  console.log(
    `conform: ${pass} passed, ${fail} failed, ${run.summary["known-fail"]} known library ` +
      `bugs, ${skip} skipped, ${error} errors`,
  );
  console.log(`report: ${reportPath}`);
}

/**
 * The gate's verdicts: each adapter x case judged from its lock-step rounds (`stats.ts`),
 * accepted slowdowns applied, and how they are printed. Pure: no process, no file.
 * @module
 */
import { globToRegExp } from "../_shared/cli.ts";
import type { AcceptedChanges } from "./accepted.ts";
import { compareRounds, type Round } from "./stats.ts";
import type { GateRow, RoundEntry, Side, SideCase } from "../results/gate.ts";
import { type Painter, paintVerdict, plain } from "../_shared/terminal.ts";

/** The verdict on one adapter x case from its rounds. */
export function judge(
  adapter: string,
  caseId: string,
  entries: readonly RoundEntry[],
  accepted: AcceptedChanges,
  threshold: number,
): GateRow {
  const row = { adapter, case: caseId };
  for (const entry of entries) {
    if ("error" in entry) {
      if (entry.side === "head") return { ...row, outcome: "broken", reason: entry.error };
      continue;
    }
    if (entry.head.status !== "ready") {
      return {
        ...row,
        outcome: "broken",
        reason: `working tree: ${entry.head.status}: ${entry.head.reason ?? ""}`,
      };
    }
  }
  // What is left of a lost round is a base worker's failure: that round has no base samples.
  const sides = entries.filter((e): e is Record<Side, SideCase> => !("error" in e));
  const rounds: Round[] = sides.map((e) => ({ head: e.head.blocks, base: e.base.blocks }))
    .filter((r) => r.head.length > 0 && r.base.length > 0);
  const baseReason = [
    ...entries.flatMap((e) => "error" in e ? [`error: ${e.error}`] : []),
    ...sides.map((e) => e.base).filter((b) => b.status !== "ready")
      .map((b) => `${b.status}: ${b.reason ?? ""}`),
  ][0];
  if (rounds.length === 0) {
    return { ...row, outcome: "new", reason: `base revision: ${baseReason ?? "not timed"}` };
  }
  if (rounds.length < 2) {
    return {
      ...row,
      outcome: "broken",
      reason: `only ${rounds.length} round with both sides timed` +
        (baseReason ? ` (base revision: ${baseReason})` : ""),
    };
  }
  const comparison = compareRounds(rounds, { threshold });
  if (comparison.verdict === "improved") return { ...row, ...comparison, outcome: "improved" };
  if (comparison.verdict === "unchanged") return { ...row, ...comparison, outcome: "pass" };
  const waiver = accepted.accepted.find((a) =>
    globToRegExp(a.adapter).test(adapter) && globToRegExp(a.case).test(caseId) &&
    comparison.ratio <= a.maxRatio
  );
  return waiver
    ? { ...row, ...comparison, outcome: "accepted", reason: waiver.reason }
    : { ...row, ...comparison, outcome: "regressed" };
}

/**
 * What differs between the two sides' availability info (a library upgrade, another thread
 * count), as `key: base -> head`.
 */
export function infoChanges(
  base: Record<string, unknown> | undefined,
  head: Record<string, unknown> | undefined,
): string[] {
  if (!base || !head) return [];
  const keys = [...new Set([...Object.keys(base), ...Object.keys(head)])];
  return keys.filter((k) => JSON.stringify(base[k]) !== JSON.stringify(head[k]))
    .map((k) =>
      `${k} ${JSON.stringify(base[k]) ?? "(none)"} (head: ${JSON.stringify(head[k]) ?? "(none)"})`
    );
}

/** One row of the printed verdict table. */
export function formatGateRow(r: GateRow, paint: Painter = plain): string {
  const numbers = r.ratio === undefined
    ? "".padEnd(46)
    : `${r.baseMedianMs!.toFixed(3).padStart(9)} -> ${
      r.headMedianMs!.toFixed(3).padStart(9)
    } ms  ` +
      `x${r.ratio.toFixed(3)} [${r.low!.toFixed(3)}, ${r.high!.toFixed(3)}]`;
  return `${r.adapter.padEnd(11)} ${r.case.padEnd(34)} ${numbers}  ${
    paintVerdict(paint, r.outcome)
  }` +
    (r.reason ? `  ${r.reason}` : "");
}

/** The closing line: passed or failed, and the counts. */
export function gateSummaryLine(rows: readonly GateRow[], paint: Painter = plain): string {
  const count = (outcome: GateRow["outcome"]) => rows.filter((r) => r.outcome === outcome).length;
  const passed = count("regressed") + count("broken") === 0;
  const verdict = passed ? paint("green", "PASSED") : paint("red", "FAILED");
  return `gate: ${verdict}: ${rows.length} compared, ` +
    `${count("regressed")} regressed, ${count("accepted")} accepted, ${count("broken")} broken`;
}

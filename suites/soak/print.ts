/**
 * What `deno task soak` prints: a table of memory and resource counts, one row per adapter.
 * @module
 */
import type { SoakResult } from "../results/soak.ts";
import { MIB, show } from "./measure.ts";

/** The header of the printed table. */
export function soakHeader(runs: number): string {
  return [
    "adapter".padEnd(12),
    "".padEnd(5),
    "ms/run".padStart(7),
    "rss@10".padStart(7),
    `rss@${runs}`.padStart(8),
    "d rss".padStart(6),
    "heap@10".padStart(7),
    `heap@${runs}`.padStart(9),
    "d heap".padStart(6),
    "d ext".padStart(6),
    "cycles".padStart(6),
    "resource counts after run 1 -> last run -> after the cycles",
  ].join("  ");
}

/** One row of the printed table (memory in MiB). */
export function formatSoakRow(r: SoakResult): string {
  const m = r.memory;
  const mib = (bytes: number | undefined, width: number) =>
    (bytes === undefined ? "-" : (bytes / MIB).toFixed(1)).padStart(width);
  const fixed = (value: number | undefined, digits: number) =>
    (value === undefined ? "-" : value.toFixed(digits)).padStart(6);
  const counts = r.counts
    ? `${show(r.counts.afterFirstRun)} -> ${show(r.counts.afterLastRun)} -> ` +
      show(r.counts.afterCycles)
    : "-";
  return [
    r.adapter.padEnd(12),
    r.status.toUpperCase().padEnd(5),
    (r.msPerRun?.toFixed(2) ?? "-").padStart(7),
    mib(m?.afterWarmRun.rss, 7),
    mib(m?.afterLastRun.rss, 8),
    fixed(m?.rssGrowthMiB, 1),
    mib(m?.afterWarmRun.heapUsed, 7),
    mib(m?.afterLastRun.heapUsed, 9),
    fixed(m?.heapUsedGrowthMiB, 2),
    fixed(m?.externalGrowthMiB, 2),
    (r.cyclesMs === undefined ? "-" : `${r.cycles}`).padStart(6),
    counts + (r.problems.length > 0 ? `  ${r.problems.join("; ")}` : ""),
  ].join("  ");
}

/**
 * Export formats of `deno task report` that other tools ingest:
 *
 * - github-action-benchmark's `customSmallerIsBetter` tool: an array of
 *   `{ name, unit, value, range?, extra? }`, one entry per timed adapter and case, `value` the
 *   warm p50 in ms, `range` the spread up to p99 (`"± <p99 - p50>"`), `extra` the rest.
 * - Bencher Metric Format (BMF): `{ "<benchmark>": { "latency": { value, lower_value,
 *   upper_value } } }` in nanoseconds (Bencher's built-in Latency measure), with `value` the
 *   p50, `lower_value` the fastest sample and `upper_value` the p99 (the maximum is left out:
 *   one garbage collection pause would set it).
 *
 * Names are `<adapter>/<case>`; when the inputs hold several machines, the machine's label is
 * appended in brackets so that every name stays unique.
 * @module
 */
import type { Machine, ReportRow } from "./input.ts";
import { fmtMs } from "./format.ts";
import { jsonFile, type Reporter } from "./reporter.ts";

/** One entry of github-action-benchmark's `customSmallerIsBetter` JSON. */
export interface BenchmarkActionEntry {
  name: string;
  unit: string;
  value: number;
  range?: string;
  extra?: string;
}

/** One benchmark of Bencher Metric Format JSON. */
export type BencherMetrics = Record<
  string,
  { latency: { value: number; lower_value?: number; upper_value?: number } }
>;

function timedRows(machines: readonly Machine[]): { machine: Machine; row: ReportRow }[] {
  return machines.flatMap((machine) =>
    machine.rows
      .filter((row) => row.status === "timed" && row.p50Ms !== undefined)
      .map((row) => ({ machine, row }))
  );
}

function benchmarkName(machine: Machine, row: ReportRow, several: boolean): string {
  const base = `${row.adapter}/${row.case}`;
  return several ? `${base} [${machine.label}]` : base;
}

/** github-action-benchmark `customSmallerIsBetter` entries, one per timed adapter and case. */
export function toBenchmarkAction(machines: readonly Machine[]): BenchmarkActionEntry[] {
  const several = machines.filter((m) => m.rows.length > 0).length > 1;
  return timedRows(machines).map(({ machine, row }) => {
    const extra = [
      `p99 ${fmtMs(row.p99Ms)} ms, min ${fmtMs(row.minMs)} ms, ${row.samples ?? 0} samples`,
      row.gflops !== undefined ? `${row.gflops.toPrecision(3)} GFLOP/s` : undefined,
      row.backend ? `backend ${row.backend}` : undefined,
      row.softwareGpu ? "software GPU adapter: a CPU figure, not a GPU figure" : undefined,
      `machine: ${machine.label}`,
    ].filter((x): x is string => x !== undefined);
    const entry: BenchmarkActionEntry = {
      name: benchmarkName(machine, row, several),
      unit: "ms",
      value: row.p50Ms!,
      extra: extra.join("\n"),
    };
    if (row.p99Ms !== undefined) entry.range = `± ${fmtMs(row.p99Ms - row.p50Ms!)}`;
    return entry;
  });
}

/** Bencher Metric Format: latency in nanoseconds per timed adapter and case. */
export function toBencher(machines: readonly Machine[]): BencherMetrics {
  const several = machines.filter((m) => m.rows.length > 0).length > 1;
  const out: BencherMetrics = {};
  const ns = (ms: number) => Math.round(ms * 1e6 * 1000) / 1000;
  for (const { machine, row } of timedRows(machines)) {
    const latency: BencherMetrics[string]["latency"] = { value: ns(row.p50Ms!) };
    if (row.minMs !== undefined) latency.lower_value = ns(row.minMs);
    if (row.p99Ms !== undefined) latency.upper_value = ns(row.p99Ms);
    out[benchmarkName(machine, row, several)] = { latency };
  }
  return out;
}

/** The `benchmark-action` format: `benchmark-action.json`. */
export const benchmarkActionReporter: Reporter = ({ machines }) => [
  jsonFile("benchmark-action.json", toBenchmarkAction(machines)),
];

/** The `bencher` format: `bencher.json`. */
export const bencherReporter: Reporter = ({ machines }) => [
  jsonFile("bencher.json", toBencher(machines)),
];

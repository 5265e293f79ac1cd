/**
 * Export formats of `deno task report` that other tools ingest:
 *
 * - github-action-benchmark's `customSmallerIsBetter` tool: an array of
 *   `{ name, unit, value, range?, extra? }`, one entry per timed adapter and case, `value` the
 *   warm p50 in ms, `range` the p50's 95% bootstrap confidence interval written as such
 *   (`"95% CI 1.21 to 1.34"`; for a file written before intervals were recorded, the true
 *   bounds of the samples, `"min 1.10 to p99 1.90"`), never a `±` that would suggest a
 *   symmetric spread and a lower bound below the fastest sample; `extra` the rest.
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
import { NOISY_P99_OVER_P50 } from "./noise.ts";
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

/** A true `range` for a row: the p50's interval, else the samples' bounds, in ms. */
function rangeOf(row: ReportRow): string | undefined {
  if (row.p50LowMs !== undefined && row.p50HighMs !== undefined) {
    return `95% CI ${fmtMs(row.p50LowMs)} to ${fmtMs(row.p50HighMs)}`;
  }
  if (row.minMs !== undefined && row.p99Ms !== undefined) {
    return `min ${fmtMs(row.minMs)} to p99 ${fmtMs(row.p99Ms)}`;
  }
  return undefined;
}

/** github-action-benchmark `customSmallerIsBetter` entries, one per timed adapter and case. */
export function toBenchmarkAction(machines: readonly Machine[]): BenchmarkActionEntry[] {
  const several = machines.filter((m) => m.rows.length > 0).length > 1;
  return timedRows(machines).map(({ machine, row }) => {
    const extra = [
      `p99 ${fmtMs(row.p99Ms)} ms, min ${fmtMs(row.minMs)} ms, max ${fmtMs(row.maxMs)} ms, ` +
      `${row.samples ?? 0} samples`,
      row.noisy ? `noisy: p99 more than ${NOISY_P99_OVER_P50}x p50` : undefined,
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
    const range = rangeOf(row);
    if (range !== undefined) entry.range = range;
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

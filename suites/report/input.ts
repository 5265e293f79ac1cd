/**
 * The inputs of `deno task report`: result files parsed with zod at the boundary, grouped by
 * the machine they came from, and joined into one row per adapter and bench case.
 *
 * A file's kind comes from its `kind` field (`"bench"` or `"conformance"`). Files are grouped
 * into machines by CPU model, logical cores, OS and architecture, and the GPU adapters their
 * adapters reported: two files whose CPU models are both known and differ, or whose GPU lists
 * are both non-empty and share no GPU, are two machines. Within a machine, bench files are
 * merged oldest first, so a newer result for the same adapter and case replaces an older one;
 * conformance verdicts are matched to bench rows by adapter and golden case id, the newest
 * verdict winning. Every row and verdict keeps the file it came from, and the machine's label
 * names which kind of run reported its GPU (`provenance.ts` names the file of every fact).
 * @module
 */
import { z } from "zod";
import { BenchReport, type BenchResult } from "../results/bench.ts";
import type { MachineLimits, RooflinePoint } from "../bench/roofline.ts";
import { fasterThanStaticWithinNoise, isNoisy } from "./noise.ts";
import { p50Interval } from "./interval.ts";
import { type GpuAdapterInfo, gpuKey, gpuName, gpusOf } from "./gpus.ts";

export { type GpuAdapterInfo, gpuKey, gpuName, gpusOf } from "./gpus.ts";
import type { Environment } from "../results/environment.ts";
import { ConformReport, type ConformStatus } from "../results/conformance.ts";

/** A result file that cannot be used: the message names the file and the field. */
export class ReportInputError extends Error {
  override name = "ReportInputError";
}

/** One result file, its path and its parsed content. */
export type ResultFile =
  | { path: string; kind: "bench"; report: BenchReport }
  | { path: string; kind: "conformance"; report: ConformReport };

/**
 * Parses the text of a result file. Throws a `ReportInputError` naming `path` and, for a
 * schema violation, every offending field.
 */
export function parseResultFile(path: string, text: string): ResultFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ReportInputError(
      `Fix result file "${path}": it is not JSON (${(error as Error).message})`,
    );
  }
  const kind = typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>).kind
    : undefined;
  if (kind !== "bench" && kind !== "conformance") {
    throw new ReportInputError(
      `Fix result file "${path}": its "kind" is ${
        kind === undefined ? "missing" : `"${String(kind)}"`
      }, expected "bench" (deno task bench) or "conformance" (deno task conform)`,
    );
  }
  const schema = kind === "bench" ? BenchReport : ConformReport;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new ReportInputError(
      `Fix result file "${path}": it is not a valid ${kind} report:\n` +
        z.prettifyError(parsed.error),
    );
  }
  return kind === "bench"
    ? { path, kind, report: parsed.data as BenchReport }
    : { path, kind, report: parsed.data as ConformReport };
}

/** Reads and parses one result file; a missing or unreadable file is a `ReportInputError`. */
export async function loadResultFile(path: string): Promise<ResultFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "the file does not exist (run `deno task bench` or `deno task conform` first)"
      : (error as Error).message;
    throw new ReportInputError(`Read result file "${path}": ${why}`);
  }
  return parseResultFile(path, text);
}

/** The conformance verdict matched to a bench row. */
export interface ConformanceCell {
  status: ConformStatus;
  maxAbsErr?: number;
  worstRatio?: number;
  reason?: string;
  file: string;
}

/** One verdict of the conformance matrix: an adapter (and its implementation) on a case. */
export interface ConformanceVerdict extends ConformanceCell {
  adapter: string;
  /** the WebGPU implementation it ran on, where the file says */
  implementation?: string;
  case: string;
}

/** One adapter on one bench case on one machine: every figure the tables show. */
export interface ReportRow {
  adapter: string;
  /** `<golden id>@b<batch>` */
  case: string;
  goldenCase: string;
  batch: number;
  /** the case set(s) of the bench run this row came from, e.g. `"effnet-b0"` */
  set: string;
  status: "timed" | "wrong" | "skip" | "error";
  reason?: string;
  backend?: string;
  softwareGpu: boolean;
  /** the WebGPU implementation under it, where the bench file says */
  implementation?: string;
  p50Ms?: number;
  /** the p50's confidence interval (absent from files written before it was computed) */
  p50LowMs?: number;
  p50HighMs?: number;
  p99Ms?: number;
  minMs?: number;
  maxMs?: number;
  samples?: number;
  /** p99 / p50 above `NOISY_P99_OVER_P50` (`noise.ts`) */
  noisy: boolean;
  /** the static convolution's p50 and its interval, same adapter and case */
  staticP50Ms?: number;
  staticLowMs?: number;
  staticHighMs?: number;
  gflops?: number;
  /** reference p50 / this p50 on the same machine and case (above 1: faster) */
  vsReference?: number;
  /** ts p50 / this p50 on the same machine and case */
  vsTs?: number;
  overVsStatic?: number;
  /** `overVsStatic` below 1 while the two p50 intervals overlap (`noise.ts`) */
  staticWithinNoise: boolean;
  /** where the run sits under its bench file's machine limits */
  roofline?: RooflinePoint;
  /** PyTorch CPU CondConv p50 on the same machine and case */
  torchP50Ms?: number;
  conformance?: ConformanceCell;
  /** the bench file the row came from */
  file: string;
  /** the CPU threads the row computed on, where the bench file says */
  threads?: number;
  /** the formulation the row's default timing ran, on a framework adapter */
  formulation?: string;
  /** with `bench --formulations`: the case's cell and every formulation's timing */
  formulationCell?: BenchResult["formulationCell"];
  formulations?: BenchResult["formulations"];
}

/** PyTorch's CPU baseline on one case. */
export interface TorchCell {
  condconvP50Ms: number;
  staticP50Ms: number;
  torch: string;
  threads: number;
}

/** One adapter as the newest file of a machine described it. */
export interface MachineAdapter {
  id: string;
  description: string;
  available: boolean;
  backend?: string;
  reason?: string;
  softwareGpu: boolean;
  gpus: GpuAdapterInfo[];
}

/** Everything reported about one machine. */
export interface Machine {
  /** `machine-1`, `machine-2`, ... newest bench run first */
  id: string;
  /** CPU, cores, OS and GPU in one line */
  label: string;
  cpuModel: string | null;
  logicalCores: number;
  os: string;
  arch: string;
  gpus: GpuAdapterInfo[];
  /** the newest file's environment (runtime, packages) */
  environment: Environment;
  files: ResultFile[];
  adapters: MachineAdapter[];
  /** case sets in first-seen order, each with its cases in run order */
  sets: { name: string; cases: string[] }[];
  rows: ReportRow[];
  /** the newest verdict per adapter and case, in the files' order */
  verdicts: ConformanceVerdict[];
  /** the roofline probe of the newest bench file that has one; rows of other files are not set against it */
  machineLimits?: { limits: MachineLimits; file: string };
  torch: Map<string, TorchCell>;
  /** why PyTorch was not measured, when no file of this machine measured it */
  torchReason?: string;
  /** the newest bench file's date, or null when the machine has conformance files only */
  latestBenchDate: string | null;
  /** true when any figure of this machine ran on a software GPU adapter */
  softwareGpu: boolean;
}

function fileGpus(file: ResultFile): GpuAdapterInfo[] {
  const all = new Map<string, GpuAdapterInfo>();
  for (const a of file.report.adapters) {
    for (const gpu of gpusOf(a)) all.set(gpuKey(gpu), gpu);
  }
  return [...all.values()];
}

function machineKey(env: Environment): string {
  // a browser run (deno task browser) is shown apart from the Deno runs of the same machine
  return [env.logicalCores, env.os, env.arch, env.browser?.name ?? ""].join("|");
}

function setLabel(sets: readonly string[]): string {
  return sets.length > 0 ? sets.join(" + ") : "selected cases";
}

const byDate = (a: ResultFile, b: ResultFile) =>
  a.report.environment.date.localeCompare(b.report.environment.date) ||
  a.path.localeCompare(b.path);

/**
 * Groups result files by machine and builds every row. Machines come newest bench run first
 * (machines with conformance files only last); rows keep the order of the runs.
 */
export function buildMachines(files: readonly ResultFile[]): Machine[] {
  const groups: {
    key: string;
    cpuModel: string | null;
    gpus: Map<string, GpuAdapterInfo>;
    files: ResultFile[];
  }[] = [];
  for (const file of [...files].sort(byDate)) {
    const env = file.report.environment;
    const key = machineKey(env);
    const gpus = fileGpus(file);
    // An unknown CPU model or an empty GPU list is no evidence of another machine.
    const group = groups.find((g) =>
      g.key === key &&
      (env.cpuModel === null || g.cpuModel === null || env.cpuModel === g.cpuModel) &&
      (gpus.length === 0 || g.gpus.size === 0 || gpus.some((gpu) => g.gpus.has(gpuKey(gpu))))
    );
    if (group) {
      group.files.push(file);
      group.cpuModel ??= env.cpuModel;
      for (const gpu of gpus) group.gpus.set(gpuKey(gpu), gpu);
    } else {
      groups.push({
        key,
        cpuModel: env.cpuModel,
        gpus: new Map(gpus.map((g) => [gpuKey(g), g])),
        files: [file],
      });
    }
  }
  const machines = groups.map((g) => buildMachine(g.files, [...g.gpus.values()], g.cpuModel));
  machines.sort((a, b) =>
    (b.latestBenchDate ?? "").localeCompare(a.latestBenchDate ?? "") ||
    b.environment.date.localeCompare(a.environment.date)
  );
  machines.forEach((m, i) => m.id = `machine-${i + 1}`);
  return machines;
}

function buildMachine(
  files: ResultFile[],
  gpus: GpuAdapterInfo[],
  cpuModel: string | null,
): Machine {
  const newest = files[files.length - 1];
  const env = newest.report.environment;
  const benches = files.filter((f): f is Extract<ResultFile, { kind: "bench" }> =>
    f.kind === "bench"
  );
  const conforms = files.filter((f): f is Extract<ResultFile, { kind: "conformance" }> =>
    f.kind === "conformance"
  );

  // Adapters: the newest description of each, in first-seen order.
  const adapters = new Map<string, MachineAdapter>();
  for (const file of files) {
    for (const a of file.report.adapters) {
      adapters.set(a.id, {
        id: a.id,
        description: a.description,
        available: a.available,
        backend: a.backend,
        reason: a.reason,
        softwareGpu: ("softwareGpu" in a && a.softwareGpu === true) ||
          gpusOf(a).some((g) => g.software),
        gpus: gpusOf(a),
      });
    }
  }

  // Bench rows, newest file winning per adapter and case.
  const rows = new Map<string, ReportRow>();
  const sets = new Map<string, string[]>();
  const torch = new Map<string, TorchCell>();
  let torchReason: string | undefined;
  for (const file of benches) {
    const report = file.report;
    const set = setLabel(report.settings.sets);
    const caseSet = sets.get(set) ?? [];
    sets.set(set, caseSet);
    for (const c of report.settings.cases) if (!caseSet.includes(c)) caseSet.push(c);
    if (report.torch.status === "measured") {
      for (const [id, t] of Object.entries(report.torch.results)) {
        torch.set(id, { ...t, torch: report.torch.torch, threads: report.torch.threads });
      }
    } else {
      torchReason = report.torch.reason;
    }
    for (const r of report.results) {
      if (!caseSet.includes(r.case)) caseSet.push(r.case);
      const key = `${r.adapter}\u0000${r.case}`;
      rows.delete(key); // re-insert: the newest run decides the position too
      const staticWarm = r.static?.warm;
      const interval = (w = r.warm) => {
        if (!w) return undefined;
        // files written before rows carried an interval: the same bootstrap, from the samples
        const ci = w.p50Ci ?? (w.samplesMs.length > 0 ? p50Interval(w.samplesMs) : undefined);
        return { p50Ms: w.p50Ms, lowMs: ci?.lowMs, highMs: ci?.highMs };
      };
      const warmCi = interval(), staticCi = interval(staticWarm);
      rows.set(key, {
        adapter: r.adapter,
        case: r.case,
        goldenCase: r.goldenCase,
        batch: r.batch,
        set,
        status: r.status,
        reason: r.reason,
        backend: r.backend,
        implementation: r.implementation,
        softwareGpu: r.softwareGpu,
        p50Ms: r.warm?.p50Ms,
        p50LowMs: warmCi?.lowMs,
        p50HighMs: warmCi?.highMs,
        p99Ms: r.warm?.p99Ms,
        minMs: r.warm?.minMs,
        maxMs: r.warm?.maxMs,
        samples: r.warm?.samples,
        noisy: isNoisy(r.warm?.p50Ms, r.warm?.p99Ms),
        staticP50Ms: staticWarm?.p50Ms,
        staticLowMs: staticCi?.lowMs,
        staticHighMs: staticCi?.highMs,
        gflops: r.gflops ?? undefined,
        overVsStatic: r.overVsStatic ?? undefined,
        staticWithinNoise: fasterThanStaticWithinNoise(warmCi, staticCi),
        roofline: r.roofline,
        file: file.path,
        threads: r.threads,
        formulation: r.formulation,
        formulationCell: r.formulationCell,
        formulations: r.formulations,
      });
    }
  }
  // A case measured again in a later set belongs to that set only.
  const owner = new Map<string, string>();
  for (const row of rows.values()) owner.set(row.case, row.set);
  const setList = [...sets.entries()]
    .map(([name, cases]) => ({ name, cases: cases.filter((c) => owner.get(c) === name) }))
    .filter((s) => s.cases.length > 0);
  for (const row of rows.values()) row.set = owner.get(row.case)!;

  // Conformance verdicts by adapter and golden case, the newest winning.
  const verdicts = new Map<string, ConformanceVerdict>();
  for (const file of conforms) {
    for (const r of file.report.results) {
      verdicts.set(`${r.adapter}\u0000${r.case}`, {
        adapter: r.adapter,
        implementation: r.implementation,
        case: r.case,
        status: r.status,
        maxAbsErr: r.maxAbsErr,
        worstRatio: r.worstRatio,
        reason: r.reason,
        file: file.path,
      });
    }
  }
  const probed = benches.findLast((f) => f.report.environment.machineLimits !== undefined);

  const rowList = [...rows.values()];
  const p50Of = (adapter: string, caseId: string) =>
    rows.get(`${adapter}\u0000${caseId}`)?.status === "timed"
      ? rows.get(`${adapter}\u0000${caseId}`)?.p50Ms
      : undefined;
  for (const row of rowList) {
    row.conformance = verdicts.get(`${row.adapter}\u0000${row.goldenCase}`);
    row.torchP50Ms = torch.get(row.case)?.condconvP50Ms;
    if (row.status !== "timed" || row.p50Ms === undefined || row.p50Ms <= 0) continue;
    const ref = p50Of("reference", row.case);
    const ts = p50Of("ts", row.case);
    if (ref !== undefined) row.vsReference = ref / row.p50Ms;
    if (ts !== undefined) row.vsTs = ts / row.p50Ms;
  }

  // Adapter order: as the newest bench run listed them, then older runs, then conformance.
  const rank = new Map<string, number>();
  for (const file of [...[...benches].reverse(), ...[...conforms].reverse()]) {
    for (const a of file.report.adapters) if (!rank.has(a.id)) rank.set(a.id, rank.size);
  }
  const adapterList = [...adapters.values()].sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
  const softwareGpu = rowList.some((r) => r.softwareGpu) ||
    adapterList.some((a) => a.softwareGpu && a.available);
  return {
    id: "",
    label: `${cpuModel ?? "unknown CPU"}, ${env.logicalCores} logical cores, ` +
      `${env.os}/${env.arch}${env.browser ? `, in ${env.browser.name}` : ""}; GPU: ${
        gpuText(files)
      }`,
    cpuModel,
    logicalCores: env.logicalCores,
    os: env.os,
    arch: env.arch,
    gpus,
    environment: (benches[benches.length - 1] ?? newest).report.environment,
    files,
    adapters: adapterList,
    sets: setList,
    rows: rowList,
    verdicts: [...verdicts.values()],
    machineLimits: probed && {
      limits: probed.report.environment.machineLimits!,
      file: probed.path,
    },
    torch,
    torchReason: torch.size > 0 ? undefined : torchReason,
    latestBenchDate: benches.length > 0
      ? benches[benches.length - 1].report.environment.date
      : null,
    softwareGpu,
  };
}

/**
 * The GPU part of a machine's label, each GPU with the kinds of run that reported it, and the
 * kinds of run that reported none: `llvmpipe (software adapter) [conformance]; none in bench`.
 */
function gpuText(files: readonly ResultFile[]): string {
  const seen = new Map<string, { gpu: GpuAdapterInfo; kinds: Set<string> }>();
  const without = new Set<string>();
  for (const file of files) {
    const gpus = fileGpus(file);
    if (gpus.length === 0) without.add(file.kind);
    for (const gpu of gpus) {
      const entry = seen.get(gpuKey(gpu)) ?? { gpu, kinds: new Set() };
      entry.kinds.add(file.kind);
      seen.set(gpuKey(gpu), entry);
    }
  }
  if (seen.size === 0) return "no GPU adapter reported";
  const kindsOf = new Set(files.map((f) => f.kind));
  const named = [...seen.values()].map(({ gpu, kinds }) =>
    kindsOf.size > 1 || without.size > 0
      ? `${gpuName(gpu)} [${[...kinds].join(", ")}]`
      : gpuName(gpu)
  );
  const none = [...without].filter((k) => ![...seen.values()].some((e) => e.kinds.has(k)));
  return [...named, ...none.map((k) => `none in ${k}`)].join("; ");
}

/** The rows of one set of a machine, case by case in run order, adapters in first-seen order. */
export function rowsOfSet(machine: Machine, set: { name: string; cases: string[] }): ReportRow[] {
  const order = new Map(machine.adapters.map((a, i) => [a.id, i]));
  const caseOrder = new Map(set.cases.map((c, i) => [c, i]));
  return machine.rows
    .filter((r) => r.set === set.name)
    .sort((a, b) =>
      caseOrder.get(a.case)! - caseOrder.get(b.case)! ||
      (order.get(a.adapter) ?? 1e9) - (order.get(b.adapter) ?? 1e9)
    );
}

/** Adapters that have rows in `rows`, in the machine's adapter order. */
export function adaptersOf(machine: Machine, rows: readonly ReportRow[]): MachineAdapter[] {
  const ids = new Set(rows.map((r) => r.adapter));
  return machine.adapters.filter((a) => ids.has(a.id));
}

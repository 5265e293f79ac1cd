/**
 * Where each environment fact of a machine comes from. Every fact names the result file(s) that
 * reported it; when the files of a machine disagree on a fact (runs at different times, with
 * other versions or settings), each value is shown with its own files, never one of them alone.
 * A machine's files are already grouped by CPU, cores, OS and GPU (`input.ts`), so a fact of one
 * machine is never filled in from another.
 * @module
 */
import { gpuName, gpusOf } from "./gpus.ts";
import type { Machine, ResultFile } from "./input.ts";
import type { MachineLimits } from "../bench/roofline.ts";

/** A file as a fact names it: its kind and path. */
export function fileTag(file: Pick<ResultFile, "kind" | "path">): string {
  return `${file.kind} \`${file.path}\``;
}

/**
 * One fact over `files`: `value (from bench \`a.json\`, conformance \`b.json\`)` when they agree,
 * else every value with its files, joined by `; ` and marked as differing. Files for which
 * `valueOf` gives `undefined` do not report the fact.
 */
export function sourcedFact(
  files: readonly ResultFile[],
  valueOf: (file: ResultFile) => string | undefined,
): string {
  const byValue = new Map<string, ResultFile[]>();
  for (const file of files) {
    const value = valueOf(file);
    if (value === undefined) continue;
    byValue.set(value, [...(byValue.get(value) ?? []), file]);
  }
  if (byValue.size === 0) return "not reported by any file";
  const parts = [...byValue.entries()].map(([value, from]) =>
    `${value} (from ${from.map(fileTag).join(", ")})`
  );
  return byValue.size === 1 ? parts[0] : `differs between runs: ${parts.join("; ")}`;
}

const benchOnly = (f: ResultFile) => f.kind === "bench" ? f.report : undefined;

/** The probe's figures in one line: one thread and all threads, best of the repetitions. */
export function limitsText(limits: MachineLimits): string {
  const pair = (f: MachineLimits["wasmSimdGflops"], unit: string) =>
    `${f.oneThread.best.toPrecision(3)} / ${f.allThreads.best.toPrecision(3)} ${unit}`;
  return `wasm SIMD ${pair(limits.wasmSimdGflops, "GFLOP/s")}, scalar JS ${
    pair(limits.scalarJsGflops, "GFLOP/s")
  }, triad bandwidth ${pair(limits.bandwidthGBps, "GB/s")} (1 / ${limits.threads} threads)`;
}

/**
 * The npm packages of a machine's files: the versions every file agrees on once, with its files,
 * then each package whose version differs (or is absent from some files), per value.
 */
export function packagesFact(files: readonly ResultFile[]): string {
  const names = [...new Set(files.flatMap((f) => Object.keys(f.report.environment.packages)))];
  if (names.length === 0) return "none recorded";
  const versionOf = (name: string) => (f: ResultFile) =>
    f.report.environment.packages[name] ?? "absent";
  const same = names.filter((n) => new Set(files.map(versionOf(n))).size === 1);
  const differing = names.filter((n) => !same.includes(n));
  const common = same.length === 0 ? [] : [
    sourcedFact(files, (f) => same.map((n) => `${n} ${versionOf(n)(f)}`).join(", ")),
  ];
  const diffs = differing.map((n) => `${n}: ${sourcedFact(files, versionOf(n))}`);
  return [...common, ...diffs].join("; ");
}

/** The environment facts of a machine as label/value pairs, each value naming its files. */
export function environmentFacts(machine: Machine): [string, string][] {
  const files = machine.files;
  const benches = files.filter((f) => f.kind === "bench");
  return [
    [
      "runtime",
      sourcedFact(files, (f) => {
        const e = f.report.environment;
        return `Deno ${e.deno}, V8 ${e.v8}, TypeScript ${e.typescript}`;
      }),
    ],
    [
      "CPU",
      sourcedFact(files, (f) => {
        const e = f.report.environment;
        return `${e.cpuModel ?? "unknown"}, ${e.logicalCores} logical cores`;
      }),
    ],
    ["OS", sourcedFact(files, (f) => `${f.report.environment.os}/${f.report.environment.arch}`)],
    [
      "GPU adapter",
      sourcedFact(files, (f) => {
        const names = new Set(f.report.adapters.flatMap((a) => gpusOf(a).map(gpuName)));
        return names.size > 0 ? [...names].join(", ") : "none reported by any adapter";
      }),
    ],
    ["packages", packagesFact(files)],
    [
      "PyTorch CPU baseline",
      benches.length === 0 ? "not measured (no bench file)" : sourcedFact(files, (f) => {
        const torch = benchOnly(f)?.torch;
        if (!torch) return undefined;
        return torch.status === "measured"
          ? `torch ${torch.torch}, ${torch.threads} threads`
          : `not measured (${torch.reason})`;
      }),
    ],
    [
      "machine limits",
      benches.length === 0 ? "not probed (no bench file)" : sourcedFact(files, (f) => {
        const report = benchOnly(f);
        if (!report) return undefined;
        const limits = report.environment.machineLimits;
        return limits ? limitsText(limits) : "not probed by this run";
      }),
    ],
  ];
}

/**
 * A note when a machine's figures come from runs at different commits: which files, so that a
 * reader never takes a bench figure and a conformance verdict for one run. `null` when every
 * file names the same commit.
 */
export function mixedRunsNote(machine: Machine): string | null {
  const commits = new Set(machine.files.map((f) => f.report.environment.gitCommit ?? "unknown"));
  if (machine.files.length < 2 || commits.size < 2) return null;
  return `The figures of this machine come from ${machine.files.length} runs at ${commits.size} ` +
    `commits: ${
      machine.files.map((f) => {
        const e = f.report.environment;
        return `${fileTag(f)} at ${e.gitCommit?.slice(0, 10) ?? "an unknown commit"}, ${e.date}`;
      }).join("; ")
    }. Timings come from the bench files and verdicts from the conformance files.`;
}

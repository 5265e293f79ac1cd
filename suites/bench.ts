/**
 * `deno task bench`: mitata benchmarks, adapter by adapter, case by case.
 *
 * ```
 * deno task bench [--set effnet-b0|smoke]... [--case <id or glob>]... [--batch N]...
 *                 [--adapter <id or glob>]... [--json <path>] [--markdown <path>]
 *                 [--min-samples N] [--budget-ms MS] [--torch-threads N]... [--no-torch]
 *                 [--no-static] [--no-workarounds] [--no-roofline] [--formulations]
 * ```
 * Before an adapter is timed on a case, its output is checked against the golden (or, at a
 * batch the goldens do not have, against the `reference` adapter): a wrong adapter is
 * reported as wrong and never timed. Wall times include reading the output back to the CPU.
 * Before anything is timed, a child process measures the machine's limits (`bench/probe.ts`);
 * every timed CPU row gets its roofline point under them.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { CASE_SETS, quickLookNote, quickLookOf } from "./bench/cases.ts";
import { MAX_SAMPLES, MIN_SAMPLES_FLOOR } from "./bench/limits.ts";
import type { BenchOptions, TimingOptions } from "./bench/measure.ts";
import { renderBenchMarkdown } from "./bench/report.ts";
import { benchRows, measuringTorch, printBenchSummary } from "./bench/print.ts";
import { shownPath, terminal, writeJsonOutput } from "./_shared/terminal.ts";
import { benchIsolated, type BenchPlan, planBench, type PlanFlags } from "./bench/isolated.ts";
import {
  integerFlag,
  MAX_TIMER_MS,
  parseTaskFlags,
  selectByIds,
  timerDelay,
  UsageError,
} from "./_shared/cli.ts";
import { childPath, runTaskMain } from "./_shared/child.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { checkOutputPaths, writeTextAtomic } from "./_shared/files.ts";
import { defaultTorchThreads, runTorchBaseline } from "./_shared/torch_baseline.ts";
import { loadAverage, probeInChild, probeOptions } from "./bench/probe.ts";
import {
  chooseBackends,
  inProcessImplementation,
  isWebGpuAdapter,
  parseWgpuBackends,
  type WgpuBackend,
} from "./_shared/webgpu_matrix.ts";
// Types only: the result schemas load zod, which this process must not (see bench/isolated.ts).
import type { BenchAdapter, BenchReport, BenchResult, TorchBaseline } from "./results/bench.ts";
import type { MachineLimits } from "./results/machine_limits.ts";

/** Defaults, applied in one place. */
export const BENCH_DEFAULTS = {
  jsonPath: "reports/bench.json",
  markdownPath: "reports/bench.md",
  sets: ["effnet-b0"],
  /** mitata: at least this many warm samples */
  minSamples: 8,
  /** mitata: keep sampling until this much time was measured (ms) */
  budgetMs: 400,
  /** slow cases take fewer samples to stay near this (ms per adapter x case) */
  maxMsPerCase: 3000,
  maxSamples: MAX_SAMPLES,
  /** a single prepare, run or measurement taking longer is an error */
  timeoutMs: 600_000,
} as const;

const USAGE = `deno task bench [--set NAME]... [--case ID]... [--batch N]... [--adapter ID]...
                [--weights FILE] [--json PATH|-] [--markdown PATH] [--min-samples N]
                [--budget-ms MS] [--max-ms MS] [--no-static] [--in-process]
                [--torch-threads N]... [--no-torch] [--webgpu-backend vulkan|gl]...
                [--no-workarounds] [--no-roofline] [--formulations]

Times every available adapter that passes the correctness check, case by case.
  --set            ${Object.entries(CASE_SETS).map(([k, v]) => `${k}: ${v.about}`).join("; ")}
                   (default ${BENCH_DEFAULTS.sets.join(", ")} when no --case is given)
  --case           golden cases by id or glob, at their own batch
  --batch          run the chosen cases at these batch sizes instead
  --adapter        adapters by id or glob (default: all registered)
  --json           report path (default ${BENCH_DEFAULTS.jsonPath}; - for stdout, the other
                   output then goes to stderr)
  --markdown       summary path (default ${BENCH_DEFAULTS.markdownPath})
  --min-samples    warm samples at least (default ${BENCH_DEFAULTS.minSamples}), fewer (down to
                   ${MIN_SAMPLES_FLOOR}) where a run is so slow that they would exceed --max-ms
  --max-ms         time one adapter x case for about this long at most (default ${BENCH_DEFAULTS.maxMsPerCase})
  --budget-ms      measure at least this long per adapter and case (default ${BENCH_DEFAULTS.budgetMs})
  --torch-threads  PyTorch CPU threads, one baseline run per count (repeatable; default 1
                   and the logical cores); each row is set against the run at its own threads
  --no-torch       skip the PyTorch baseline
  --no-static      skip the static-convolution baseline
  --webgpu-backend run the WebGPU adapters on these wgpu backends only (repeatable; default:
                   each of vulkan and gl that gives a GPU adapter here, one child each)
  --in-process     run the adapters in this process, not one child process each (WebGPU
                   on this process's DENO_WEBGPU_BACKEND only)
  --weights        time your own trained layer (a safetensors file from
                   scripts/export_weights.py with check tensors) instead of golden cases
  --no-workarounds run each adapter without its workarounds of library bugs (ort-webgpu's
                   changed Conv graphs), to show the raw bugs: a pre-check that a known
                   library bug explains is then a wrong row that does not fail the run
  --no-roofline    skip the probe of the machine's limits (the smoke and gate sets take a
                   short one, about 1 s; others the full one), so rows get no roofline
  --formulations   also time every formulation of each framework adapter (tfjs-*, ort-*) on
                   every case, each checked first, interleaved round by round; the report
                   marks the fastest and the default (deno task formulations:table turns
                   such a run into the defaults table); without --adapter, the CPU
                   framework adapters only (tfjs-wasm, tfjs-cpu, ort-wasm)`;

/** Options of `benchMain` beyond its flags (tests use them). */
export interface BenchMainOptions {
  /** adapters to choose from instead of the registry, run in this process */
  adapters?: readonly CondConvAdapter[];
  fixturesDir?: string;
  /** before an in-process run loads the adapters, give up the `run` permission */
  revokeRunBeforeLoading?: boolean;
}

/** The `bench` command; resolves to the exit status. */
export async function benchMain(args: string[], options: BenchMainOptions = {}): Promise<number> {
  const flags = parseTaskFlags(args, {
    set: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    batch: { type: "string", multiple: true },
    adapter: { type: "string", multiple: true },
    json: { type: "string" },
    markdown: { type: "string" },
    "min-samples": { type: "string" },
    "budget-ms": { type: "string" },
    "max-ms": { type: "string" },
    "torch-threads": { type: "string", multiple: true },
    "no-torch": { type: "boolean" },
    "no-static": { type: "boolean" },
    weights: { type: "string" },
    "webgpu-backend": { type: "string", multiple: true },
    "in-process": { type: "boolean" },
    "no-workarounds": { type: "boolean" },
    "no-roofline": { type: "boolean" },
    formulations: { type: "boolean" },
  }, USAGE);
  if (!flags) return 0;
  for (const b of flags.batch ?? []) integerFlag(b, "batch", 1);
  const time = { max: MAX_TIMER_MS };
  // the smoke set alone is a quick look: its own sampling unless the flags say otherwise
  const picked = flags.case !== undefined || flags.weights !== undefined;
  const quick = quickLookOf({ sets: flags.set, defaultSets: BENCH_DEFAULTS.sets, picked });
  const sampling = quick ?? BENCH_DEFAULTS;
  const timing: TimingOptions = {
    minSamples: integerFlag(flags["min-samples"], "min-samples", sampling.minSamples),
    budgetMs: integerFlag(flags["budget-ms"], "budget-ms", sampling.budgetMs, time),
    maxMsPerCase: integerFlag(flags["max-ms"], "max-ms", BENCH_DEFAULTS.maxMsPerCase, time),
    timeoutMs: BENCH_DEFAULTS.timeoutMs,
  };
  const threads = flags["torch-threads"]?.map((t) => integerFlag(t, "torch-threads", 1)) ??
    defaultTorchThreads(navigator.hardwareConcurrency);
  let asked: WgpuBackend[];
  let weights: string | undefined;
  try {
    asked = parseWgpuBackends(flags["webgpu-backend"] ?? []);
    weights = flags.weights === undefined ? undefined : childPath(flags.weights, "--weights");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const inProcess = flags["in-process"] || options.adapters !== undefined;
  if (asked.length > 0 && inProcess) {
    throw new UsageError(
      "Cannot combine --webgpu-backend and --in-process: one process has one wgpu backend; " +
        "set DENO_WEBGPU_BACKEND instead",
    );
  }
  const jsonPath = flags.json ?? BENCH_DEFAULTS.jsonPath;
  const markdownPath = flags.markdown ?? BENCH_DEFAULTS.markdownPath;
  await checkOutputPaths({ json: jsonPath, markdown: markdownPath });
  const quickNote = quickLookNote(flags.set ?? [], quick, timing, BENCH_DEFAULTS);
  if (quickNote) console.log(quickNote);
  const planFlags: PlanFlags = {
    ...flags,
    weights,
    fixtures: options.fixturesDir,
    defaultSets: BENCH_DEFAULTS.sets,
  };
  const workarounds = !flags["no-workarounds"];
  const bench: BenchOptions = {
    ...timing,
    static: !flags["no-static"],
    workarounds,
    formulations: flags.formulations === true,
  };
  const probe = !flags["no-roofline"];
  const run = inProcess
    ? await benchHere(planFlags, options, bench, threads, !flags["no-torch"], probe)
    : await benchInChildren(planFlags, asked, bench, threads, !flags["no-torch"], probe);
  const { plan, torch, summaries, results } = run;
  const { limits, loadBefore, loadAfter } = run.probe;
  const atEnd = loadAverage();

  const report: BenchReport = {
    kind: "bench",
    environment: {
      ...await describeEnvironment(),
      ...(limits ? { machineLimits: limits } : {}),
      ...(atEnd ? { loadAverage: { beforeProbe: loadBefore, afterProbe: loadAfter, atEnd } } : {}),
    },
    // the plan child never sees --adapter: adapters are chosen here
    filters: { ...plan.filters, adapters: flags.adapter ?? [], workarounds },
    settings: {
      sets: plan.sets,
      cases: plan.cases.map((c) => c.id),
      minSamples: timing.minSamples,
      budgetMs: timing.budgetMs,
      torchThreads: torch.status === "measured" ? torch.threads : null,
      readback: "every wall time includes reading the output back to the CPU",
      formulations: bench.formulations,
    },
    adapters: summaries,
    results,
    torch,
  };
  await writeJsonOutput(jsonPath, report);
  await writeTextAtomic(markdownPath, renderBenchMarkdown(report));
  printBenchSummary(
    results,
    `${shownPath(jsonPath)}, summary: ${markdownPath}`,
    terminal.painter(),
  );
  // A wrong row that a known library bug explains does not fail the run, as in conform.
  const failed = results.filter((r) =>
    r.status === "error" || (r.status === "wrong" && r.knownFailure === undefined)
  );
  return failed.length > 0 ? 1 : 0;
}

/**
 * The adapters `--adapter` names; without it, every adapter, or with `--formulations` the CPU
 * framework adapters (those with a formulation axis, tolerance class cpu or wasm), said so.
 */
function chooseAdapters<A extends { id: string; toleranceClass: string; formulations?: boolean }>(
  all: readonly A[],
  asked: string[] | undefined,
  formulations: boolean | undefined,
  hasAxis: (a: A) => boolean = (a) => a.formulations === true,
): A[] {
  if (asked !== undefined || !formulations) return selectByIds(all, asked ?? [], "adapter");
  const chosen = all.filter((a) => hasAxis(a) && ["cpu", "wasm"].includes(a.toleranceClass));
  console.log(
    `bench: --formulations without --adapter: the CPU framework adapters (${
      chosen.map((a) => a.id).join(", ")
    }); name others with --adapter`,
  );
  return chosen;
}

/** What a run gives, in or out of process. */
interface BenchRun {
  plan: BenchPlan;
  torch: TorchBaseline;
  summaries: BenchAdapter[];
  results: BenchResult[];
  probe: Probed;
}

/** The machine's limits (none with `--no-roofline`) and the load average around the probe. */
interface Probed {
  limits?: MachineLimits;
  loadBefore?: number[];
  loadAfter?: number[];
}

/** Probes the machine's limits in a child, short for the smoke and gate sets; says so. */
async function probeLimits(plan: BenchPlan, probe: boolean, timeoutMs: number): Promise<Probed> {
  if (!probe) {
    console.log("bench: --no-roofline: the machine's limits are not measured");
    return {};
  }
  const options = probeOptions(plan.sets);
  const kind = Object.keys(options).length > 0 ? "short" : "full";
  console.log(`bench: measuring the machine's limits (${kind} roofline probe)...`);
  const loadBefore = loadAverage();
  const limits = await probeInChild(options, timeoutMs);
  const loadAfter = loadAverage();
  const { wasmSimdGflops: simd, scalarJsGflops: js, bandwidthGBps: bw } = limits;
  const fig = (f: { best: number }) => f.best.toPrecision(3);
  console.log(
    `bench: limits on 1/${limits.threads} threads: wasm SIMD ${fig(simd.oneThread)}/` +
      `${fig(simd.allThreads)} GFLOP/s, scalar JS ${fig(js.oneThread)}/${fig(js.allThreads)} ` +
      `GFLOP/s, triad ${fig(bw.oneThread)}/${fig(bw.allThreads)} GB/s ` +
      `(${(limits.elapsedMs / 1000).toFixed(1)} s)`,
  );
  for (const warning of limits.warnings) console.log(`bench: roofline probe: ${warning}`);
  return { limits, loadBefore, loadAfter };
}

/** The PyTorch baseline of `plan` (none with `--no-torch`), said when it does not run. */
async function torchBaseline(
  plan: BenchPlan | undefined,
  threads: readonly number[],
  timing: TimingOptions,
): Promise<TorchBaseline> {
  const torch: TorchBaseline = plan === undefined
    ? { status: "not-measured", reason: "--no-torch" }
    : plan.filters.weights !== null
    ? { status: "not-measured", reason: "not measured for a --weights layer" }
    : await measuringTorch(
      plan.torchCases.length,
      () => runTorchBaseline(plan.torchCases, threads, timing),
    );
  if (torch.status !== "measured") console.log(`PyTorch baseline not measured: ${torch.reason}`);
  return torch;
}

function printHeader(plan: BenchPlan, adapters: number, timing: BenchOptions): void {
  console.log(
    `bench: ${adapters} adapters x ${plan.cases.length} cases; wall times include readback`,
  );
  if (timing.workarounds === false) {
    console.log(
      "bench: --no-workarounds: adapters run without their workarounds of library bugs; a " +
        "known bug's wrong numbers are wrong rows that do not fail the run",
    );
  }
}

/** Each adapter in its own child process (the task's default). */
async function benchInChildren(
  flags: PlanFlags,
  asked: readonly WgpuBackend[],
  timing: BenchOptions,
  threads: readonly number[],
  withTorch: boolean,
  withProbe: boolean,
): Promise<BenchRun> {
  // The cases are loaded and checked in a child before any adapter starts.
  const plan = await planBench(flags, timerDelay(timing.timeoutMs));
  const adapters = chooseAdapters(plan.adapters, flags.adapter, timing.formulations);
  printHeader(plan, adapters.length, timing);
  const probe = await probeLimits(plan, withProbe, timerDelay(timing.timeoutMs));
  const torch = await torchBaseline(withTorch ? plan : undefined, threads, timing);
  const backends = adapters.some(isWebGpuAdapter) ? await chooseBackends(asked, "bench") : [];
  const rows = benchRows(adapters, backends, plan.cases.map((c) => c.id));
  const run = await benchIsolated(plan, adapters, backends, {
    flags,
    timing: { ...timing, limits: probe.limits },
    processTimeoutMs: timerDelay(timing.timeoutMs * (2 * plan.cases.length + 2)),
    onRow: rows.row,
  });
  rows.finish();
  return { plan, torch, probe, ...run };
}

/** Every adapter in this process, after giving up `run` when asked (`--in-process`). */
async function benchHere(
  flags: PlanFlags,
  options: BenchMainOptions,
  timing: BenchOptions,
  threads: readonly number[],
  withTorch: boolean,
  withProbe: boolean,
): Promise<BenchRun> {
  // The probe and the PyTorch baseline are processes: they run (on a plan from a child)
  // before `run` is given up.
  const early = withTorch || withProbe
    ? await planBench(flags, timerDelay(timing.timeoutMs))
    : undefined;
  const probe = early ? await probeLimits(early, withProbe, timerDelay(timing.timeoutMs)) : {};
  const torch = await torchBaseline(withTorch ? early : undefined, threads, timing);
  if (options.revokeRunBeforeLoading) await Deno.permissions.revoke({ name: "run" });
  const registry = options.adapters ?? (await import("../impls/registry.ts")).ADAPTERS;
  const { benchInProcess, loadBenchPlan } = await import("./bench/child.ts");
  const { formulationAxis } = await import("./bench/formulations.ts");
  const adapters = chooseAdapters(
    registry,
    flags.adapter,
    timing.formulations,
    (a) => formulationAxis(a) !== undefined,
  );
  const { plan, loaded } = await loadBenchPlan(flags, registry);
  printHeader(plan, adapters.length, timing);
  if (adapters.some(isWebGpuAdapter)) {
    console.log(
      `bench: --in-process: WebGPU adapters run on this process's backend only ` +
        `(${inProcessImplementation()}), not once per wgpu backend`,
    );
  }
  const measured = await benchInProcess(adapters, loaded, { ...timing, limits: probe.limits });
  return { plan, torch, probe, ...measured };
}

if (import.meta.main) {
  await runTaskMain(() => benchMain(Deno.args, { revokeRunBeforeLoading: true }));
}

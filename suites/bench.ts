/**
 * `deno task bench`: mitata benchmarks, adapter by adapter, case by case.
 *
 * ```
 * deno task bench [--set effnet-b0|smoke]... [--case <id or glob>]... [--batch N]...
 *                 [--adapter <id or glob>]... [--json <path>] [--markdown <path>]
 *                 [--min-samples N] [--budget-ms MS] [--torch-threads N] [--no-torch]
 *                 [--no-static]
 * ```
 * Before an adapter is timed on a case, its output is checked against the golden (or, at a
 * batch the goldens do not have, against the `reference` adapter): a wrong adapter is
 * reported as wrong and never timed. Wall times include reading the output back to the CPU.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { type BenchCase, CASE_SETS, selectBenchCases } from "./bench/cases.ts";
import { loadBenchCase, type LoadedBenchCase, userLayerBenchCase } from "./bench/load.ts";
import {
  benchAdapter,
  MAX_SAMPLES,
  MIN_SAMPLES_FLOOR,
  skipped,
  type TimingOptions,
} from "./bench/measure.ts";
import { renderBenchMarkdown } from "./bench/report.ts";
import {
  integerFlag,
  MAX_TIMER_MS,
  parseFlags,
  runMain,
  selectByIds,
  timerDelay,
  UsageError,
} from "./_shared/cli.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { FixtureError, loadFixtureSet } from "./_shared/fixtures.ts";
import { loadWeightsFile, WeightsFileError } from "./_shared/weights_file.ts";
import { assertWritable, writeJsonAtomic, writeTextAtomic } from "./_shared/files.ts";
import { runTorchBaseline } from "./_shared/torch_baseline.ts";
import { lines } from "./_shared/child.ts";
import type { RunFilters } from "./results/adapter_summary.ts";
import type { BenchAdapter, BenchReport, BenchResult, TorchBaseline } from "./results/bench.ts";

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

/** The flags a child bench process gets, rebuilt from the parent's. */
function childArgs(flags: Record<string, string | string[] | boolean | undefined>): string[] {
  const args: string[] = ["--in-process", "--no-torch"];
  for (const name of ["set", "case", "batch"]) {
    for (const value of (flags[name] as string[] | undefined) ?? []) args.push(`--${name}`, value);
  }
  for (const name of ["min-samples", "budget-ms", "max-ms", "weights"]) {
    if (flags[name] !== undefined) args.push(`--${name}`, String(flags[name]));
  }
  if (flags["no-static"]) args.push("--no-static");
  return args;
}

/**
 * One adapter in a child `deno` process (a crash or a hang there becomes `error` results
 * here and the run goes on); its rows are passed through as they come.
 */
async function benchAdapterInChild(
  adapterId: string,
  options: {
    args: string[];
    extraReads: string[];
    loaded: readonly LoadedBenchCase[];
    timeoutMs: number;
  },
): Promise<{ summary: BenchAdapter; results: BenchResult[] }> {
  const tmp = `reports/.bench-child-${Deno.pid}-${adapterId}`;
  const child = new Deno.Command("deno", {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      `--allow-read=${[".", ...options.extraReads].join(",")}`,
      "--allow-write=reports",
      "--allow-env",
      "--allow-sys=cpus",
      "suites/bench.ts",
      "--adapter",
      adapterId,
      ...options.args,
      "--json",
      `${tmp}.json`,
      "--markdown",
      `${tmp}.md`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.timeoutMs);
  const passRows = async () => {
    // Pass the child's result rows through as they come; its own header and footer are ours.
    for await (const line of lines(child.stdout)) {
      if (!/^(bench|report): |^PyTorch baseline/.test(line)) console.log(line);
    }
  };
  const [status, stderr] = await Promise.all([
    child.status,
    new Response(child.stderr).text(),
    passRows(),
  ]);
  clearTimeout(timer);
  try {
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${tmp}.json`));
    return { summary: report.adapters[0], results: report.results };
  } catch {
    const tail = stderr.split("\n").filter((l) => l.trim() && !l.includes("XDG_RUNTIME_DIR"));
    const reason = `the adapter's process exited with code ${status.code}` +
      `${status.signal ? ` (${status.signal})` : ""} before finishing` +
      (tail.length ? `: ${tail.slice(-3).join(" | ")}` : "");
    console.log(`${adapterId.padEnd(13)} ERROR  ${reason}`);
    return {
      summary: {
        id: adapterId,
        description: "",
        toleranceClass: "",
        available: false,
        reason,
        softwareGpu: false,
      },
      results: options.loaded.map((c) => skipped(adapterId, c, reason, "error")),
    };
  } finally {
    await Deno.remove(`${tmp}.json`).catch(() => {});
    await Deno.remove(`${tmp}.md`).catch(() => {});
  }
}

const USAGE = `deno task bench [--set NAME]... [--case ID]... [--batch N]... [--adapter ID]...
                [--json PATH] [--markdown PATH] [--min-samples N] [--budget-ms MS]
                [--torch-threads N] [--no-torch]

Times every available adapter that passes the correctness check, case by case.
  --set            ${Object.entries(CASE_SETS).map(([k, v]) => `${k}: ${v.about}`).join("; ")}
                   (default ${BENCH_DEFAULTS.sets.join(", ")} when no --case is given)
  --case           golden cases by id or glob, at their own batch
  --batch          run the chosen cases at these batch sizes instead
  --adapter        adapters by id or glob (default: all registered)
  --json           report path (default ${BENCH_DEFAULTS.jsonPath})
  --markdown       summary path (default ${BENCH_DEFAULTS.markdownPath})
  --min-samples    warm samples at least (default ${BENCH_DEFAULTS.minSamples}), fewer (down to
                   ${MIN_SAMPLES_FLOOR}) where a run is so slow that they would exceed --max-ms
  --max-ms         time one adapter x case for about this long at most (default ${BENCH_DEFAULTS.maxMsPerCase})
  --budget-ms      measure at least this long per adapter and case (default ${BENCH_DEFAULTS.budgetMs})
  --torch-threads  PyTorch CPU threads (default: the logical cores)
  --no-torch       skip the PyTorch baseline
  --no-static      skip the static-convolution baseline
  --in-process     run the adapters in this process, not one child process each
  --weights        time your own trained layer (a safetensors file from
                   scripts/export_weights.py with check tensors) instead of golden cases`;

/** What to bench, loaded before any adapter starts. */
interface BenchPlan {
  loaded: LoadedBenchCase[];
  /** the case sets run (empty for cases picked by id or a user's layer) */
  sets: string[];
  /** the golden cases at their batches (empty for a user's layer) */
  goldenCases: BenchCase[];
  filters: RunFilters;
}

/** Loads the cases the flags choose: a user's layer, or golden cases from sets and ids. */
async function loadPlan(
  flags: {
    adapter?: string[];
    set?: string[];
    case?: string[];
    batch?: string[];
    weights?: string;
  },
  batches: number[],
  fixturesDir: string | undefined,
): Promise<BenchPlan> {
  const filters: RunFilters = {
    adapters: flags.adapter ?? [],
    cases: flags.case ?? [],
    sets: flags.set ?? [],
    batches,
    weights: flags.weights ?? null,
    goldenCases: null,
  };
  if (flags.weights !== undefined) {
    if (flags.case || flags.set || flags.batch) {
      throw new UsageError(
        "Cannot combine --weights with --case, --set or --batch: --weights times the file's layer " +
          "at the batch of its check input",
      );
    }
    const loaded = [userLayerBenchCase(await loadWeightsFile(flags.weights))];
    return { loaded, sets: [], goldenCases: [], filters };
  }
  const set = await loadFixtureSet(fixturesDir);
  filters.goldenCases = set.fixtures.length;
  const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
  const picked = flags.case ? selectByIds(withIds, flags.case, "case") : [];
  const sets = flags.set ?? (flags.case ? [] : [...BENCH_DEFAULTS.sets]);
  const goldenCases = selectBenchCases(set.fixtures, sets, picked, batches);
  const loaded: LoadedBenchCase[] = [];
  for (const c of goldenCases) loaded.push(await loadBenchCase(c, set));
  return { loaded, sets, goldenCases, filters };
}

/** The closing lines: the counts and where the report went. */
function printBenchSummary(results: readonly BenchResult[], paths: string): void {
  const count = (s: BenchResult["status"]) => results.filter((r) => r.status === s).length;
  console.log(
    `bench: ${count("timed")} timed, ${count("wrong")} wrong, ${count("skip")} skipped, ` +
      `${count("error")} errors`,
  );
  console.log(`report: ${paths}`);
}

/** The `bench` command; resolves to the exit status. */
export async function benchMain(
  args: string[],
  options: { adapters?: readonly CondConvAdapter[]; fixturesDir?: string } = {},
): Promise<number> {
  const flags = parseFlags(args, {
    set: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    batch: { type: "string", multiple: true },
    adapter: { type: "string", multiple: true },
    json: { type: "string" },
    markdown: { type: "string" },
    "min-samples": { type: "string" },
    "budget-ms": { type: "string" },
    "max-ms": { type: "string" },
    "torch-threads": { type: "string" },
    "no-torch": { type: "boolean" },
    "no-static": { type: "boolean" },
    weights: { type: "string" },
    "in-process": { type: "boolean" },
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const adapters = selectByIds(options.adapters ?? ADAPTERS, flags.adapter ?? [], "adapter");
  const batches = (flags.batch ?? []).map((b) => integerFlag(b, "batch", 1));
  const time = { max: MAX_TIMER_MS };
  const timing: TimingOptions = {
    minSamples: integerFlag(flags["min-samples"], "min-samples", BENCH_DEFAULTS.minSamples),
    budgetMs: integerFlag(flags["budget-ms"], "budget-ms", BENCH_DEFAULTS.budgetMs, time),
    maxMsPerCase: integerFlag(flags["max-ms"], "max-ms", BENCH_DEFAULTS.maxMsPerCase, time),
    timeoutMs: BENCH_DEFAULTS.timeoutMs,
  };
  const threads = integerFlag(
    flags["torch-threads"],
    "torch-threads",
    navigator.hardwareConcurrency,
  );
  const jsonPath = flags.json ?? BENCH_DEFAULTS.jsonPath;
  const markdownPath = flags.markdown ?? BENCH_DEFAULTS.markdownPath;
  await assertWritable(jsonPath, "json");
  await assertWritable(markdownPath, "markdown");
  const plan = await loadPlan(flags, batches, options.fixturesDir);
  const { loaded } = plan;
  console.log(
    `bench: ${adapters.length} adapters x ${loaded.length} cases; wall times include readback`,
  );
  const environment = await describeEnvironment();

  const torch: TorchBaseline = flags["no-torch"]
    ? { status: "not-measured", reason: "--no-torch" }
    : flags.weights !== undefined
    ? { status: "not-measured", reason: "not measured for a --weights layer" }
    : await runTorchBaseline(plan.goldenCases, threads, timing);
  if (torch.status !== "measured") console.log(`PyTorch baseline not measured: ${torch.reason}`);

  const summaries: BenchAdapter[] = [];
  const results: BenchResult[] = [];
  const isolate = !flags["in-process"] && options.adapters === undefined;
  for (const adapter of adapters) {
    const run = isolate
      ? await benchAdapterInChild(adapter.id, {
        args: childArgs(flags),
        extraReads: flags.weights === undefined ? [] : [flags.weights],
        loaded,
        timeoutMs: timerDelay(timing.timeoutMs * (2 * loaded.length + 2)),
      })
      : await benchAdapter(adapter, loaded, { ...timing, static: !flags["no-static"] });
    summaries.push(run.summary);
    results.push(...run.results);
  }

  const report: BenchReport = {
    kind: "bench",
    environment,
    filters: plan.filters,
    settings: {
      sets: plan.sets,
      cases: loaded.map((c) => c.id),
      minSamples: timing.minSamples,
      budgetMs: timing.budgetMs,
      torchThreads: torch.status === "measured" ? torch.threads : null,
      readback: "every wall time includes reading the output back to the CPU",
    },
    adapters: summaries,
    results,
    torch,
  };
  await writeJsonAtomic(jsonPath, report);
  await writeTextAtomic(markdownPath, renderBenchMarkdown(report));
  printBenchSummary(results, `${jsonPath}, summary: ${markdownPath}`);
  // A wrong row that a known library bug explains does not fail the run, as in conform.
  const failed = results.filter((r) =>
    r.status === "error" || (r.status === "wrong" && r.knownFailure === undefined)
  );
  return failed.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  await runMain(() => benchMain(Deno.args), [FixtureError, WeightsFileError]);
}

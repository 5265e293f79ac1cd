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
import { measure } from "mitata";
import process from "node:process";
import type { CondConvAdapter, PreparedCondConv } from "../impls/adapter.ts";
import { referenceAdapter } from "../impls/reference.ts";
import { ADAPTERS } from "../impls/registry.ts";
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import { type FlopCount, flops } from "../condconv/geometry.ts";
import { type CaseTensors, caseTensors } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { type BenchCase, CASE_SETS, selectBenchCases } from "./bench/cases.ts";
import { formatBenchRow, renderBenchMarkdown } from "./bench/report.ts";
import { parseFlags, runMain, selectByIds, UsageError } from "./_shared/cli.ts";
import { messageOf, withTimeout } from "./_shared/calls.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import type { RunFilters } from "./results/adapter_summary.ts";
import type {
  BenchAdapter,
  BenchReport,
  BenchResult,
  StaticBaseline,
  TimingStats,
  TorchBaseline,
} from "./results/bench.ts";
import { FixtureError, loadCaseTensors, loadFixtureSet, loadGolden } from "./_shared/fixtures.ts";
import {
  loadWeightsFile,
  type UserLayer,
  userLayerTarget,
  WeightsFileError,
} from "./_shared/weights_file.ts";
import { assertWritable, writeJsonAtomic, writeTextAtomic } from "./_shared/files.ts";
import { runTorchBaseline } from "./_shared/torch_baseline.ts";
import { lines } from "./_shared/child.ts";

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
  maxSamples: 2000,
  /** a single prepare, run or measurement taking longer is an error */
  timeoutMs: 600_000,
} as const;

/** The process's peak resident set so far (getrusage's maxRSS), where the runtime has it. */
function peakRssBytes(): number | null {
  try {
    return process.resourceUsage().maxRSS * 1024;
  } catch {
    return null;
  }
}

function toStats(samplesNs: number[]): TimingStats {
  const sorted = [...samplesNs].sort((a, b) => a - b).map((ns) => ns / 1e6);
  const at = (q: number) => sorted[Math.floor(q * (sorted.length - 1))];
  return {
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    avgMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    samples: sorted.length,
    samplesMs: sorted,
  };
}

interface TimingOptions {
  minSamples: number;
  budgetMs: number;
  /** slow cases get fewer samples (never below `MIN_SAMPLES_FLOOR`) to stay near this */
  maxMsPerCase: number;
  timeoutMs: number;
}

/** The fewest warm samples any measurement takes. */
export const MIN_SAMPLES_FLOOR = 3;

/**
 * Times `run` with mitata: one call per sample (no batching), so GPU times line up.
 * `firstRunMs` (a run already made) lowers the sample count for slow cases, so that a
 * measurement stays near `maxMsPerCase`, down to `MIN_SAMPLES_FLOOR` samples.
 */
async function timeRuns(
  run: () => Promise<unknown>,
  options: TimingOptions,
  firstRunMs: number,
  afterEach?: () => void,
): Promise<TimingStats> {
  const minSamples = Math.max(
    MIN_SAMPLES_FLOOR,
    Math.min(options.minSamples, Math.floor(options.maxMsPerCase / Math.max(firstRunMs, 1e-3))),
  );
  const stats = await withTimeout(
    measure(async () => {
      await run();
      afterEach?.();
    }, {
      min_samples: minSamples,
      max_samples: BENCH_DEFAULTS.maxSamples,
      min_cpu_time: options.budgetMs * 1e6,
      batch_threshold: 0,
    }),
    options.timeoutMs,
    "the warm measurement",
  );
  return toStats(stats.samples);
}

/** The data of one bench case (a golden case at a batch, or a user's layer), shared by every adapter. */
interface LoadedBenchCase {
  id: string;
  /** the golden case id, or the user's layer id */
  goldenCase: string;
  batch: number;
  spec: CondConvSpec;
  tensors: CaseTensors;
  truth: Float64Array;
  checkedAgainst: "golden" | "reference" | "pytorch";
  torchFloat32MaxAbsErr: number;
  staticKernel: Float32Array;
  staticBias?: Float32Array;
  staticTruth?: Float64Array;
}

function staticWeights(spec: CondConvSpec, weights: CondConvWeights) {
  const kernelLength = weights.expertKernels.length / spec.numExperts;
  return {
    staticKernel: weights.expertKernels.slice(0, kernelLength),
    staticBias: weights.bias?.slice(0, spec.outChannels),
  };
}

async function loadBenchCase(
  benchCase: BenchCase,
  set: Awaited<ReturnType<typeof loadFixtureSet>>,
): Promise<LoadedBenchCase> {
  const { goldenCase } = benchCase;
  const tensors = benchCase.hasGolden
    ? await loadCaseTensors(benchCase.fixture)
    : caseTensors(goldenCase);
  let truth: Float64Array;
  if (benchCase.hasGolden) {
    truth = await loadGolden(set, benchCase.fixture);
  } else {
    const layer = await referenceAdapter.prepare(goldenCase.spec, tensors.weights);
    truth = Float64Array.from((await layer.run(tensors.input, tensors.routingWeights)).data);
  }
  return {
    id: benchCase.id,
    goldenCase: benchCase.fixture.entry.id,
    batch: benchCase.batch,
    spec: goldenCase.spec,
    tensors,
    truth,
    checkedAgainst: benchCase.hasGolden ? "golden" : "reference",
    torchFloat32MaxAbsErr: benchCase.fixture.entry.torchFloat32.maxAbsErr,
    ...staticWeights(goldenCase.spec, tensors.weights),
  };
}

/** A user's layer as a bench case, at the batch of its PyTorch check input. */
function userLayerBenchCase(layer: UserLayer): LoadedBenchCase {
  const target = userLayerTarget(layer);
  return {
    id: `${layer.id}@b${target.input.shape[0]}`,
    goldenCase: layer.id,
    batch: target.input.shape[0],
    spec: layer.spec,
    tensors: { input: target.input, weights: layer.weights, routingWeights: target.routingWeights },
    truth: target.truth,
    checkedAgainst: "pytorch",
    torchFloat32MaxAbsErr: target.torchFloat32MaxAbsErr,
    ...staticWeights(layer.spec, layer.weights),
  };
}

async function staticTruth(loaded: LoadedBenchCase): Promise<Float64Array> {
  if (!loaded.staticTruth) {
    const layer = await referenceAdapter.prepareStatic!(
      loaded.spec,
      loaded.staticKernel,
      loaded.staticBias,
    );
    loaded.staticTruth = Float64Array.from((await layer.run(loaded.tensors.input)).data);
  }
  return loaded.staticTruth;
}

async function benchStatic(
  adapter: CondConvAdapter,
  loaded: LoadedBenchCase,
  options: TimingOptions,
  tolerance: ReturnType<typeof toleranceFor>,
  flopCount: FlopCount,
): Promise<StaticBaseline> {
  if (!adapter.prepareStatic) {
    return { status: "not-measured", reason: "the adapter has no static convolution path" };
  }
  let layer: PreparedCondConv | undefined;
  try {
    const { spec } = loaded;
    layer = await withTimeout(
      adapter.prepareStatic(spec, loaded.staticKernel, loaded.staticBias),
      options.timeoutMs,
      "prepareStatic",
    );
    const input = loaded.tensors.input;
    const t0 = performance.now();
    const out = await withTimeout(layer.run(input), options.timeoutMs, "static run");
    const firstRunMs = performance.now() - t0;
    const comparison = compareWithTruth(out.data, await staticTruth(loaded), tolerance);
    if (!comparison.pass) {
      return {
        status: "wrong",
        maxAbsErr: comparison.maxAbsErr,
        reason: `static convolution off by ${comparison.maxAbsErr.toExponential(2)}`,
      };
    }
    const prepared = layer;
    const warm = await timeRuns(() => prepared.run(input), options, firstRunMs);
    return {
      status: "timed",
      maxAbsErr: comparison.maxAbsErr,
      warm,
      gflops: flopCount.staticConv / warm.p50Ms / 1e6,
    };
  } catch (error) {
    return { status: "error", reason: messageOf(error) };
  } finally {
    await layer?.dispose().catch(() => {});
  }
}

async function benchOne(
  adapter: CondConvAdapter,
  backend: string,
  softwareGpu: boolean,
  loaded: LoadedBenchCase,
  options: TimingOptions & { static: boolean },
): Promise<BenchResult> {
  const { tensors, spec } = loaded;
  const flopCount = flops(spec, tensors.input.shape);
  const result: BenchResult = {
    adapter: adapter.id,
    case: loaded.id,
    goldenCase: loaded.goldenCase,
    batch: loaded.batch,
    status: "error",
    backend,
    softwareGpu,
    flops: flopCount,
    readbackIncluded: true,
  };
  const tolerance = toleranceFor(
    adapter.toleranceClass,
    loaded.torchFloat32MaxAbsErr,
  );
  let prepared: PreparedCondConv | undefined;
  try {
    const t0 = performance.now();
    prepared = await withTimeout(
      adapter.prepare(spec, tensors.weights),
      options.timeoutMs,
      "prepare",
    );
    const t1 = performance.now();
    if (prepared.backend !== backend) {
      result.reason = `ran on backend "${prepared.backend}", not "${backend}" as announced`;
      return result;
    }
    const layer = prepared;
    const run = (): Promise<Tensor> => layer.run(tensors.input, tensors.routingWeights);
    const first = await withTimeout(run(), options.timeoutMs, "first run");
    result.cold = { prepareMs: t1 - t0, firstRunMs: performance.now() - t1 };
    const comparison = first.data.length === loaded.truth.length
      ? compareWithTruth(first.data, loaded.truth, tolerance)
      : undefined;
    if (!comparison) {
      result.status = "wrong";
      result.reason = `output has ${first.data.length} values, expected ${loaded.truth.length}`;
      return result;
    }
    result.correctness = {
      checkedAgainst: loaded.checkedAgainst,
      pass: comparison.pass,
      maxAbsErr: comparison.maxAbsErr,
      maxRelErr: comparison.maxRelErr,
      worstRatio: comparison.worstRatio,
    };
    if (!comparison.pass) {
      result.status = "wrong";
      result.reason = `output off by ${comparison.maxAbsErr.toExponential(2)} ` +
        `(${comparison.worstRatio.toFixed(1)}x the tolerance): not timed`;
      return result;
    }
    const gpuTimes: number[] = [];
    result.warm = await timeRuns(run, options, result.cold.firstRunMs, () => {
      const gpu = layer.lastGpuTimeMs;
      if (typeof gpu === "number") gpuTimes.push(gpu);
    });
    result.gflops = flopCount.total / result.warm.p50Ms / 1e6;
    if (gpuTimes.length > 0) {
      const g = toStats(gpuTimes.map((ms) => ms * 1e6));
      result.gpu = { p50Ms: g.p50Ms, minMs: g.minMs, maxMs: g.maxMs, samples: g.samples };
    } else {
      result.gpu = null;
    }
    const memory = Deno.memoryUsage();
    result.memory = {
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      peakRssBytes: peakRssBytes(),
    };
    result.status = "timed";
  } catch (error) {
    result.status = "error";
    result.reason = messageOf(error);
    return result;
  } finally {
    await prepared?.dispose().catch(() => {});
  }
  if (!options.static) {
    result.static = { status: "not-measured", reason: "--no-static" };
    return result;
  }
  result.static = await benchStatic(adapter, loaded, options, tolerance, flopCount);
  if (result.static.warm && result.warm) {
    result.overVsStatic = result.warm.p50Ms / result.static.warm.p50Ms;
  }
  return result;
}

/** One adapter over every loaded case, in this process. */
async function benchAdapter(
  adapter: CondConvAdapter,
  loaded: readonly LoadedBenchCase[],
  options: TimingOptions & { static: boolean },
): Promise<{ summary: BenchAdapter; results: BenchResult[] }> {
  const results: BenchResult[] = [];
  const summary = {
    id: adapter.id,
    description: adapter.description,
    toleranceClass: adapter.toleranceClass,
    available: false,
    softwareGpu: false,
  } as BenchAdapter;
  let availability;
  try {
    availability = await withTimeout(adapter.availability(), options.timeoutMs, "availability");
  } catch (error) {
    availability = { available: false as const, reason: messageOf(error) };
  }
  if (!availability.available) {
    summary.reason = availability.reason;
    console.log(`${adapter.id.padEnd(13)} skipped: ${availability.reason}`);
    for (const c of loaded) results.push(skipped(adapter.id, c, availability.reason, "skip"));
    return { summary, results };
  }
  const softwareGpu = availability.gpu?.software ?? false;
  Object.assign(summary, {
    available: true,
    backend: availability.backend,
    info: availability.info,
    softwareGpu,
  });
  if (availability.gpu) summary.gpu = availability.gpu;
  for (const c of loaded) {
    const result = await benchOne(adapter, availability.backend, softwareGpu, c, options);
    results.push(result);
    console.log(formatBenchRow(result));
  }
  return { summary, results };
}

function skipped(
  adapter: string,
  c: LoadedBenchCase,
  reason: string,
  status: "skip" | "error",
): BenchResult {
  return {
    adapter,
    case: c.id,
    goldenCase: c.goldenCase,
    batch: c.batch,
    status,
    reason,
    softwareGpu: false,
    flops: flops(c.spec, c.tensors.input.shape),
    readbackIncluded: true,
  };
}

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

function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`Invalid --${flag} "${value}": expected a positive integer`);
  }
  return n;
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
  const batches = (flags.batch ?? []).map((b) => positiveInt(b, "batch", 1));
  const timing: TimingOptions = {
    minSamples: positiveInt(flags["min-samples"], "min-samples", BENCH_DEFAULTS.minSamples),
    budgetMs: positiveInt(flags["budget-ms"], "budget-ms", BENCH_DEFAULTS.budgetMs),
    maxMsPerCase: positiveInt(flags["max-ms"], "max-ms", BENCH_DEFAULTS.maxMsPerCase),
    timeoutMs: BENCH_DEFAULTS.timeoutMs,
  };
  const torchThreads = positiveInt(
    flags["torch-threads"],
    "torch-threads",
    navigator.hardwareConcurrency,
  );
  const jsonPath = flags.json ?? BENCH_DEFAULTS.jsonPath;
  const markdownPath = flags.markdown ?? BENCH_DEFAULTS.markdownPath;
  await assertWritable(jsonPath, "json");
  await assertWritable(markdownPath, "markdown");
  const loaded: LoadedBenchCase[] = [];
  let sets: string[] = [];
  let goldenCases: BenchCase[] = [];
  let goldenTotal: number | null = null;
  if (flags.weights !== undefined) {
    if (flags.case || flags.set || flags.batch) {
      throw new UsageError(
        "Cannot combine --weights with --case, --set or --batch: --weights times the file's layer " +
          "at the batch of its check input",
      );
    }
    loaded.push(userLayerBenchCase(await loadWeightsFile(flags.weights)));
  } else {
    const set = await loadFixtureSet(options.fixturesDir);
    goldenTotal = set.fixtures.length;
    const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
    const picked = flags.case ? selectByIds(withIds, flags.case, "case") : [];
    sets = flags.set ?? (flags.case ? [] : [...BENCH_DEFAULTS.sets]);
    goldenCases = selectBenchCases(set.fixtures, sets, picked, batches);
    for (const c of goldenCases) loaded.push(await loadBenchCase(c, set));
  }
  console.log(
    `bench: ${adapters.length} adapters x ${loaded.length} cases; wall times include readback`,
  );
  const environment = await describeEnvironment();

  const torch: TorchBaseline = flags["no-torch"]
    ? { status: "not-measured", reason: "--no-torch" }
    : flags.weights !== undefined
    ? { status: "not-measured", reason: "not measured for a --weights layer" }
    : await runTorchBaseline(goldenCases, torchThreads, timing);
  if (torch.status !== "measured") console.log(`PyTorch baseline not measured: ${torch.reason}`);

  const filters: RunFilters = {
    adapters: flags.adapter ?? [],
    cases: flags.case ?? [],
    sets: flags.set ?? [],
    batches,
    weights: flags.weights ?? null,
    goldenCases: goldenTotal,
  };
  const summaries: BenchAdapter[] = [];
  const results: BenchResult[] = [];
  const isolate = !flags["in-process"] && options.adapters === undefined;
  for (const adapter of adapters) {
    const run = isolate
      ? await benchAdapterInChild(adapter.id, {
        args: childArgs(flags),
        extraReads: flags.weights === undefined ? [] : [flags.weights],
        loaded,
        timeoutMs: timing.timeoutMs * (2 * loaded.length + 2),
      })
      : await benchAdapter(adapter, loaded, { ...timing, static: !flags["no-static"] });
    summaries.push(run.summary);
    results.push(...run.results);
  }

  const report: BenchReport = {
    kind: "bench",
    environment,
    filters,
    settings: {
      sets,
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
  const count = (s: BenchResult["status"]) => results.filter((r) => r.status === s).length;
  console.log(
    `bench: ${count("timed")} timed, ${count("wrong")} wrong, ${count("skip")} skipped, ` +
      `${count("error")} errors`,
  );
  console.log(`report: ${jsonPath}, summary: ${markdownPath}`);
  return count("wrong") + count("error") > 0 ? 1 : 0;
}

if (import.meta.main) {
  await runMain(() => benchMain(Deno.args), [FixtureError, WeightsFileError]);
}

/**
 * Measuring one adapter on the bench cases, in this process: each case checked by the one
 * verify path (`_shared/verify.ts`) and timed with mitata only when it passed, then the same
 * adapter's static convolution of the same shape as a baseline.
 * @module
 */
import { measure } from "mitata";
import process from "node:process";
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import { type FlopCount, flops } from "../../condconv/geometry.ts";
import { compareWithTruth, type ToleranceBounds } from "../../condconv/tolerance.ts";
import { messageOf, withTimeout } from "../_shared/calls.ts";
import { adapterFor, announce, verify } from "../_shared/verify.ts";
import type { BenchAdapter, BenchResult, StaticBaseline, TimingStats } from "../results/bench.ts";
import { type LoadedBenchCase, staticTruth } from "./load.ts";
import { formatBenchRow } from "./report.ts";
import { benchRow, checkedFields, timingStats } from "./rows.ts";
import { MAX_SAMPLES, MIN_SAMPLES_FLOOR } from "./limits.ts";
import type { MachineLimits, RooflinePoint } from "../results/machine_limits.ts";
import { condConvBytes } from "./_roofline_bytes.ts";
import { type ComputeCeiling, rooflinePoint } from "./_roofline_point.ts";
import { computeCeiling, rowThreads, type ThreadsFrom } from "./threads.ts";
import { benchFormulations, cellFields, formulationAxis, formulationOf } from "./formulations.ts";

export { MAX_SAMPLES, MIN_SAMPLES_FLOOR } from "./limits.ts";
export { P50_INTERVAL, p50Interval } from "../report/interval.ts";

/** The process's peak resident set so far (getrusage's maxRSS), where the runtime has it. */
function peakRssBytes(): number | null {
  try {
    return process.resourceUsage().maxRSS * 1024;
  } catch {
    return null;
  }
}

function toStats(samplesNs: number[]): TimingStats {
  return timingStats(samplesNs.map((ns) => ns / 1e6));
}

/** How long and how often to time. */
export interface TimingOptions {
  minSamples: number;
  budgetMs: number;
  /** slow cases get fewer samples (never below `MIN_SAMPLES_FLOOR`) to stay near this */
  maxMsPerCase: number;
  timeoutMs: number;
}

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
      max_samples: MAX_SAMPLES,
      min_cpu_time: options.budgetMs * 1e6,
      batch_threshold: 0,
    }),
    options.timeoutMs,
    "the warm measurement",
  );
  return toStats(stats.samples);
}

/** How an adapter's CPU rows are placed under the machine's limits. */
interface Placement {
  threads: number;
  from: ThreadsFrom;
  /** absent for native code (`info.native`): the probe measures wasm and JavaScript only */
  compute?: ComputeCeiling;
  /** absent when the run did not probe the machine (`--no-roofline`) */
  limits?: MachineLimits;
}

/**
 * The CPU placement of `summary`'s rows; `undefined` for a GPU adapter. A native adapter
 * (`info.native`, e.g. ort-node) gets its thread count but no ceiling: the probe measures the
 * wasm SIMD and JavaScript peaks, not what compiled native code reaches.
 */
function placementOf(
  summary: BenchAdapter,
  limits: MachineLimits | undefined,
): Placement | undefined {
  const native = summary.info?.native !== undefined;
  const compute = native ? undefined : computeCeiling(summary.toleranceClass);
  if (compute === undefined && !native) return undefined;
  const { threads, from } = rowThreads(summary.id, summary.info, navigator.hardwareConcurrency);
  return { threads, from, compute, limits };
}

/** A timed run of `flops` over `bytes` under the limits, when there are limits. */
function placed(
  placement: Placement | undefined,
  flops: number,
  bytes: number,
  ms: number,
): RooflinePoint | undefined {
  if (!placement?.limits || !placement.compute) return undefined;
  const { threads, limits, compute } = placement;
  return rooflinePoint(flops, bytes, ms, threads, limits, compute);
}

async function benchStatic(
  adapter: CondConvAdapter,
  loaded: LoadedBenchCase,
  options: TimingOptions,
  tolerance: ToleranceBounds,
  flopCount: FlopCount,
  placement: Placement | undefined,
): Promise<StaticBaseline> {
  if (!adapter.prepareStatic) {
    return { status: "not-measured", reason: "the adapter has no static convolution path" };
  }
  let layer: PreparedCondConv | undefined;
  try {
    const { spec, input } = loaded.target;
    layer = await withTimeout(
      adapter.prepareStatic(spec, loaded.staticKernel, loaded.staticBias),
      options.timeoutMs,
      "prepareStatic",
    );
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
    const bytes = condConvBytes(spec, input.shape).staticConvTotal;
    const roofline = placed(placement, flopCount.staticConv, bytes, warm.p50Ms);
    return {
      status: "timed",
      maxAbsErr: comparison.maxAbsErr,
      warm,
      gflops: flopCount.staticConv / warm.p50Ms / 1e6,
      ...(roofline ? { roofline } : {}),
    };
  } catch (error) {
    return { status: "error", reason: messageOf(error) };
  } finally {
    await layer?.dispose().catch(() => {});
  }
}

/** Options of one adapter's measurement. */
export interface BenchOptions extends TimingOptions {
  /** time the static convolution baseline too */
  static: boolean;
  /**
   * whether the adapters' workarounds of library bugs stay on (default true); false times
   * each adapter's `withoutWorkarounds()` variant where it has one, and its pre-check then
   * applies the rules of the bugs (a `wrong` row under one does not fail the run)
   */
  workarounds?: boolean;
  /** where it runs (`wgpu/gl llvmpipe ...`), from what the adapter announced */
  implementationOf?: (summary: BenchAdapter) => string | undefined;
  /** each row as it comes (default: printed) */
  onResult?: (result: BenchResult) => void;
  /** the machine's limits: each timed CPU row gets its roofline point under them */
  limits?: MachineLimits;
  /** time every formulation of a framework adapter too (`bench/formulations.ts`) */
  formulations?: boolean;
}

async function benchOne(
  adapter: CondConvAdapter,
  backend: string,
  softwareGpu: boolean,
  loaded: LoadedBenchCase,
  options: BenchOptions,
  placement: Placement | undefined,
): Promise<BenchResult> {
  const { target } = loaded;
  const flopCount = flops(target.spec, target.input.shape);
  const result = benchRow(adapter.id, loaded, "error", { backend, softwareGpu });
  if (placement) Object.assign(result, { threads: placement.threads, threadsFrom: placement.from });
  const verdict = await verify(adapter, backend, target, {
    timeoutMs: options.timeoutMs,
    keep: true,
    workarounds: options.workarounds,
  });
  Object.assign(result, checkedFields(verdict, loaded.checkedAgainst));
  if (verdict.status === "error") {
    result.reason = verdict.reason;
    return result;
  }
  const axis = options.formulations ? formulationAxis(adapter) : undefined;
  /** With `--formulations`: every formulation of a framework adapter on this case. */
  const matrix = async (defaultFormulation: string | undefined) => {
    if (!axis) return;
    result.formulationCell = cellFields(loaded);
    result.formulations = await benchFormulations(
      adapter,
      axis,
      backend,
      loaded,
      options,
      defaultFormulation,
    );
  };
  if (!verdict.layer) {
    result.status = "wrong";
    result.reason = `${verdict.reason}: not timed`;
    await matrix(undefined); // which formulations are right, when the default is not
    return result;
  }
  const { prepared, run } = verdict.layer;
  try {
    const gpuTimes: number[] = [];
    result.warm = await timeRuns(run, options, verdict.firstRunMs!, () => {
      const gpu = prepared.lastGpuTimeMs;
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
    const formulation = formulationOf(prepared);
    if (formulation !== undefined) result.formulation = formulation;
    const bytes = condConvBytes(target.spec, target.input.shape).total;
    const roofline = placed(placement, flopCount.total, bytes, result.warm.p50Ms);
    if (roofline) result.roofline = roofline;
    result.status = "timed";
  } catch (error) {
    result.status = "error";
    result.reason = messageOf(error);
    return result;
  } finally {
    await prepared.dispose().catch(() => {});
  }
  await matrix(result.formulation);
  if (!options.static) {
    result.static = { status: "not-measured", reason: "--no-static" };
    return result;
  }
  result.static = await benchStatic(
    adapter,
    loaded,
    options,
    verdict.tolerance,
    flopCount,
    placement,
  );
  if (result.static.warm && result.warm) {
    result.overVsStatic = result.warm.p50Ms / result.static.warm.p50Ms;
  }
  return result;
}

/** One adapter (without its workarounds, where `options` says so) over every loaded case. */
export async function benchAdapter(
  registered: CondConvAdapter,
  loaded: readonly LoadedBenchCase[],
  options: BenchOptions,
): Promise<{ summary: BenchAdapter; results: BenchResult[] }> {
  const adapter = adapterFor(registered, options.workarounds);
  const announced = await announce(adapter, options.timeoutMs);
  const softwareGpu = announced.summary.gpu?.software ?? false;
  const summary: BenchAdapter = { ...announced.summary, softwareGpu };
  const implementation = options.implementationOf?.(summary);
  const where = implementation === undefined ? {} : { implementation };
  Object.assign(summary, where);
  const { backend } = announced;
  if (backend === undefined) {
    const reason = summary.reason ?? "not available";
    if (!options.onResult) console.log(`${adapter.id.padEnd(13)} skipped: ${reason}`);
    const results = loaded.map((c) => ({ ...skipped(adapter.id, c, reason, "skip"), ...where }));
    results.forEach((r) => options.onResult?.(r));
    return { summary, results };
  }
  const placement = placementOf(summary, options.limits);
  const results: BenchResult[] = [];
  for (const c of loaded) {
    const one = await benchOne(adapter, backend, softwareGpu, c, options, placement);
    const result = { ...one, ...where };
    results.push(result);
    if (options.onResult) options.onResult(result);
    else console.log(formatBenchRow(result));
  }
  return { summary, results };
}

/** A row for a case an adapter did not run: skipped, or lost with its process. */
export function skipped(
  adapter: string,
  c: LoadedBenchCase,
  reason: string,
  status: "skip" | "error",
): BenchResult {
  return benchRow(adapter, c, status, { reason });
}

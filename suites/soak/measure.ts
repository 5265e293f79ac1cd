/**
 * The measurements of `deno task soak` (`suites/soak.ts`): does an adapter keep its resources
 * and memory flat over many runs, and give everything back on dispose?
 *
 * For each available adapter, on one small layer ({@link SOAK_LAYER}):
 * 1. prepare once and run `runs` times: `resourceCounts()` after the first run and after the
 *    last must be equal, and memory may grow only within {@link SOAK_BOUNDS} between run
 *    {@link WARM_RUN} and the last run (each figure read after a forced GC and after V8 has
 *    freed dead ArrayBuffers);
 * 2. prepare, run once, dispose, `cycles` times: the counts after every cycle must equal the
 *    counts before the first prepare.
 *
 * ## The bounds
 *
 * The layer's input is 64 KiB and its output 128 KiB: a run that leaked one output tensor
 * or staging buffer grows memory by 128 KiB x 990 = 124 MiB between run 10 and run 1000.
 * - RSS, 64 MiB: half that. What RSS does without a leak was measured here (1000 to 4000
 *   runs per adapter): it grows in the first few hundred runs, up to 53 MiB (tfjs-cpu: V8's
 *   young generation grows from 20 to 50 MiB of heap; reference: pages V8 released that
 *   malloc keeps), then stays flat. The bound sits above that plateau and below a leak.
 * - ArrayBuffer memory outside the heap (`external`), 4 MiB: it came back to the same value
 *   for every adapter (0.00 MiB of growth), so a leaked output tensor shows after 40 runs.
 * - JS heap (`heapUsed`), 4 MiB: grew by 0.2 to 0.5 MiB over 1000 runs, flat after that. A
 *   leak of a few hundred bytes a run stays under it at 1000 runs: run more (`--runs 4000`)
 *   and compare `heapUsed` at half way (`heapUsedSecondHalfMiB`, reported), as the 0.5 KB a
 *   run the ts adapter leaked through `Promise.race` was found.
 *
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { GoldenCase } from "../../condconv/cases.ts";
import type { CondConvSpecInput } from "../../condconv/spec.ts";
import { caseTensors } from "../../condconv/seeded.ts";
import { announce, type CheckTarget, verify } from "../_shared/verify.ts";
import { CALL_TIMEOUT_MS } from "../conform/run.ts";
import type { MemoryFigures, SoakResult } from "../results/soak.ts";

/** Growth allowed from run {@link WARM_RUN} to the last run, MiB (reasons in the module doc). */
export const SOAK_BOUNDS = { rssMiB: 64, externalMiB: 4, heapUsedMiB: 4 } as const;

/** The run after which memory is first measured (JIT, caches and pools are warm by then). */
export const WARM_RUN = 10;

/** The soak layer: 8 -> 16 channels, 3x3, 32x32, batch 2: input 64 KiB, output 128 KiB. */
export const SOAK_LAYER: {
  spec: CondConvSpecInput;
  input: { batch: number; height: number; width: number };
} = {
  spec: { inChannels: 8, outChannels: 16, kernelSize: 3, padding: 1, numExperts: 4 },
  input: { batch: 2, height: 32, width: 32 },
};

/** Options of one soak. */
export interface SoakOptions {
  runs: number;
  cycles: number;
}

/** Bytes in a MiB. */
export const MIB = 1024 * 1024;

let collector: (() => void) | undefined;

/**
 * Forces a full GC: `globalThis.gc` under `--v8-flags=--expose-gc`, else the same function
 * got through `node:v8` (as Node allows), so `deno test` needs no V8 flag. False if neither.
 */
export function gc(): boolean {
  if (!collector) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (typeof exposed === "function") collector = exposed;
    else {
      try {
        v8.setFlagsFromString("--expose-gc");
        collector = vm.runInNewContext("gc") as () => void;
      } catch {
        return false;
      }
    }
  }
  collector();
  return true;
}

/**
 * Memory after the garbage has really gone: V8 frees the backing stores of dead
 * ArrayBuffers (each run's output tensor) lazily, after a GC, in a task of its own, so
 * collect and yield to the event loop a few times before reading the figures.
 */
async function measure(): Promise<MemoryFigures> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const { rss, heapUsed, external } = Deno.memoryUsage();
  return { rss, heapUsed, external };
}

function countsOf(adapter: CondConvAdapter): Record<string, number> {
  return adapter.resourceCounts ? { ...adapter.resourceCounts() } : {};
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => a[k] === b[k]);
}

/** Resource counts as printed. */
export const show = (counts: Record<string, number>) => JSON.stringify(counts);

/** The soak layer as a check target: its truth is the reference adapter's (float64) output. */
export async function soakTarget(): Promise<CheckTarget> {
  const { spec, weights, input, routingWeights } = soakLayer();
  const reference = await referenceAdapter.prepare(spec, weights);
  const output = await reference.run(input, routingWeights);
  await reference.dispose();
  return {
    id: "soak",
    spec,
    weights,
    input,
    routingWeights,
    truth: Float64Array.from(output.data),
    outputShape: output.shape,
    torchFloat32MaxAbsErr: 0,
  };
}

/** The soak layer's spec and tensors (seeded like a golden case). */
export function soakLayer() {
  const goldenCase = GoldenCase.parse({
    id: "soak",
    about: "the soak layer",
    seed: 2024,
    input: SOAK_LAYER.input,
    spec: SOAK_LAYER.spec,
  });
  return { spec: goldenCase.spec, ...caseTensors(goldenCase) };
}

type Counts = Record<string, number>;

/**
 * Phase 1: `prepared` (already run once, by the check) runs until `runs`; resource counts must
 * stay flat, memory within `SOAK_BOUNDS`, and dispose must give back what prepare took.
 */
async function manyRuns(
  adapter: CondConvAdapter,
  prepared: PreparedCondConv,
  target: CheckTarget,
  counts: { beforePrepare: Counts; afterFirstRun: Counts },
  result: SoakResult,
): Promise<{ afterLastRun: Counts; afterDispose: Counts }> {
  const { runs } = result;
  let afterLastRun: Counts = {};
  let afterWarmRun: MemoryFigures | undefined;
  let halfWay: MemoryFigures | undefined;
  let afterLast: MemoryFigures | undefined;
  const gcForced = gc();
  const started = performance.now();
  let measuring = 0;
  try {
    for (let i = 1; i <= runs; i++) {
      if (i > 1) await prepared.run(target.input, target.routingWeights);
      const t = performance.now();
      if (i === Math.min(WARM_RUN, runs)) afterWarmRun = await measure();
      if (i === Math.max(WARM_RUN, Math.floor(runs / 2))) halfWay = await measure();
      measuring += performance.now() - t;
    }
    afterLastRun = countsOf(adapter);
    afterLast = await measure();
  } finally {
    await prepared.dispose();
  }
  // run 1 was the check; runs 2 to `runs` are timed here
  result.msPerRun = (performance.now() - started - measuring) / (runs - 1);
  const afterDispose = countsOf(adapter);
  if (!sameCounts(counts.afterFirstRun, afterLastRun)) {
    result.problems.push(
      `resource counts grew over ${runs} runs: ${show(counts.afterFirstRun)} after run 1, ` +
        `${show(afterLastRun)} after run ${runs}`,
    );
  }
  if (!sameCounts(counts.beforePrepare, afterDispose)) {
    result.problems.push(
      `dispose left resources: ${show(counts.beforePrepare)} before prepare, ` +
        `${show(afterDispose)} after dispose`,
    );
  }
  const growth = (key: keyof MemoryFigures, from = afterWarmRun!) =>
    (afterLast![key] - from[key]) / MIB;
  result.memory = {
    afterWarmRun: afterWarmRun!,
    afterLastRun: afterLast!,
    rssGrowthMiB: growth("rss"),
    externalGrowthMiB: growth("external"),
    heapUsedGrowthMiB: growth("heapUsed"),
    heapUsedSecondHalfMiB: growth("heapUsed", halfWay!),
    gcForced,
  };
  const checks = [
    ["RSS", result.memory.rssGrowthMiB, SOAK_BOUNDS.rssMiB],
    ["ArrayBuffer memory (external)", result.memory.externalGrowthMiB, SOAK_BOUNDS.externalMiB],
    ["JS heap (heapUsed)", result.memory.heapUsedGrowthMiB, SOAK_BOUNDS.heapUsedMiB],
  ] as const;
  for (const [what, grew, bound] of checks) {
    if (grew > bound) {
      result.problems.push(
        `${what} grew by ${grew.toFixed(1)} MiB from run ${WARM_RUN} to run ${runs}, more ` +
          `than the ${bound} MiB allowed`,
      );
    }
  }
  return { afterLastRun, afterDispose };
}

/** Phase 2: prepare, run, dispose, `cycles` times; the counts must come back every time. */
async function cycles(
  adapter: CondConvAdapter,
  target: CheckTarget,
  result: SoakResult,
): Promise<{ beforeCycles: Counts; afterCycles: Counts }> {
  const beforeCycles = countsOf(adapter);
  let afterCycles = beforeCycles;
  const started = performance.now();
  for (let i = 1; i <= result.cycles; i++) {
    const layer = await adapter.prepare(target.spec, target.weights);
    try {
      await layer.run(target.input, target.routingWeights);
    } finally {
      await layer.dispose();
    }
    afterCycles = countsOf(adapter);
    if (!sameCounts(beforeCycles, afterCycles)) {
      result.problems.push(
        `prepare/run/dispose cycle ${i} left resources: ${show(beforeCycles)} before, ` +
          `${show(afterCycles)} after`,
      );
      break;
    }
  }
  result.cyclesMs = performance.now() - started;
  return { beforeCycles, afterCycles };
}

/** Soaks one adapter; adapter problems are results, never throws. */
export async function soakAdapter(
  adapter: CondConvAdapter,
  options: SoakOptions,
): Promise<SoakResult> {
  const result: SoakResult = {
    adapter: adapter.id,
    status: "pass",
    problems: [],
    runs: options.runs,
    cycles: options.cycles,
  };
  const announced = await announce(adapter, CALL_TIMEOUT_MS);
  if (announced.backend === undefined) {
    const status = announced.failed ? "error" : "skip";
    return { ...result, status, problems: [announced.summary.reason ?? "not available"] };
  }
  result.backend = announced.backend;
  const target = await soakTarget();
  try {
    // run 1 is the one verify path's check
    const beforePrepare = countsOf(adapter);
    const verdict = await verify(adapter, announced.backend, target, {
      timeoutMs: CALL_TIMEOUT_MS,
      keep: true,
    });
    if (!verdict.layer) {
      result.problems.push(verdict.reason ?? verdict.status);
      return { ...result, status: verdict.status === "error" ? "error" : "fail" };
    }
    const afterFirstRun = countsOf(adapter);
    const counts = { beforePrepare, afterFirstRun };
    const phase1 = await manyRuns(adapter, verdict.layer.prepared, target, counts, result);
    const phase2 = await cycles(adapter, target, result);
    result.counts = { ...counts, ...phase1, ...phase2 };
  } catch (error) {
    result.status = "error";
    result.problems.push(error instanceof Error ? `${error.name}: ${error.message}` : `${error}`);
    return result;
  }
  if (result.problems.length > 0) result.status = "fail";
  return result;
}

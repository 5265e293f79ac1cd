/**
 * conform's checks in this process: each adapter over each target, with tolerance checks and
 * the known library bugs applied. The adapter children run it; so does `--in-process`, which
 * loads this module only after it has given up its `run` permission.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import { compareWithTruth, toleranceFor } from "../../condconv/tolerance.ts";
import { selectByIds } from "../_shared/cli.ts";
import type { Fixture, FixtureSet } from "../_shared/fixtures.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "../_shared/fixtures.ts";
import { loadWeightsFile, userLayerTarget } from "../_shared/weights_file.ts";
import { messageOf, withTimeout } from "../_shared/calls.ts";
import { inProcessImplementation, isWebGpuAdapter } from "../_shared/webgpu_matrix.ts";
import { KNOWN_FAILURES, type KnownFailure, knownFailure } from "./known_failures.ts";
import type { AdapterSummary } from "../results/adapter_summary.ts";
import { type ConformReport, type ConformResult, emptySummary } from "../results/conformance.ts";
import type { ConformRun } from "../conform.ts";
import { CALL_TIMEOUT_MS } from "./isolated.ts";

/**
 * One thing to check an adapter on: a golden case, or a user's layer with its PyTorch check
 * tensors. Loaded and verified once, shared by every adapter.
 */
export interface CheckTarget {
  id: string;
  spec: CondConvSpec;
  weights: CondConvWeights;
  input: Tensor;
  routingWeights?: Float32Array;
  truth: Float64Array;
  outputShape: readonly number[];
  /** PyTorch's own float32 max abs error on this target, which anchors `atol` */
  torchFloat32MaxAbsErr: number;
}

/**
 * The golden cases as check targets, each verified (tensor checksum, golden length and
 * checksum). Throws a `FixtureError` on the first bad fixture.
 */
export async function loadTargets(
  set: FixtureSet,
  fixtures: readonly Fixture[],
): Promise<CheckTarget[]> {
  const targets: CheckTarget[] = [];
  for (const fixture of fixtures) {
    const tensors = await loadCaseTensors(fixture);
    targets.push({
      id: fixture.entry.id,
      spec: fixture.goldenCase.spec,
      ...tensors,
      truth: await loadGolden(set, fixture),
      outputShape: fixture.entry.outputShape,
      torchFloat32MaxAbsErr: fixture.entry.torchFloat32.maxAbsErr,
    });
  }
  return targets;
}

/**
 * Checks one adapter (whose availability said `backend`) on one target, then applies the
 * known library bugs (`known_failures.ts`): a listed fail becomes `known-fail`, a listed pass
 * gets a note. Never throws.
 */
export async function checkTarget(
  adapter: CondConvAdapter,
  backend: string,
  target: CheckTarget,
  timeoutMs: number,
  known: readonly KnownFailure[] = KNOWN_FAILURES,
): Promise<ConformResult> {
  const result = await checkTargetPlain(adapter, backend, target, timeoutMs);
  const [batch, , height, width] = target.input.shape;
  const bug = knownFailure(adapter.id, { spec: target.spec, batch, height, width }, known);
  if (bug && result.status === "fail") {
    return {
      ...result,
      status: "known-fail",
      reason: `${result.reason}; known library bug: ${bug.reason}`,
    };
  }
  if (bug && result.status === "pass") {
    return { ...result, note: `listed as a known failure but passed here: ${bug.reason}` };
  }
  return result;
}

async function checkTargetPlain(
  adapter: CondConvAdapter,
  backend: string,
  target: CheckTarget,
  timeoutMs: number,
): Promise<ConformResult> {
  const base = { adapter: adapter.id, case: target.id };
  const torchErr = target.torchFloat32MaxAbsErr;
  const tolerance = toleranceFor(adapter.toleranceClass, torchErr);
  let prepared;
  const t0 = performance.now();
  try {
    prepared = await withTimeout(
      adapter.prepare(target.spec, target.weights),
      timeoutMs,
      "prepare",
    );
  } catch (error) {
    return { ...base, status: "error", reason: `prepare failed: ${messageOf(error)}` };
  }
  const t1 = performance.now();
  try {
    if (prepared.backend !== backend) {
      return {
        ...base,
        status: "error",
        backend: prepared.backend,
        reason: `ran on backend "${prepared.backend}", not "${backend}" as announced`,
      };
    }
    const output = await withTimeout(
      prepared.run(target.input, target.routingWeights),
      timeoutMs,
      "run",
    );
    const runMs = performance.now() - t1;
    const expected = target.outputShape;
    if (output.shape.join() !== expected.join() || output.data.length !== target.truth.length) {
      return {
        ...base,
        status: "fail",
        backend,
        reason: `output shape [${output.shape}] (${output.data.length} values), expected ` +
          `[${expected}]`,
      };
    }
    const comparison = compareWithTruth(output.data, target.truth, tolerance);
    const result: ConformResult = {
      ...base,
      status: comparison.pass ? "pass" : "fail",
      maxAbsErr: comparison.maxAbsErr,
      maxRelErr: comparison.maxRelErr,
      worstRatio: comparison.worstRatio,
      atol: tolerance.atol,
      rtol: tolerance.rtol,
      torchFloat32MaxAbsErr: torchErr,
      backend,
      prepareMs: t1 - t0,
      runMs,
    };
    if (!comparison.pass) {
      const i = comparison.worstIndex;
      result.reason = comparison.nonFiniteMismatches > 0
        ? `${comparison.nonFiniteMismatches} values non-finite where the truth is not ` +
          `(first at index ${i}: ${output.data[i]} vs ${target.truth[i]})`
        : `worst element ${i}: ${output.data[i]} vs truth ${target.truth[i]}, ` +
          `${comparison.worstRatio.toFixed(2)}x the tolerance`;
    }
    return result;
  } catch (error) {
    return { ...base, status: "error", backend, reason: `run failed: ${messageOf(error)}` };
  } finally {
    await withTimeout(prepared.dispose(), timeoutMs, "dispose").catch(() => {});
  }
}

/** Options of one conformance run. */
export interface ConformOptions {
  adapters: readonly CondConvAdapter[];
  targets: readonly CheckTarget[];
  onResult?: (result: ConformResult) => void;
  timeoutMs?: number;
  /** the known library bugs to apply (default `KNOWN_FAILURES`) */
  known?: readonly KnownFailure[];
}

/** Runs every adapter over every target; adapter problems are results, never throws. */
export async function runConformance(
  options: ConformOptions,
): Promise<Pick<ConformReport, "adapters" | "results" | "summary">> {
  const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  const adapters: AdapterSummary[] = [];
  const results: ConformResult[] = [];
  const emit = (result: ConformResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  for (const adapter of options.adapters) {
    const summary: AdapterSummary = {
      id: adapter.id,
      description: adapter.description,
      toleranceClass: adapter.toleranceClass,
      available: false,
    };
    adapters.push(summary);
    let availability;
    try {
      availability = await withTimeout(adapter.availability(), timeoutMs, "availability check");
    } catch (error) {
      summary.reason = `availability check failed: ${messageOf(error)}`;
      for (const target of options.targets) {
        emit({ adapter: adapter.id, case: target.id, status: "error", reason: summary.reason });
      }
      continue;
    }
    if (!availability.available) {
      summary.reason = availability.reason;
      for (const target of options.targets) {
        emit({ adapter: adapter.id, case: target.id, status: "skip", reason: availability.reason });
      }
      continue;
    }
    Object.assign(summary, {
      available: true,
      backend: availability.backend,
      info: availability.info,
    });
    if (availability.gpu) summary.gpu = availability.gpu;
    for (const target of options.targets) {
      emit(await checkTarget(adapter, availability.backend, target, timeoutMs, options.known));
    }
  }
  const summary = emptySummary();
  for (const r of results) summary[r.status]++;
  return { adapters, results, summary };
}

/** Stamps each row and summary with where it ran (`inProcessImplementation` for WebGPU). */
function stampInProcess(run: ConformRun): void {
  for (const summary of run.adapters) {
    summary.implementation = isWebGpuAdapter(summary)
      ? inProcessImplementation(summary.gpu)
      : "deno";
    for (const r of run.results.filter((r) => r.adapter === summary.id)) {
      r.implementation = summary.implementation;
    }
  }
}

/** What an in-process run is given beyond its flags. */
export interface InProcessOptions {
  fixturesDir?: string;
  /** adapters to choose from instead of the registry */
  adapters?: readonly CondConvAdapter[];
  /** give up the `run` permission before loading any adapter */
  revokeRunBeforeLoading?: boolean;
}

/** The run in this process: the registry (or the given adapters) loaded here. */
export async function runInProcess(
  flags: { adapter?: string[]; case?: string[] },
  options: InProcessOptions,
  weights: string | undefined,
  timeoutMs: number,
  print: { header: (adapters: number, targets: number) => void; row: (r: ConformResult) => void },
): Promise<ConformRun & { goldenCases: number | null }> {
  if (options.revokeRunBeforeLoading) await Deno.permissions.revoke({ name: "run" });
  const registry = options.adapters ?? (await import("../../impls/registry.ts")).ADAPTERS;
  const adapters = selectByIds(registry, flags.adapter ?? [], "adapter");
  let targets: CheckTarget[];
  let goldenCases: number | null = null;
  if (weights !== undefined) {
    targets = [userLayerTarget(await loadWeightsFile(weights))];
  } else {
    const set = await loadFixtureSet(options.fixturesDir);
    goldenCases = set.fixtures.length;
    const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
    targets = await loadTargets(set, selectByIds(withIds, flags.case ?? [], "case"));
  }
  print.header(adapters.length, targets.length);
  if (adapters.some(isWebGpuAdapter)) {
    console.log(`conform: in-process: WebGPU adapters run on ${inProcessImplementation()} only`);
  }
  const run = await runConformance({
    adapters,
    targets,
    timeoutMs,
    onResult: (r) =>
      print.row({
        ...r,
        implementation: isWebGpuAdapter(adapters.find((a) => a.id === r.adapter)!)
          ? inProcessImplementation()
          : undefined,
      }),
  });
  stampInProcess(run);
  return { ...run, goldenCases };
}

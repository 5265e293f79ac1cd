/**
 * The one verify path every task takes before it trusts an adapter's output: prepare, check
 * that the backend that ran is the one availability announced, run once, compare with the
 * truth under the adapter's tolerance class, then apply the known library bugs
 * (`suites/conform/known_failures.ts`). conform reports the verdict; bench and the gate time
 * only a layer that passed; soak starts from it.
 *
 * Runtime-neutral: web APIs only, no registry and no `Deno.*`, so that a browser page and the
 * gate's timing worker (which must not load the working tree's adapters) import it as it is.
 * @module
 */
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import {
  compareWithTruth,
  type Comparison,
  type ToleranceBounds,
  toleranceFor,
} from "../../condconv/tolerance.ts";
import { KNOWN_FAILURES, type KnownFailure, knownFailure } from "../conform/known_failures.ts";
import { messageOf, withTimeout } from "./calls.ts";
import type { AdapterSummary } from "../results/adapter_summary.ts";

/**
 * One thing to check an adapter on: a golden case (at its batch or another), or a user's layer
 * with its PyTorch check tensors. Loaded and verified once, shared by every adapter.
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

/** Options of one check. */
export interface VerifyOptions {
  /** the longest prepare or first run may take, ms */
  timeoutMs: number;
  /** keep the prepared layer of a passing check (to time it): the caller disposes it */
  keep?: boolean;
  /** the WebGPU implementation the adapter runs on, where the runner knows it */
  implementation?: string;
  /** whether the adapter's workarounds for library bugs are on (default true) */
  workarounds?: boolean;
  /** the known library bugs to apply (default `KNOWN_FAILURES`) */
  known?: readonly KnownFailure[];
}

/** The outcome of one check. `known-fail` is a fail that a known library bug explains. */
export interface Verdict {
  status: "pass" | "fail" | "known-fail" | "error";
  /** the backend that ran; absent when prepare failed */
  backend?: string;
  reason?: string;
  /** on a pass that a known bug covers: that the bug did not show here */
  note?: string;
  /** the known library bug applied, if any */
  knownFailure?: KnownFailure;
  tolerance: ToleranceBounds;
  comparison?: Comparison;
  prepareMs?: number;
  firstRunMs?: number;
  /**
   * what the layer changed to avoid a library bug (its `workarounds`, read after the first
   * run); absent where it changed nothing
   */
  workarounds?: string[];
  /** with `keep`, on a pass: the prepared layer and a run of the target's input on it */
  layer?: { prepared: PreparedCondConv; run: () => Promise<Tensor> };
}

/**
 * The adapter that a run with `workarounds` (default on) checks: with them off, the adapter's
 * `withoutWorkarounds()` variant where it has one, so that a raw library bug shows (and the
 * known-failure rules, told `workarounds: false`, apply); the adapter itself otherwise.
 */
export function adapterFor(adapter: CondConvAdapter, workarounds = true): CondConvAdapter {
  return workarounds ? adapter : adapter.withoutWorkarounds?.() ?? adapter;
}

/**
 * The workarounds `layer` applied, as a verdict records them: none when it lists none (an
 * adapter's own record, so anything but a list of strings is not taken as one).
 */
function appliedWorkarounds(layer: PreparedCondConv): { workarounds?: string[] } {
  const applied: unknown = layer.workarounds;
  if (!Array.isArray(applied) || applied.length === 0) return {};
  return { workarounds: applied.map(String) };
}

/**
 * Checks `adapter` (whose availability announced `backend`) on `target`. Never throws: an
 * adapter's fault is a verdict. The prepared layer is disposed unless `keep` and it passed.
 */
export async function verify(
  adapter: CondConvAdapter,
  backend: string,
  target: CheckTarget,
  options: VerifyOptions,
): Promise<Verdict> {
  const verdict = await verifyPlain(adapter, backend, target, options);
  const [batch, , height, width] = target.input.shape;
  const bug = knownFailure(adapter.id, {
    spec: target.spec,
    batch,
    height,
    width,
    implementation: options.implementation,
    workarounds: options.workarounds,
  }, options.known ?? KNOWN_FAILURES);
  if (bug && verdict.status === "fail") {
    return {
      ...verdict,
      status: "known-fail",
      knownFailure: bug,
      reason: `${verdict.reason}; known library bug: ${bug.reason}`,
    };
  }
  if (bug && verdict.status === "pass") {
    return {
      ...verdict,
      knownFailure: bug,
      note: `listed as a known failure but passed here: ${bug.reason}`,
    };
  }
  return verdict;
}

async function verifyPlain(
  adapter: CondConvAdapter,
  backend: string,
  target: CheckTarget,
  options: VerifyOptions,
): Promise<Verdict> {
  const { timeoutMs } = options;
  const tolerance = toleranceFor(adapter.toleranceClass, target.torchFloat32MaxAbsErr);
  let prepared: PreparedCondConv;
  const t0 = performance.now();
  try {
    prepared = await withTimeout(
      adapter.prepare(target.spec, target.weights),
      timeoutMs,
      "prepare",
    );
  } catch (error) {
    return { status: "error", tolerance, reason: `prepare failed: ${messageOf(error)}` };
  }
  const t1 = performance.now();
  let keep = false;
  try {
    if (prepared.backend !== backend) {
      return {
        status: "error",
        tolerance,
        backend: prepared.backend,
        reason: `ran on backend "${prepared.backend}", not "${backend}" as announced`,
      };
    }
    const layer = prepared;
    const run = () => layer.run(target.input, target.routingWeights);
    const output = await withTimeout(run(), timeoutMs, "run");
    const afterRun = {
      prepareMs: t1 - t0,
      firstRunMs: performance.now() - t1,
      ...appliedWorkarounds(layer),
    };
    const expected = target.outputShape;
    if (output.shape.join() !== expected.join() || output.data.length !== target.truth.length) {
      return {
        status: "fail",
        tolerance,
        backend,
        ...afterRun,
        reason: `output shape [${output.shape}] (${output.data.length} values), expected ` +
          `[${expected}]`,
      };
    }
    const comparison = compareWithTruth(output.data, target.truth, tolerance);
    if (comparison.pass) {
      keep = options.keep === true;
      const verdict: Verdict = { status: "pass", tolerance, backend, comparison, ...afterRun };
      if (keep) verdict.layer = { prepared, run };
      return verdict;
    }
    const i = comparison.worstIndex;
    const reason = comparison.nonFiniteMismatches > 0
      ? `${comparison.nonFiniteMismatches} values non-finite where the truth is not ` +
        `(first at index ${i}: ${output.data[i]} vs ${target.truth[i]})`
      : `worst element ${i}: ${output.data[i]} vs truth ${target.truth[i]}, ` +
        `${comparison.worstRatio.toFixed(2)}x the tolerance`;
    return { status: "fail", tolerance, backend, comparison, ...afterRun, reason };
  } catch (error) {
    return { status: "error", tolerance, backend, reason: `run failed: ${messageOf(error)}` };
  } finally {
    if (!keep) await withTimeout(prepared.dispose(), timeoutMs, "dispose").catch(() => {});
  }
}

/** What an adapter announced: its summary for the report, and the backend it will run. */
export interface Announcement {
  summary: AdapterSummary;
  /** the announced backend when available */
  backend?: string;
  /** true when the availability check itself failed (threw or timed out): an error, not a skip */
  failed: boolean;
}

/** Asks `adapter` whether it can run here. Never throws: a throw or a timeout is `failed`. */
export async function announce(adapter: CondConvAdapter, timeoutMs: number): Promise<Announcement> {
  const summary: AdapterSummary = {
    id: adapter.id,
    description: adapter.description,
    toleranceClass: adapter.toleranceClass,
    available: false,
  };
  let availability;
  try {
    availability = await withTimeout(adapter.availability(), timeoutMs, "availability check");
  } catch (error) {
    summary.reason = `availability check failed: ${messageOf(error)}`;
    return { summary, failed: true };
  }
  if (!availability.available) {
    summary.reason = availability.reason;
    return { summary, failed: false };
  }
  Object.assign(summary, {
    available: true,
    backend: availability.backend,
    info: availability.info,
  });
  if (availability.gpu) summary.gpu = availability.gpu;
  return { summary, backend: availability.backend, failed: false };
}

/**
 * A conformance run: every adapter over every check target (golden cases or a user's layer),
 * each verdict from the one verify path (`_shared/verify.ts`). Used in-process by
 * `conform.ts` and in each adapter's child process by `conform/child.ts`.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import type { UserLayer } from "../../condconv/formats/user_layer.ts";
import type { AdapterSummary } from "../results/adapter_summary.ts";
import { type ConformResult, emptySummary } from "../results/conformance.ts";
import { type Fixture, type FixtureSet, loadCaseTensors, loadGolden } from "../_shared/fixtures.ts";
import { adapterFor, announce, type CheckTarget, type Verdict, verify } from "../_shared/verify.ts";
import { userLayerTarget } from "../_shared/weights_file.ts";
import type { KnownFailure } from "./known_failures.ts";
// from calls.ts, not isolated.ts: this module is bundled into the browser page
// (suites/browser/page.ts), which must not load the child-process code
import { CALL_TIMEOUT_MS } from "../_shared/calls.ts";

export { CALL_TIMEOUT_MS } from "../_shared/calls.ts";

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

/** A verdict as a conformance result row. */
export function conformResult(adapter: string, target: CheckTarget, v: Verdict): ConformResult {
  const result: ConformResult = { adapter, case: target.id, status: v.status };
  const c = v.comparison;
  if (c) {
    Object.assign(result, {
      maxAbsErr: c.maxAbsErr,
      maxRelErr: c.maxRelErr,
      worstRatio: c.worstRatio,
      atol: v.tolerance.atol,
      rtol: v.tolerance.rtol,
      torchFloat32MaxAbsErr: target.torchFloat32MaxAbsErr,
    });
  }
  if (v.backend !== undefined) result.backend = v.backend;
  if (c) {
    Object.assign(result, { prepareMs: v.prepareMs, runMs: v.firstRunMs });
  }
  if (v.reason !== undefined) result.reason = v.reason;
  if (v.note !== undefined) result.note = v.note;
  if (v.workarounds !== undefined) result.workarounds = v.workarounds;
  return result;
}

/** Options of one conformance run. */
export interface ConformOptions {
  adapters: readonly CondConvAdapter[];
  targets: readonly CheckTarget[];
  onResult?: (result: ConformResult) => void;
  timeoutMs?: number;
  /** the known library bugs to apply (default `KNOWN_FAILURES`) */
  known?: readonly KnownFailure[];
  /**
   * where an adapter runs (`wgpu/gl llvmpipe ...`), from what it announced: recorded on its
   * rows and summary, and matched by the known-failure rules
   */
  implementationOf?: (summary: AdapterSummary) => string | undefined;
  /**
   * whether the adapters' workarounds of library bugs stay on (default true); false checks
   * each adapter's `withoutWorkarounds()` variant where it has one, under the rules of the bugs
   */
  workarounds?: boolean;
}

/** What a conformance run gives. */
export interface ConformRun {
  adapters: AdapterSummary[];
  results: ConformResult[];
  summary: ReturnType<typeof emptySummary>;
}

/** Runs every adapter over every target; adapter problems are results, never throws. */
export async function runConformance(options: ConformOptions): Promise<ConformRun> {
  const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  const run: ConformRun = { adapters: [], results: [], summary: emptySummary() };
  const emit = (result: ConformResult) => {
    run.results.push(result);
    options.onResult?.(result);
  };
  const workarounds = options.workarounds ?? true;
  for (const adapter of options.adapters.map((a) => adapterFor(a, workarounds))) {
    const announced = await announce(adapter, timeoutMs);
    const implementation = options.implementationOf?.(announced.summary);
    const where = implementation === undefined ? {} : { implementation };
    run.adapters.push({ ...announced.summary, ...where });
    for (const target of options.targets) {
      if (announced.backend === undefined) {
        const status = announced.failed ? "error" : "skip";
        const reason = announced.summary.reason;
        emit({ adapter: adapter.id, case: target.id, status, reason, ...where });
        continue;
      }
      const verdict = await verify(adapter, announced.backend, target, {
        timeoutMs,
        known: options.known,
        implementation,
        workarounds,
      });
      emit({ ...conformResult(adapter.id, target, verdict), ...where });
    }
  }
  for (const r of run.results) run.summary[r.status]++;
  return run;
}

/**
 * Checks each adapter on a user's layer against its PyTorch check tensors, one
 * `ConformResult` per adapter (case id: the layer's id), exactly as `conform` judges a golden
 * case. An unavailable adapter is a skip with its reason; a layer without check tensors
 * gives a skip for every adapter, saying so. Never throws for an adapter's fault.
 */
export async function checkUserLayer(
  adapters: readonly CondConvAdapter[],
  layer: UserLayer,
  options: { timeoutMs?: number; onResult?: (result: ConformResult) => void } = {},
): Promise<ConformResult[]> {
  if (!layer.check) {
    const reason = "the weights file has no check tensors (check.input, check.output): " +
      "export it with scripts/export_weights.py to compare with PyTorch";
    const results = adapters.map((a): ConformResult => ({
      adapter: a.id,
      case: layer.id,
      status: "skip",
      reason,
    }));
    results.forEach((r) => options.onResult?.(r));
    return results;
  }
  const run = await runConformance({
    adapters,
    targets: [userLayerTarget(layer)],
    onResult: options.onResult,
    timeoutMs: options.timeoutMs,
  });
  return run.results;
}

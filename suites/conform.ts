/**
 * `deno task conform`: every adapter against every golden case, with tolerance checks.
 *
 * ```
 * deno task conform [--adapter <id or glob>]... [--case <id or glob>]... [--json <path>]
 * ```
 * Exit status: 0 when nothing failed (skips are explained, not failures), 1 on any fail or
 * error, 2 on a bad flag or an unusable fixture.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import {
  compareWithTruth,
  TOLERANCE_CLASSES,
  toleranceFor,
  TORCH_ERROR_FACTOR,
} from "../condconv/tolerance.ts";
import { parseFlags, runMain, selectByIds, UsageError } from "./_shared/cli.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import type { AdapterSummary, RunFilters } from "./results/adapter_summary.ts";
import { type ConformReport, type ConformResult, emptySummary } from "./results/conformance.ts";
import {
  type Fixture,
  FixtureError,
  type FixtureSet,
  loadCaseTensors,
  loadFixtureSet,
  loadGolden,
} from "./_shared/fixtures.ts";
import { messageOf, withTimeout } from "./_shared/calls.ts";
import { runAdapterInChild } from "./_shared/child.ts";
import { KNOWN_FAILURES, type KnownFailure, knownFailure } from "./conform/known_failures.ts";
import { loadWeightsFile, userLayerTarget, WeightsFileError } from "./_shared/weights_file.ts";
import { assertWritable, writeJsonAtomic } from "./_shared/files.ts";

/** Where the report goes unless `--json` says otherwise. */
export const DEFAULT_REPORT_PATH = "reports/conformance.json";
/** The longest one availability check, prepare or run may take before it counts as an error. */
export const CALL_TIMEOUT_MS = 300_000;
/** The child process that runs one adapter in an isolated run. */
export const CHILD_SCRIPT = "suites/conform/child.ts";

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

function formatNumber(value: number | undefined): string {
  return value === undefined ? "-" : value.toExponential(2);
}

/** One line of the progress table. */
export function formatResultRow(r: ConformResult): string {
  const status = r.status.toUpperCase().padEnd(10);
  const numbers = r.maxAbsErr === undefined
    ? ""
    : `abs ${formatNumber(r.maxAbsErr)}  rel ${formatNumber(r.maxRelErr)}  ` +
      `${(r.worstRatio ?? 0).toFixed(3)} of tol`;
  // A known bug's whole story is in the report; the row names where to read it.
  const shown = r.status === "known-fail"
    ? r.reason?.replace(
      /; known library bug: .*/s,
      "; a known library bug (suites/conform/known_failures.ts)",
    )
    : r.reason;
  const reason = shown ? `  ${shown}` : "";
  return `${r.adapter.padEnd(13)} ${r.case.padEnd(36)} ${status} ${numbers}${reason}`;
}

const USAGE =
  `deno task conform [--adapter <id or glob>]... [--case <id or glob>]... [--json <path>]
                  [--weights <file>] [--timeout-ms MS] [--in-process]

Checks every registered adapter against the PyTorch goldens in fixtures/.
  --adapter     only adapters whose id matches (repeatable; * and ? are wildcards)
  --case        only cases whose id matches (repeatable)
  --json        where to write the report (default ${DEFAULT_REPORT_PATH})
  --weights     check your own trained layer (a safetensors file from
                scripts/export_weights.py) instead of the golden cases
  --timeout-ms  time limit of one availability check, prepare or run (default ${CALL_TIMEOUT_MS})
  --in-process  run the adapters in this process instead of one child process each
                (faster to start; a crashing adapter then stops the whole run)`;

/** Options of `conformMain` beyond its flags (tests use them). */
export interface ConformMainOptions {
  fixturesDir?: string;
  /** adapters to choose from instead of the registry; run in-process unless `childScript` */
  adapters?: readonly CondConvAdapter[];
  /** run each adapter in a child process started from this module */
  childScript?: string;
}

/**
 * The `conform` command: parses `args`, runs, prints, writes the report. Resolves to the exit
 * status; throws `UsageError` or `FixtureError` (before any report is written) on bad input.
 */
export async function conformMain(
  args: string[],
  options: ConformMainOptions = {},
): Promise<number> {
  const flags = parseFlags(args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    json: { type: "string" },
    weights: { type: "string" },
    "timeout-ms": { type: "string" },
    "in-process": { type: "boolean" },
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const adapters = selectByIds(options.adapters ?? ADAPTERS, flags.adapter ?? [], "adapter");
  const timeoutMs = flags["timeout-ms"] === undefined
    ? CALL_TIMEOUT_MS
    : Number(flags["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1) {
    throw new UsageError(
      `Invalid --timeout-ms "${flags["timeout-ms"]}": expected a positive integer`,
    );
  }
  if (flags.weights !== undefined && flags.case !== undefined) {
    throw new UsageError("Cannot combine --weights and --case: --weights checks the file's layer");
  }
  const reportPath = flags.json ?? DEFAULT_REPORT_PATH;
  await assertWritable(reportPath, "json");

  // Load and verify what to check before any adapter starts: a bad fixture or weights file
  // stops the run here, and no report is written.
  let targets: CheckTarget[];
  let childArgs: string[];
  const filters: RunFilters = {
    adapters: flags.adapter ?? [],
    cases: flags.case ?? [],
    sets: [],
    batches: [],
    weights: flags.weights ?? null,
    goldenCases: null,
  };
  if (flags.weights !== undefined) {
    targets = [userLayerTarget(await loadWeightsFile(flags.weights))];
    childArgs = ["--weights", flags.weights];
    console.log(`conform: ${adapters.length} adapters x the layer in "${flags.weights}"`);
  } else {
    const set = await loadFixtureSet(options.fixturesDir);
    const fixtures = selectByIds(
      set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
      flags.case ?? [],
      "case",
    );
    targets = await loadTargets(set, fixtures);
    filters.goldenCases = set.fixtures.length;
    childArgs = ["--fixtures", set.dir, ...targets.flatMap((t) => ["--case", t.id])];
    console.log(
      `conform: ${adapters.length} adapters x ${fixtures.length} cases ` +
        `(fixtures made with torch ${set.manifest.generator.torch})`,
    );
  }
  const isolate = !flags["in-process"] &&
    (options.childScript !== undefined || options.adapters === undefined);
  const environment = await describeEnvironment();
  const onResult = (r: ConformResult) => console.log(formatResultRow(r));
  let run: Pick<ConformReport, "adapters" | "results" | "summary">;
  if (isolate) {
    run = { adapters: [], results: [], summary: emptySummary() };
    for (const adapter of adapters) {
      const child = await runAdapterInChild({
        script: options.childScript ?? CHILD_SCRIPT,
        adapterId: adapter.id,
        targetIds: targets.map((t) => t.id),
        childArgs,
        extraReads: flags.weights === undefined ? [] : [flags.weights],
        callTimeoutMs: timeoutMs,
        processTimeoutMs: timeoutMs * (2 * targets.length + 2),
        onResult,
      });
      run.adapters.push(child.summary);
      run.results.push(...child.results);
    }
    for (const r of run.results) run.summary[r.status]++;
  } else {
    run = await runConformance({ adapters, targets, onResult, timeoutMs });
  }
  const report: ConformReport = {
    kind: "conformance",
    environment,
    filters,
    tolerancePolicy: {
      classes: TOLERANCE_CLASSES,
      torchErrorFactor: TORCH_ERROR_FACTOR,
      rule: "|actual - truth| <= atol + rtol * |truth|, atol = max(class atol, " +
        "torchErrorFactor * PyTorch float32 max abs error) except for class exact",
    },
    ...run,
  };
  const path = reportPath;
  await writeJsonAtomic(path, report);
  for (const a of run.adapters.filter((a) => !a.available)) {
    console.log(`skipped ${a.id}: ${a.reason}`);
  }
  const { pass, fail, skip, error } = run.summary;
  for (const r of run.results.filter((r) => r.note)) {
    console.log(`note: ${r.adapter} on ${r.case}: ${r.note}`);
  }
  console.log(
    `conform: ${pass} passed, ${fail} failed, ${run.summary["known-fail"]} known library ` +
      `bugs, ${skip} skipped, ${error} errors`,
  );
  console.log(`report: ${path}`);
  return fail + error > 0 ? 1 : 0;
}

if (import.meta.main) {
  await runMain(() => conformMain(Deno.args), [FixtureError, WeightsFileError]);
}

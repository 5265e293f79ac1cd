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
import { TOLERANCE_CLASSES, TORCH_ERROR_FACTOR } from "../condconv/tolerance.ts";
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
import { runAdapterInChild } from "./_shared/child.ts";
import type { CheckTarget } from "./_shared/verify.ts";
import { loadWeightsFile, userLayerTarget, WeightsFileError } from "./_shared/weights_file.ts";
import { assertWritable, writeJsonAtomic } from "./_shared/files.ts";
import { CALL_TIMEOUT_MS, type ConformRun, loadTargets, runConformance } from "./conform/run.ts";
import { formatResultRow, printConformSummary } from "./conform/print.ts";
import type { RunFilters } from "./results/adapter_summary.ts";
import { type ConformReport, type ConformResult, emptySummary } from "./results/conformance.ts";

/** Where the report goes unless `--json` says otherwise. */
export const DEFAULT_REPORT_PATH = "reports/conformance.json";
/** The tolerance policy every conformance report states. */
const TOLERANCE_POLICY: NonNullable<ConformReport["tolerancePolicy"]> = {
  classes: TOLERANCE_CLASSES,
  torchErrorFactor: TORCH_ERROR_FACTOR,
  rule: "|actual - truth| <= atol + rtol * |truth|, atol = max(class atol, " +
    "torchErrorFactor * PyTorch float32 max abs error) except for class exact",
};

/** The child process that runs one adapter in an isolated run. */
export const CHILD_SCRIPT = "suites/conform/child.ts";

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

/** What to check, loaded and verified before any adapter starts. */
interface Checks {
  targets: CheckTarget[];
  /** the flags that tell a child process the same */
  childArgs: string[];
  filters: RunFilters;
  /** what is checked, for the first line printed */
  about: string;
}

/**
 * Loads what `flags` ask to check: the user's layer of `--weights`, or the chosen golden cases.
 * A bad fixture or weights file throws here, before any adapter starts or report is written.
 */
async function loadChecks(
  flags: { adapter?: string[]; case?: string[]; weights?: string },
  fixturesDir: string | undefined,
): Promise<Checks> {
  const filters: RunFilters = {
    adapters: flags.adapter ?? [],
    cases: flags.case ?? [],
    sets: [],
    batches: [],
    weights: flags.weights ?? null,
    goldenCases: null,
  };
  if (flags.weights !== undefined) {
    const targets = [userLayerTarget(await loadWeightsFile(flags.weights))];
    const about = `the layer in "${flags.weights}"`;
    return { targets, childArgs: ["--weights", flags.weights], filters, about };
  }
  const set = await loadFixtureSet(fixturesDir);
  const fixtures = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    flags.case ?? [],
    "case",
  );
  const targets = await loadTargets(set, fixtures);
  filters.goldenCases = set.fixtures.length;
  return {
    about: `${fixtures.length} cases (fixtures made with torch ${set.manifest.generator.torch})`,
    targets,
    childArgs: ["--fixtures", set.dir, ...targets.flatMap((t) => ["--case", t.id])],
    filters,
  };
}

/** Runs each adapter in a child process of its own (see `_shared/child.ts`). */
async function runIsolated(
  adapters: readonly CondConvAdapter[],
  checks: Checks,
  options: { script: string; timeoutMs: number; onResult: (r: ConformResult) => void },
): Promise<ConformRun> {
  const run: ConformRun = { adapters: [], results: [], summary: emptySummary() };
  for (const adapter of adapters) {
    const child = await runAdapterInChild({
      script: options.script,
      adapterId: adapter.id,
      targetIds: checks.targets.map((t) => t.id),
      childArgs: checks.childArgs,
      extraReads: checks.filters.weights === null ? [] : [checks.filters.weights],
      callTimeoutMs: options.timeoutMs,
      // availability, then a prepare and a run per target, then the child's own start and exit
      processTimeoutMs: timerDelay(options.timeoutMs * (2 * checks.targets.length + 2)),
      onResult: options.onResult,
    });
    run.adapters.push(child.summary);
    run.results.push(...child.results);
  }
  for (const r of run.results) run.summary[r.status]++;
  return run;
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
  const timeoutMs = integerFlag(flags["timeout-ms"], "timeout-ms", CALL_TIMEOUT_MS, {
    max: MAX_TIMER_MS,
  });
  if (flags.weights !== undefined && flags.case !== undefined) {
    throw new UsageError("Cannot combine --weights and --case: --weights checks the file's layer");
  }
  const reportPath = flags.json ?? DEFAULT_REPORT_PATH;
  await assertWritable(reportPath, "json");
  const checks = await loadChecks(flags, options.fixturesDir);
  console.log(`conform: ${adapters.length} adapters x ${checks.about}`);

  const isolate = !flags["in-process"] &&
    (options.childScript !== undefined || options.adapters === undefined);
  const environment = await describeEnvironment();
  const onResult = (r: ConformResult) => console.log(formatResultRow(r));
  const run = isolate
    ? await runIsolated(adapters, checks, {
      script: options.childScript ?? CHILD_SCRIPT,
      timeoutMs,
      onResult,
    })
    : await runConformance({ adapters, targets: checks.targets, onResult, timeoutMs });
  const report: ConformReport = {
    kind: "conformance",
    environment,
    filters: checks.filters,
    tolerancePolicy: TOLERANCE_POLICY,
    ...run,
  };
  await writeJsonAtomic(reportPath, report);
  printConformSummary(run, reportPath);
  return run.summary.fail + run.summary.error > 0 ? 1 : 0;
}

if (import.meta.main) {
  await runMain(() => conformMain(Deno.args), [FixtureError, WeightsFileError]);
}

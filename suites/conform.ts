/**
 * `deno task conform`: every adapter against every golden case, with tolerance checks.
 *
 * ```
 * deno task conform [--adapter <id or glob>]... [--case <id or glob>]... [--json <path or ->]
 *                   [--no-workarounds]
 * ```
 * Exit status: 0 when nothing failed (skips are explained, not failures), 1 on any fail or
 * error, 2 on a bad flag or an unusable fixture.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { TOLERANCE_CLASSES, TORCH_ERROR_FACTOR } from "../condconv/tolerance.ts";
import {
  integerFlag,
  MAX_TIMER_MS,
  parseTaskFlags,
  selectByIds,
  UsageError,
} from "./_shared/cli.ts";
import { describeEnvironment } from "./_shared/environment.ts";
// Types only: the result schemas load zod, which this process must not (see `conform/isolated.ts`).
import type { RunFilters } from "./results/adapter_summary.ts";
import type { ConformReport, ConformResult, ConformStatus } from "./results/conformance.ts";
import type { ConformRun } from "./conform/run.ts";
import { conformRows, printConformSummary } from "./conform/print.ts";
import { terminal, writeJsonOutput } from "./_shared/terminal.ts";
import { childPath, runTaskMain } from "./_shared/child.ts";
import { CALL_TIMEOUT_MS, type ConformPlan, planConform, runIsolated } from "./conform/isolated.ts";
import {
  chooseBackends,
  isWebGpuAdapter,
  parseWgpuBackends,
  type WgpuBackend,
} from "./_shared/webgpu_matrix.ts";
import { checkOutputPaths } from "./_shared/files.ts";

/** Where the report goes unless `--json` says otherwise. */
export const DEFAULT_REPORT_PATH = "reports/conformance.json";
export { CALL_TIMEOUT_MS } from "./conform/isolated.ts";

/** The verdicts, in the order summaries list them (as in `results/conformance.ts`). */
const STATUSES: readonly ConformStatus[] = ["pass", "fail", "known-fail", "skip", "error"];

const USAGE =
  `deno task conform [--adapter <id or glob>]... [--case <id or glob>]... [--json <path or ->]
                  [--weights <file>] [--timeout-ms MS] [--webgpu-backend vulkan|gl]...
                  [--in-process] [--no-workarounds]

Checks every registered adapter against the PyTorch goldens in fixtures/.
  --adapter         only adapters whose id matches (repeatable; * and ? are wildcards)
  --case            only cases whose id matches (repeatable)
  --json            where to write the report (default ${DEFAULT_REPORT_PATH}; - for stdout,
                    the other output then goes to stderr)
  --weights         check your own trained layer (a safetensors file from
                    scripts/export_weights.py) instead of the golden cases
  --timeout-ms      time limit of one availability check, prepare or run (default ${CALL_TIMEOUT_MS})
  --webgpu-backend  run the WebGPU adapters on these wgpu backends only (repeatable; default:
                    each of vulkan and gl that gives a GPU adapter here, one child each)
  --in-process      run the adapters in this process instead of one child process each
                    (faster to start; a crashing adapter then stops the whole run; WebGPU
                    runs on the environment's DENO_WEBGPU_BACKEND only)
  --no-workarounds  run each adapter without its workarounds of library bugs (ort-webgpu's
                    changed Conv graphs), to show the raw bugs: a wrong number that a known
                    library bug explains is then KNOWN-FAIL (suites/conform/known_failures.ts)`;

/** Options of `conformMain` beyond its flags (tests use them). */
export interface ConformMainOptions {
  fixturesDir?: string;
  /** adapters to choose from instead of the registry; run in-process unless `childScript` */
  adapters?: readonly CondConvAdapter[];
  /** run each adapter in a child process started from this module */
  childScript?: string;
  /**
   * before an in-process run loads the adapters, revoke this process's `run` permission, so
   * that code in them cannot start a process (set by the task's entry point)
   */
  revokeRunBeforeLoading?: boolean;
}

/** Counts per verdict of `results`. */
export function countStatuses(results: readonly ConformResult[]): Record<ConformStatus, number> {
  const summary = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<ConformStatus, number>;
  for (const r of results) summary[r.status]++;
  return summary;
}

/**
 * The `conform` command: parses `args`, runs, prints, writes the report. Resolves to the exit
 * status; throws `UsageError`, or (before any report is written) a `FixtureError` or
 * `WeightsFileError` (from a child: a `ChildRefusal` of that name) on bad input.
 */
export async function conformMain(
  args: string[],
  options: ConformMainOptions = {},
): Promise<number> {
  const flags = parseTaskFlags(args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    json: { type: "string" },
    weights: { type: "string" },
    "timeout-ms": { type: "string" },
    "webgpu-backend": { type: "string", multiple: true },
    "in-process": { type: "boolean" },
    "no-workarounds": { type: "boolean" },
  }, USAGE);
  if (!flags) return 0;
  const workarounds = !flags["no-workarounds"];
  const timeoutMs = integerFlag(flags["timeout-ms"], "timeout-ms", CALL_TIMEOUT_MS, {
    max: MAX_TIMER_MS,
  });
  if (flags.weights !== undefined && flags.case !== undefined) {
    throw new UsageError("Cannot combine --weights and --case: --weights checks the file's layer");
  }
  const weights = flags.weights === undefined ? undefined : plainWeightsPath(flags.weights);
  let asked: WgpuBackend[] = [];
  try {
    asked = parseWgpuBackends(flags["webgpu-backend"] ?? []);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (asked.length > 0 && flags["in-process"]) {
    throw new UsageError(
      "Cannot combine --webgpu-backend and --in-process: one process has one wgpu backend; " +
        "set DENO_WEBGPU_BACKEND instead",
    );
  }
  const reportPath = flags.json ?? DEFAULT_REPORT_PATH;
  await checkOutputPaths({ json: reportPath });
  const isolate = !flags["in-process"] &&
    (options.childScript !== undefined || options.adapters === undefined);
  // A child reads the project, and the fixtures or weights file it is pointed at.
  const extraReads = [weights ?? options.fixturesDir].filter((p) => p !== undefined);
  const casesOrWeights = weights !== undefined ? [`--weights=${weights}`] : [
    ...(options.fixturesDir ? [`--fixtures=${options.fixturesDir}`] : []),
    ...(flags.case ?? []).map((c) => `--case=${c}`),
  ];

  let run: ConformRun;
  let goldenCases: number | null = null;
  if (isolate) {
    // What to check is loaded and verified in a child before any adapter starts: a bad
    // fixture or weights file stops the run there, and no report is written.
    const plan: ConformPlan = await planConform({
      script: options.childScript,
      planArgs: casesOrWeights,
      extraReads,
      timeoutMs: timeoutMs * 4,
    });
    const known = options.adapters ?? plan.adapters;
    goldenCases = plan.goldenCases ?? null;
    const adapters = selectByIds(known, flags.adapter ?? [], "adapter").map((a) => ({
      id: a.id,
      description: a.description,
      toleranceClass: a.toleranceClass,
    }));
    printHeader(adapters.length, plan.targets.length, workarounds, weights, plan.torch);
    const backends = adapters.some(isWebGpuAdapter) ? await chooseBackends(asked, "conform") : [];
    printPlaces(adapters, backends);
    const rows = conformRows(adapters, backends, plan.targets);
    const isolated = await runIsolated(adapters, backends, {
      script: options.childScript,
      onRow: rows.row,
      targetIds: plan.targets,
      childArgs: weights !== undefined ? casesOrWeights : [
        `--fixtures=${plan.fixturesDir}`,
        ...plan.targets.map((id) => `--case=${id}`),
      ],
      extraReads,
      timeoutMs,
      workarounds,
    });
    rows.finish();
    run = { ...isolated, summary: countStatuses(isolated.results) };
  } else {
    const { runInProcess } = await import("./conform/in_process.ts");
    let rows: ReturnType<typeof conformRows> | undefined;
    ({ goldenCases, ...run } = await runInProcess(flags, options, weights, timeoutMs, {
      header: (adapters, targets) => {
        printHeader(adapters, targets, workarounds, weights, "(in-process)");
        rows = conformRows([{ id: "", toleranceClass: "" }], [], adapters * targets);
      },
      row: (r) => rows!.row(r),
    }));
    rows?.finish();
  }
  const report: ConformReport = {
    kind: "conformance",
    environment: await describeEnvironment(),
    filters: {
      adapters: flags.adapter ?? [],
      cases: flags.case ?? [],
      sets: [],
      batches: [],
      weights: weights ?? null,
      goldenCases,
      workarounds,
    } satisfies RunFilters,
    tolerancePolicy: tolerancePolicy(),
    ...run,
  };
  await writeJsonOutput(reportPath, report);
  printConformSummary(run, reportPath, terminal.painter());
  const { fail, error } = run.summary;
  return fail + error > 0 ? 1 : 0;
}

/** The tolerance policy a conformance report records (also the browser runner's). */
export function tolerancePolicy(): NonNullable<ConformReport["tolerancePolicy"]> {
  return {
    classes: TOLERANCE_CLASSES,
    torchErrorFactor: TORCH_ERROR_FACTOR,
    rule: "|actual - truth| <= atol + rtol * |truth|, atol = max(class atol, " +
      "torchErrorFactor * PyTorch float32 max abs error) except for class exact",
  };
}

/** `--weights` as a path a child can be granted, or a `UsageError` saying why not. */
function plainWeightsPath(path: string): string {
  try {
    return childPath(path, "--weights");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Where the adapters will run: `deno` (this machine's CPU) or each wgpu backend (its GPU
 * adapter, software or not, is the line `chooseBackends` printed).
 */
function printPlaces(
  adapters: readonly { id: string; toleranceClass: string }[],
  backends: readonly (WgpuBackend | null)[],
) {
  const cpu = adapters.filter((a) => !isWebGpuAdapter(a)).map((a) => a.id);
  const gpu = adapters.filter(isWebGpuAdapter).map((a) => a.id);
  if (cpu.length > 0) console.log(`conform: on deno (the CPU): ${cpu.join(", ")}`);
  for (const backend of gpu.length > 0 ? backends : []) {
    const place = backend === null ? "wgpu (the environment's backend)" : `wgpu/${backend}`;
    console.log(`conform: on ${place}: ${gpu.join(", ")}`);
  }
}

function printHeader(
  adapters: number,
  targets: number,
  workarounds: boolean,
  weights?: string,
  torch?: string,
) {
  console.log(
    weights !== undefined
      ? `conform: ${adapters} adapters x the layer in "${weights}"`
      : `conform: ${adapters} adapters x ${targets} cases (fixtures made with torch ${torch})`,
  );
  if (!workarounds) console.log(WORKAROUNDS_OFF);
}

/** The header line of a `--no-workarounds` run. */
const WORKAROUNDS_OFF = "conform: --no-workarounds: adapters run without their workarounds of " +
  "library bugs; a known bug's wrong numbers are KNOWN-FAIL";

if (import.meta.main) {
  await runTaskMain(() => conformMain(Deno.args, { revokeRunBeforeLoading: true }));
}

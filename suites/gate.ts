/**
 * `deno task gate`: the CI regression gate.
 *
 * ```
 * deno task gate [--base <git rev>] [--adapter <id or glob>]... [--case <id or glob>]...
 *                [--rounds N] [--blocks N] [--block-ms MS] [--warmup-ms MS]
 *                [--threshold 0.10] [--timeout-ms MS] [--accepted <file>] [--json <path>]
 * ```
 * 1. Conformance is a hard gate: the gate adapters run over every golden case; any fail or
 *    error stops here with exit status 1.
 * 2. Speed: the working tree and the base revision (default `HEAD~1`, checked out in a
 *    temporary git worktree) are timed in the same run. Per adapter and round, one worker
 *    process per side (each with its own tree's dependencies) prepares the gate cases, then
 *    the two are timed in lock step, block by block, A B B A ... (`gate_lockstep.ts`). Each
 *    adapter x case is judged from the median of its block pairs' ratios of medians, with a
 *    bootstrap confidence interval over rounds and block pairs (`gate_stats.ts`): only a
 *    change whose whole interval lies beyond the noise threshold counts.
 * 3. A regression listed in the accepted-changes file (with a reason) passes on purpose.
 * @module
 */
import { GATE_TAG } from "./bench/cases.ts";
import {
  integerFlag,
  MAX_TIMER_MS,
  parseTaskFlags,
  positiveNumberFlag,
  selectByIds,
  UsageError,
} from "./_shared/cli.ts";
import { conformMain } from "./conform.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { childPath, planInChild, runTaskMain } from "./_shared/child.ts";
import { planConform } from "./conform/isolated.ts";
import type { AcceptedChanges } from "./gate/accepted.ts";
import { resolveBase, roundKey, runRounds } from "./gate/rounds.ts";
import { GATE_STATS_DEFAULTS } from "./gate/stats.ts";
import { formatGateRow, gateSummaryLine, infoChanges, judge } from "./gate/verdict.ts";
import type { GateReport } from "./results/gate.ts";
import { checkOutputPaths } from "./_shared/files.ts";
import { terminal, writeJsonOutput } from "./_shared/terminal.ts";

export type { AcceptedChanges } from "./gate/accepted.ts";

/** Defaults, applied in one place. */
export const GATE_DEFAULTS = {
  base: "HEAD~1",
  /**
   * the tolerance classes of the adapters gated by default: the CPU ones, every registered
   * adapter of class cpu or wasm, so a new CPU adapter is gated as soon as it is registered
   * (the reference, class exact, is the truth; a software GPU adapter is too slow and too
   * noisy to gate on)
   */
  toleranceClasses: ["cpu", "wasm"],
  /** worker pairs per adapter */
  rounds: 6,
  /** 16 blocks of 10 ms resolve more than 8 of 20 ms: finer interleaving leaves less drift */
  blocks: 16,
  blockMs: 10,
  warmupMs: 100,
  timeoutMs: 120_000,
  acceptedPath: "reports/accepted_changes.json",
  jsonPath: "reports/gate.json",
} as const;

/**
 * The adapters the gate times by default: every registered adapter of a tolerance class in
 * `GATE_DEFAULTS.toleranceClasses`, so that a new CPU adapter is gated once it is registered.
 */
export function gatedAdapters<T extends { toleranceClass: string }>(adapters: readonly T[]): T[] {
  const classes: readonly string[] = GATE_DEFAULTS.toleranceClasses;
  return adapters.filter((a) => classes.includes(a.toleranceClass));
}

/**
 * Loads the accepted-changes file in a child (its schema loads zod, which this process must
 * not); a missing file accepts nothing, a bad one is a `ChildRefusal` named `UsageError`.
 */
function loadAcceptedInChild(path: string, timeoutMs: number): Promise<AcceptedChanges> {
  let plain: string;
  try {
    plain = childPath(path, "--accepted");
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return planInChild<AcceptedChanges>({
    script: "suites/gate/accepted.ts",
    args: [`--accepted=${plain}`],
    permissions: { read: [".", plain] },
    label: "the gate's accepted-changes check",
    timeoutMs,
  });
}

const USAGE = `deno task gate [--base REV] [--adapter ID]... [--case ID]... [--rounds N]
               [--blocks N] [--block-ms MS] [--warmup-ms MS] [--threshold F]
               [--timeout-ms MS] [--accepted FILE] [--json PATH|-]

Conformance of the working tree, then its speed against a base revision, in lock step.
  --base        the revision to compare with (default ${GATE_DEFAULTS.base})
  --adapter     adapters by id or glob (default: every registered adapter of tolerance class
                ${GATE_DEFAULTS.toleranceClasses.join(" or ")}, the CPU adapters)
  --case        golden cases by id or glob (default: those tagged "${GATE_TAG}" in fixtures/cases.json)
  --rounds      worker pairs per adapter, at least 2 (default ${GATE_DEFAULTS.rounds})
  --blocks      alternating blocks per side, case and round (default ${GATE_DEFAULTS.blocks})
  --block-ms    the time one block of runs takes, about (default ${GATE_DEFAULTS.blockMs})
  --warmup-ms   untimed runs per side and case first, at least 3 (default ${GATE_DEFAULTS.warmupMs})
  --threshold   the noise threshold: changes within it never count (default ${GATE_STATS_DEFAULTS.threshold})
  --timeout-ms  a worker that takes longer to answer is killed (default ${GATE_DEFAULTS.timeoutMs})
  --accepted    the accepted-changes file (default ${GATE_DEFAULTS.acceptedPath})
  --json        the result file (default ${GATE_DEFAULTS.jsonPath}; - for stdout, the other
                output then goes to stderr)`;

/** The timing settings the flags give, each checked and bounded. */
function timingSettings(flags: Record<string, string | string[] | boolean | undefined>) {
  const value = (name: string) => flags[name] as string | undefined;
  const time = { max: MAX_TIMER_MS };
  const rounds = integerFlag(value("rounds"), "rounds", GATE_DEFAULTS.rounds);
  if (rounds < 2) {
    throw new UsageError(
      `Invalid --rounds "${value("rounds")}": at least 2, an interval needs two rounds`,
    );
  }
  const number = (name: string, fallback: number) =>
    positiveNumberFlag(value(name), name, fallback, time);
  return {
    rounds,
    blocks: integerFlag(value("blocks"), "blocks", GATE_DEFAULTS.blocks),
    blockMs: number("block-ms", GATE_DEFAULTS.blockMs),
    warmupMs: number("warmup-ms", GATE_DEFAULTS.warmupMs),
    timeoutMs: number("timeout-ms", GATE_DEFAULTS.timeoutMs),
    threshold: positiveNumberFlag(value("threshold"), "threshold", GATE_STATS_DEFAULTS.threshold),
    confidence: GATE_STATS_DEFAULTS.confidence,
  };
}

/** The `gate` command; resolves to the exit status. */
export async function gateMain(args: string[]): Promise<number> {
  const flags = parseTaskFlags(args, {
    base: { type: "string" },
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    rounds: { type: "string" },
    blocks: { type: "string" },
    "block-ms": { type: "string" },
    "warmup-ms": { type: "string" },
    threshold: { type: "string" },
    "timeout-ms": { type: "string" },
    accepted: { type: "string" },
    json: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  const settings = timingSettings(flags);
  const { rounds } = settings;
  const jsonPath = flags.json ?? GATE_DEFAULTS.jsonPath;
  await checkOutputPaths({ json: jsonPath });
  const accepted = await loadAcceptedInChild(
    flags.accepted ?? GATE_DEFAULTS.acceptedPath,
    settings.timeoutMs,
  );
  // The registry's adapters and the chosen cases come from a child: this process holds
  // --allow-run and loads no adapter (see conform/isolated.ts).
  const plan = await planConform({
    planArgs: flags.case ? flags.case.map((c) => `--case=${c}`) : [`--tag=${GATE_TAG}`],
    extraReads: [],
    timeoutMs: settings.timeoutMs,
  });
  const cases = plan.targets;
  const adapterIds =
    (flags.adapter
      ? selectByIds(plan.adapters, flags.adapter, "adapter")
      : gatedAdapters(plan.adapters)).map((a) => a.id);
  const base = flags.base ?? GATE_DEFAULTS.base;
  const baseCommit = await resolveBase(base);

  // 1. Conformance, the hard gate.
  console.log("gate: conformance of the working tree");
  const conformStatus = await conformMain([
    ...adapterIds.flatMap((a) => ["--adapter", a]),
    "--json",
    "reports/gate-conformance.json",
  ]);
  if (conformStatus !== 0) {
    console.log("gate: FAILED on conformance (reports/gate-conformance.json)");
    return 1;
  }

  // 2. Speed, working tree against the base revision, in lock step.
  const { entries, sides } = await runRounds({
    ...settings,
    baseCommit,
    fixturesDir: `${Deno.cwd()}/${plan.fixturesDir}`,
    adapters: adapterIds,
    cases,
  });
  const rows = adapterIds.flatMap((adapter) =>
    cases.map((caseId) =>
      judge(adapter, caseId, entries.get(roundKey(adapter, caseId))!, accepted, settings.threshold)
    )
  );
  console.log(
    `\nbase ${base} (${baseCommit.slice(0, 10)}) -> working tree; ` +
      `ratio [95% CI] over ${rounds} lock-step rounds`,
  );
  for (const row of rows) console.log(formatGateRow(row, terminal.painter()));
  for (const [adapter, info] of sides) {
    const changed = infoChanges(info.base, info.head);
    if (changed.length > 0) console.log(`${adapter}: the base revision ran ${changed.join(", ")}`);
  }
  const passed = rows.every((r) => r.outcome !== "regressed" && r.outcome !== "broken");
  const report: GateReport = {
    kind: "gate",
    environment: await describeEnvironment(),
    base: { rev: base, commit: baseCommit },
    settings: { ...settings, adapters: adapterIds, cases },
    rows,
    /** each adapter's availability info (versions, threads, device) on both sides */
    sides: Object.fromEntries(sides),
    rounds: Object.fromEntries(entries),
    passed,
  };
  await writeJsonOutput(jsonPath, report);
  console.log(gateSummaryLine(rows, terminal.painter()));
  return passed ? 0 : 1;
}

if (import.meta.main) await runTaskMain(() => gateMain(Deno.args));

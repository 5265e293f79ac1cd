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
  globToRegExp,
  integerFlag,
  MAX_TIMER_MS,
  parseFlags,
  positiveNumberFlag,
  selectByIds,
  UsageError,
} from "./_shared/cli.ts";
import { conformMain } from "./conform.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { childPath, planInChild, runTaskMain } from "./_shared/child.ts";
import { planConform } from "./conform/isolated.ts";
import type { AcceptedChanges } from "./gate/accepted.ts";
import { type LockstepRound, lockstepRound, WorkerError } from "./gate/lockstep.ts";
import { compareRounds, GATE_STATS_DEFAULTS, type Round } from "./gate/stats.ts";
import type { GateReport, GateRow, RoundEntry, Side, SideCase } from "./results/gate.ts";
import { assertWritable, writeJsonAtomic } from "./_shared/files.ts";

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

async function git(args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new UsageError(`Cannot run git ${args.join(" ")}: ${stderr}`);
  }
  return new TextDecoder().decode(output.stdout).trim();
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

/** The verdict on one adapter x case from its rounds. */
export function judge(
  adapter: string,
  caseId: string,
  entries: readonly RoundEntry[],
  accepted: AcceptedChanges,
  threshold: number,
): GateRow {
  const row = { adapter, case: caseId };
  for (const entry of entries) {
    if ("error" in entry) {
      if (entry.side === "head") return { ...row, outcome: "broken", reason: entry.error };
      continue;
    }
    if (entry.head.status !== "ready") {
      return {
        ...row,
        outcome: "broken",
        reason: `working tree: ${entry.head.status}: ${entry.head.reason ?? ""}`,
      };
    }
  }
  // What is left of a lost round is a base worker's failure: that round has no base samples.
  const sides = entries.filter((e): e is Record<Side, SideCase> => !("error" in e));
  const rounds: Round[] = sides.map((e) => ({ head: e.head.blocks, base: e.base.blocks }))
    .filter((r) => r.head.length > 0 && r.base.length > 0);
  const baseReason = [
    ...entries.flatMap((e) => "error" in e ? [`error: ${e.error}`] : []),
    ...sides.map((e) => e.base).filter((b) => b.status !== "ready")
      .map((b) => `${b.status}: ${b.reason ?? ""}`),
  ][0];
  if (rounds.length === 0) {
    return { ...row, outcome: "new", reason: `base revision: ${baseReason ?? "not timed"}` };
  }
  if (rounds.length < 2) {
    return {
      ...row,
      outcome: "broken",
      reason: `only ${rounds.length} round with both sides timed` +
        (baseReason ? ` (base revision: ${baseReason})` : ""),
    };
  }
  const comparison = compareRounds(rounds, { threshold });
  if (comparison.verdict === "improved") return { ...row, ...comparison, outcome: "improved" };
  if (comparison.verdict === "unchanged") return { ...row, ...comparison, outcome: "pass" };
  const waiver = accepted.accepted.find((a) =>
    globToRegExp(a.adapter).test(adapter) && globToRegExp(a.case).test(caseId) &&
    comparison.ratio <= a.maxRatio
  );
  return waiver
    ? { ...row, ...comparison, outcome: "accepted", reason: waiver.reason }
    : { ...row, ...comparison, outcome: "regressed" };
}

/**
 * What differs between the two sides' availability info (a library upgrade, another thread
 * count), as `key: base -> head`.
 */
export function infoChanges(
  base: Record<string, unknown> | undefined,
  head: Record<string, unknown> | undefined,
): string[] {
  if (!base || !head) return [];
  const keys = [...new Set([...Object.keys(base), ...Object.keys(head)])];
  return keys.filter((k) => JSON.stringify(base[k]) !== JSON.stringify(head[k]))
    .map((k) =>
      `${k} ${JSON.stringify(base[k]) ?? "(none)"} (head: ${JSON.stringify(head[k]) ?? "(none)"})`
    );
}

function formatRow(r: GateRow): string {
  const numbers = r.ratio === undefined
    ? "".padEnd(46)
    : `${r.baseMedianMs!.toFixed(3).padStart(9)} -> ${
      r.headMedianMs!.toFixed(3).padStart(9)
    } ms  ` +
      `x${r.ratio.toFixed(3)} [${r.low!.toFixed(3)}, ${r.high!.toFixed(3)}]`;
  return `${r.adapter.padEnd(11)} ${r.case.padEnd(34)} ${numbers}  ${r.outcome.toUpperCase()}` +
    (r.reason ? `  ${r.reason}` : "");
}

const USAGE = `deno task gate [--base REV] [--adapter ID]... [--case ID]... [--rounds N]
               [--blocks N] [--block-ms MS] [--warmup-ms MS] [--threshold F]
               [--timeout-ms MS] [--accepted FILE] [--json PATH]

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
  --json        the result file (default ${GATE_DEFAULTS.jsonPath})`;

/** The `gate` command; resolves to the exit status. */
export async function gateMain(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
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
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const time = { max: MAX_TIMER_MS };
  const rounds = integerFlag(flags.rounds, "rounds", GATE_DEFAULTS.rounds);
  if (rounds < 2) {
    throw new UsageError(
      `Invalid --rounds "${flags.rounds}": at least 2, an interval needs two rounds`,
    );
  }
  const settings = {
    rounds,
    blocks: integerFlag(flags.blocks, "blocks", GATE_DEFAULTS.blocks),
    blockMs: positiveNumberFlag(flags["block-ms"], "block-ms", GATE_DEFAULTS.blockMs, time),
    warmupMs: positiveNumberFlag(flags["warmup-ms"], "warmup-ms", GATE_DEFAULTS.warmupMs, time),
    timeoutMs: positiveNumberFlag(flags["timeout-ms"], "timeout-ms", GATE_DEFAULTS.timeoutMs, time),
    threshold: positiveNumberFlag(flags.threshold, "threshold", GATE_STATS_DEFAULTS.threshold),
    confidence: GATE_STATS_DEFAULTS.confidence,
  };
  const accepted = await loadAcceptedInChild(
    flags.accepted ?? GATE_DEFAULTS.acceptedPath,
    settings.timeoutMs,
  );
  const jsonPath = flags.json ?? GATE_DEFAULTS.jsonPath;
  await assertWritable(jsonPath, "json");
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
  const baseCommit = await git(["rev-parse", "--verify", `${base}^{commit}`]).catch(async () => {
    const shallow = await git(["rev-parse", "--is-shallow-repository"]).catch(() => "");
    throw new UsageError(
      `Unknown --base "${base}": not a commit of this repository` +
        (shallow === "true"
          ? " (this is a shallow clone: fetch the base too, e.g. git fetch --deepen=1, or " +
            "check out with fetch-depth: 2)"
          : ""),
    );
  });

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
  const head = Deno.cwd();
  const work = await Deno.makeTempDir({ prefix: "condconv-gate-" });
  const baseTree = `${work}/base`;
  await git(["worktree", "add", "--detach", baseTree, baseCommit]);
  const entries = new Map<string, RoundEntry[]>();
  const sides = new Map<string, LockstepRound["info"]>();
  const key = (adapter: string, caseId: string) => `${adapter}|${caseId}`;
  try {
    for (let r = 0; r < rounds; r++) {
      for (const adapter of adapterIds) {
        const t0 = performance.now();
        let round: LockstepRound | undefined;
        let error = "";
        let side: Side = "head";
        try {
          round = await lockstepRound({
            ...settings,
            trees: { head, base: baseTree },
            fixturesDir: `${head}/${plan.fixturesDir}`,
            adapter,
            cases,
          });
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
          if (e instanceof WorkerError) side = e.side;
        }
        if (round && !sides.has(adapter)) sides.set(adapter, round.info);
        for (const caseId of cases) {
          const list = entries.get(key(adapter, caseId)) ?? [];
          list.push(round?.cases.get(caseId) ?? { error, side });
          entries.set(key(adapter, caseId), list);
        }
        const seconds = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(
          `gate: round ${r + 1}/${rounds} ${adapter.padEnd(11)} ${seconds} s` +
            (error ? `  ERROR ${error}` : ""),
        );
      }
    }
  } finally {
    await git(["worktree", "remove", "--force", baseTree]).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }

  const rows = adapterIds.flatMap((adapter) =>
    cases.map((caseId) =>
      judge(adapter, caseId, entries.get(key(adapter, caseId))!, accepted, settings.threshold)
    )
  );
  console.log(
    `\nbase ${base} (${baseCommit.slice(0, 10)}) -> working tree; ` +
      `ratio [95% CI] over ${rounds} lock-step rounds`,
  );
  for (const row of rows) console.log(formatRow(row));
  for (const [adapter, info] of sides) {
    const changed = infoChanges(info.base, info.head);
    if (changed.length > 0) console.log(`${adapter}: the base revision ran ${changed.join(", ")}`);
  }
  const failing = rows.filter((r) => r.outcome === "regressed" || r.outcome === "broken");
  const report: GateReport = {
    kind: "gate",
    environment: await describeEnvironment(),
    base: { rev: base, commit: baseCommit },
    settings: { ...settings, adapters: adapterIds, cases },
    rows,
    /** each adapter's availability info (versions, threads, device) on both sides */
    sides: Object.fromEntries(sides),
    rounds: Object.fromEntries(entries),
    passed: failing.length === 0,
  };
  await writeJsonAtomic(jsonPath, report);
  console.log(
    `gate: ${failing.length === 0 ? "PASSED" : "FAILED"}: ${rows.length} compared, ` +
      `${rows.filter((r) => r.outcome === "regressed").length} regressed, ` +
      `${rows.filter((r) => r.outcome === "accepted").length} accepted, ` +
      `${rows.filter((r) => r.outcome === "broken").length} broken`,
  );
  return failing.length === 0 ? 0 : 1;
}

if (import.meta.main) await runTaskMain(() => gateMain(Deno.args));

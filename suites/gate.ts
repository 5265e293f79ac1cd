/**
 * `deno task gate`: the CI regression gate.
 *
 * ```
 * deno task gate [--base <git rev>] [--adapter <id or glob>]... [--case <id or glob>]...
 *                [--rounds N] [--threshold 0.10] [--min-samples N] [--budget-ms MS]
 *                [--accepted <file>] [--json <path>]
 * ```
 * 1. Conformance is a hard gate: the gate adapters run over every golden case; any fail or
 *    error stops here with exit status 1.
 * 2. Speed: the working tree and the base revision (default `HEAD~1`, checked out in a
 *    temporary git worktree) are benchmarked in the same run, alternating A B B A ..., one
 *    child `deno` process per side per round. Each adapter x case is judged from the ratio of
 *    medians with a bootstrap confidence interval (`gate_stats.ts`): only a change whose
 *    whole interval lies beyond the noise threshold counts.
 * 3. A regression listed in the accepted-changes file (with a reason) passes on purpose.
 * @module
 */
import { z } from "zod";
import type { BenchReport } from "./bench.ts";
import { GATE_CASES } from "./bench_cases.ts";
import { globToRegExp, parseFlags, runMain, UsageError } from "./cli.ts";
import { conformMain } from "./conform.ts";
import { describeEnvironment } from "./environment.ts";
import { FixtureError, loadFixtureSet } from "./fixtures.ts";
import { compareRounds, type Comparison, GATE_STATS_DEFAULTS, type Round } from "./gate_stats.ts";
import { writeJsonAtomic } from "./report_file.ts";

/** Defaults, applied in one place. */
export const GATE_DEFAULTS = {
  base: "HEAD~1",
  /** the CPU adapters: a software GPU adapter is too slow and too noisy to gate on */
  adapters: ["ts", "tfjs-wasm", "tfjs-cpu", "ort-wasm"],
  rounds: 4,
  minSamples: 10,
  budgetMs: 300,
  acceptedPath: "reports/accepted_changes.json",
  jsonPath: "reports/gate.json",
} as const;

/** A slowdown let through on purpose. */
export const AcceptedChange = z.strictObject({
  /** adapter id or glob */
  adapter: z.string().min(1),
  /** bench case id (`<golden id>@b<batch>`) or glob */
  case: z.string().min(1),
  /** the largest head/base ratio accepted, e.g. 1.3 */
  maxRatio: z.number().gt(1),
  reason: z.string().min(10, { message: "say why the slowdown is accepted" }),
});
/** The accepted-changes file. */
export const AcceptedChanges = z.strictObject({ accepted: z.array(AcceptedChange) });
/** A parsed accepted-changes file. */
export type AcceptedChanges = z.infer<typeof AcceptedChanges>;

/** The verdict on one adapter x case. */
export interface GateRow extends Partial<Comparison> {
  adapter: string;
  case: string;
  outcome: "pass" | "regressed" | "accepted" | "improved" | "new" | "broken";
  reason?: string;
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

/** Loads the accepted-changes file; a missing file accepts nothing. */
export async function loadAccepted(path: string): Promise<AcceptedChanges> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { accepted: [] };
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot load accepted changes "${path}": invalid JSON: ${error}`);
  }
  const parsed = AcceptedChanges.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `Cannot load accepted changes "${path}":\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

interface SideRun {
  /** samples per adapter x case key, `adapter|case` */
  samples: Map<string, number[]>;
  /** adapter x case that were not timed, with the reason */
  broken: Map<string, string>;
}

async function benchTree(
  tree: string,
  outDir: string,
  tag: string,
  args: string[],
): Promise<SideRun> {
  const json = `${outDir}/${tag}.json`;
  const output = await new Deno.Command("deno", {
    cwd: tree,
    args: [
      "run",
      "--v8-flags=--expose-gc",
      `--allow-read=${tree},${outDir}`,
      `--allow-write=${outDir},${tree}/reports`,
      "--allow-env",
      "--allow-sys=cpus",
      "--allow-run=deno",
      "suites/bench.ts",
      ...args,
      "--no-torch",
      "--no-static",
      "--json",
      json,
      "--markdown",
      `${outDir}/${tag}.md`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  let report: BenchReport;
  try {
    report = JSON.parse(await Deno.readTextFile(json));
  } catch {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3);
    throw new Error(`Cannot benchmark ${tree} (${tag}): ${stderr.join(" ")}`);
  }
  const run: SideRun = { samples: new Map(), broken: new Map() };
  for (const r of report.results) {
    const key = `${r.adapter}|${r.case}`;
    if (r.status === "timed" && r.warm) run.samples.set(key, r.warm.samplesMs);
    else run.broken.set(key, `${r.status}: ${r.reason ?? ""}`);
  }
  return run;
}

function judge(
  key: string,
  rounds: { head: SideRun; base: SideRun }[],
  accepted: AcceptedChanges,
  threshold: number,
): GateRow {
  const [adapter, caseId] = key.split("|");
  const row = { adapter, case: caseId };
  const headBroken = rounds.map((r) => r.head.broken.get(key)).find((b) => b !== undefined);
  if (headBroken) return { ...row, outcome: "broken", reason: `working tree: ${headBroken}` };
  const pairs: Round[] = rounds.map((r) => ({
    head: r.head.samples.get(key) ?? [],
    base: r.base.samples.get(key) ?? [],
  }));
  if (pairs.every((p) => p.base.length === 0)) {
    const baseBroken = rounds.map((r) => r.base.broken.get(key)).find((b) => b !== undefined);
    return { ...row, outcome: "new", reason: baseBroken ?? "not in the base revision" };
  }
  const comparison = compareRounds(pairs, { threshold });
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

function positiveNumber(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new UsageError(`Invalid --${flag} "${value}": expected a positive number`);
  }
  return n;
}

/** The `gate` command; resolves to the exit status. */
export async function gateMain(args: string[]): Promise<number> {
  const flags = parseFlags(args, {
    base: { type: "string" },
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    rounds: { type: "string" },
    threshold: { type: "string" },
    "min-samples": { type: "string" },
    "budget-ms": { type: "string" },
    accepted: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(
      "deno task gate [--base REV] [--adapter ID]... [--case ID]... [--rounds N] " +
        "[--threshold F] [--min-samples N] [--budget-ms MS] [--accepted FILE] [--json PATH]",
    );
    return 0;
  }
  const rounds = positiveNumber(flags.rounds, "rounds", GATE_DEFAULTS.rounds);
  if (!Number.isInteger(rounds)) {
    throw new UsageError(`Invalid --rounds "${flags.rounds}": expected a positive integer`);
  }
  const threshold = positiveNumber(flags.threshold, "threshold", GATE_STATS_DEFAULTS.threshold);
  const accepted = await loadAccepted(flags.accepted ?? GATE_DEFAULTS.acceptedPath);
  const adapterPatterns = flags.adapter ?? [...GATE_DEFAULTS.adapters];
  const casePatterns = flags.case ?? [...GATE_CASES];
  const set = await loadFixtureSet();
  for (const pattern of casePatterns) {
    if (!set.fixtures.some((f) => globToRegExp(pattern).test(f.entry.id))) {
      throw new UsageError(`Unknown case "${pattern}": no golden case matches it`);
    }
  }

  // 1. Conformance, the hard gate.
  console.log("gate: conformance of the working tree");
  const conformArgs = adapterPatterns.flatMap((a) => ["--adapter", a]);
  const conformStatus = await conformMain([
    ...conformArgs,
    "--json",
    "reports/gate-conformance.json",
  ]);
  if (conformStatus !== 0) {
    console.log("gate: FAILED on conformance (reports/gate-conformance.json)");
    return 1;
  }

  // 2. Speed, working tree against the base revision, interleaved.
  const base = flags.base ?? GATE_DEFAULTS.base;
  const baseCommit = await git(["rev-parse", "--verify", `${base}^{commit}`]).catch(() => {
    throw new UsageError(`Unknown --base "${base}": not a commit of this repository`);
  });
  const head = Deno.cwd();
  const work = await Deno.makeTempDir({ prefix: "condconv-gate-" });
  const baseTree = `${work}/base`;
  await git(["worktree", "add", "--detach", baseTree, baseCommit]);
  const benchArgs = [
    ...conformArgs,
    ...casePatterns.flatMap((c) => ["--case", c]),
    "--min-samples",
    String(positiveNumber(flags["min-samples"], "min-samples", GATE_DEFAULTS.minSamples)),
    "--budget-ms",
    String(positiveNumber(flags["budget-ms"], "budget-ms", GATE_DEFAULTS.budgetMs)),
  ];
  const runs: { head: SideRun; base: SideRun }[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? ["head", "base"] as const : ["base", "head"] as const;
      const round: Partial<{ head: SideRun; base: SideRun }> = {};
      for (const side of order) {
        console.log(`gate: round ${i + 1}/${rounds}, ${side}`);
        round[side] = await benchTree(
          side === "head" ? head : baseTree,
          work,
          `${side}-${i}`,
          benchArgs,
        );
      }
      runs.push(round as { head: SideRun; base: SideRun });
    }
  } finally {
    await git(["worktree", "remove", "--force", baseTree]).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }

  const keys = new Set(runs.flatMap((r) => [...r.head.samples.keys(), ...r.head.broken.keys()]));
  const rows = [...keys].map((key) => judge(key, runs, accepted, threshold));
  console.log(`\nbase ${base} (${baseCommit.slice(0, 10)}) -> working tree; ratio [95% CI]`);
  for (const row of rows) console.log(formatRow(row));
  const failing = rows.filter((r) => r.outcome === "regressed" || r.outcome === "broken");
  await writeJsonAtomic(flags.json ?? GATE_DEFAULTS.jsonPath, {
    kind: "gate",
    environment: await describeEnvironment(),
    base: { rev: base, commit: baseCommit },
    settings: { rounds, threshold, confidence: GATE_STATS_DEFAULTS.confidence, args: benchArgs },
    rows,
    passed: failing.length === 0,
  });
  console.log(
    `gate: ${failing.length === 0 ? "PASSED" : "FAILED"}: ${rows.length} compared, ` +
      `${rows.filter((r) => r.outcome === "regressed").length} regressed, ` +
      `${rows.filter((r) => r.outcome === "accepted").length} accepted, ` +
      `${rows.filter((r) => r.outcome === "broken").length} broken`,
  );
  return failing.length === 0 ? 0 : 1;
}

if (import.meta.main) await runMain(() => gateMain(Deno.args), [FixtureError]);

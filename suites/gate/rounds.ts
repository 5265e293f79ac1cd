/**
 * The speed half of the gate: the base revision checked out in a temporary git worktree, then
 * per round and adapter one lock-step round (`lockstep.ts`) of the working tree against it.
 * @module
 */
import { UsageError } from "../_shared/cli.ts";
import {
  type LockstepOptions,
  type LockstepRound,
  lockstepRound,
  WorkerError,
} from "./lockstep.ts";
import type { RoundEntry, Side } from "../results/gate.ts";
import { terminal } from "../_shared/terminal.ts";

/** Runs git; a failure is a `UsageError` with git's own message. */
export async function git(args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new UsageError(`Cannot run git ${args.join(" ")}: ${stderr}`);
  }
  return new TextDecoder().decode(output.stdout).trim();
}

/** The commit `base` names, or a `UsageError` saying why it is none (a shallow clone, say). */
export async function resolveBase(base: string): Promise<string> {
  return await git(["rev-parse", "--verify", `${base}^{commit}`]).catch(async () => {
    const shallow = await git(["rev-parse", "--is-shallow-repository"]).catch(() => "");
    throw new UsageError(
      `Unknown --base "${base}": not a commit of this repository` +
        (shallow === "true"
          ? " (this is a shallow clone: fetch the base too, e.g. git fetch --deepen=1, or " +
            "check out with fetch-depth: 2)"
          : ""),
    );
  });
}

/** What the rounds gave: every round per `<adapter>|<case>`, and each adapter's sides' info. */
export interface GateRounds {
  entries: Map<string, RoundEntry[]>;
  sides: Map<string, LockstepRound["info"]>;
}

/** The key of an adapter x case in `GateRounds.entries`. */
export const roundKey = (adapter: string, caseId: string) => `${adapter}|${caseId}`;

/**
 * Times `adapters` on `cases`, working tree (the current folder) against `baseCommit`, for
 * `rounds` rounds. A lost round is an entry naming the side that failed; never throws for it.
 */
export async function runRounds(
  options: Omit<LockstepOptions, "trees" | "adapter"> & {
    baseCommit: string;
    adapters: readonly string[];
    rounds: number;
  },
): Promise<GateRounds> {
  const head = Deno.cwd();
  const work = await Deno.makeTempDir({ prefix: "condconv-gate-" });
  const baseTree = `${work}/base`;
  await git(["worktree", "add", "--detach", baseTree, options.baseCommit]);
  const result: GateRounds = { entries: new Map(), sides: new Map() };
  const progress = terminal.progress(
    "gate: speed",
    Array.from(
      { length: options.rounds },
      (_, r) => options.adapters.map((a) => `round ${r + 1}/${options.rounds} ${a}`),
    ).flat(),
  );
  try {
    for (let r = 0; r < options.rounds; r++) {
      for (const adapter of options.adapters) {
        const t0 = performance.now();
        let round: LockstepRound | undefined;
        let error = "";
        let side: Side = "head";
        try {
          round = await lockstepRound({ ...options, trees: { head, base: baseTree }, adapter });
        } catch (e) {
          error = e instanceof Error ? e.message : String(e);
          if (e instanceof WorkerError) side = e.side;
        }
        if (round && !result.sides.has(adapter)) result.sides.set(adapter, round.info);
        for (const caseId of options.cases) {
          const list = result.entries.get(roundKey(adapter, caseId)) ?? [];
          list.push(round?.cases.get(caseId) ?? { error, side });
          result.entries.set(roundKey(adapter, caseId), list);
        }
        const seconds = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(
          `gate: round ${r + 1}/${options.rounds} ${adapter.padEnd(11)} ${seconds} s` +
            (error ? `  ERROR ${error}` : ""),
        );
        progress.advance();
      }
    }
  } finally {
    progress.finish();
    await git(["worktree", "remove", "--force", baseTree]).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
  return result;
}

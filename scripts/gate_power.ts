/**
 * What the gate resolves on this machine, from real gate runs of an unchanged tree.
 *
 * ```
 * deno task gate --base HEAD --rounds 12 --json /tmp/null.json   # an unchanged tree
 * deno run --allow-read scripts/gate_power.ts /tmp/null.json [more.json...]
 *          [--rounds 6] [--factor 1.2] [--draws 30]
 * ```
 * For every adapter x case, it draws `--draws` sets of `--rounds` rounds (without replacement)
 * from the recorded ones and judges each with the gate's own statistics twice: as recorded
 * (no change: a regression there is a false alarm) and with every head block scaled by
 * `--factor` (what a slowdown of that size looks like: the gate should call it). Scaling the
 * recorded blocks is exact for the gate's self-test, whose injected slowdown busy-waits in
 * proportion to each run's own time.
 * @module
 */
import { parseFlags, runMain, UsageError } from "../suites/cli.ts";
import { compareRounds, mulberry32, type Round } from "../suites/gate_stats.ts";

interface RecordedSide {
  status: string;
  blocks: number[];
}

/** The recorded rounds per `adapter|case` of gate result files. */
export function recordedRounds(files: Record<string, unknown>[]): Map<string, Round[]> {
  const rounds = new Map<string, Round[]>();
  for (const file of files) {
    const entries = file.rounds as Record<string, ({ head: RecordedSide; base: RecordedSide })[]>;
    if (typeof entries !== "object" || entries === null) {
      throw new UsageError("Not a gate result with rounds: write one with deno task gate --json");
    }
    for (const [key, list] of Object.entries(entries)) {
      for (const entry of list) {
        if (!("head" in entry) || entry.head.blocks.length === 0) continue;
        if (entry.base.blocks.length === 0) continue;
        const known = rounds.get(key) ?? [];
        known.push({ head: entry.head.blocks, base: entry.base.blocks });
        rounds.set(key, known);
      }
    }
  }
  return rounds;
}

async function powerMain(args: string[]): Promise<number> {
  const split = args.findIndex((a) => a.startsWith("--"));
  const files = split < 0 ? args : args.slice(0, split);
  const flags = parseFlags(split < 0 ? [] : args.slice(split), {
    rounds: { type: "string" },
    factor: { type: "string" },
    draws: { type: "string" },
  });
  const count = Number(flags.rounds ?? 6), factor = Number(flags.factor ?? 1.2);
  const draws = Number(flags.draws ?? 30);
  if (!Number.isInteger(count) || count < 2) throw new UsageError("--rounds: 2 or more");
  if (!(factor > 1)) throw new UsageError("--factor: above 1");
  if (files.length === 0) throw new UsageError("Name one or more gate result files");
  const recorded = recordedRounds(
    await Promise.all(files.map(async (f) => JSON.parse(await Deno.readTextFile(f)))),
  );
  const random = mulberry32(7);
  let falseAlarms = 0, caught = 0, judged = 0;
  console.log(`adapter|case: false regressions / caught x${factor}, of ${draws} draws of ${count}`);
  for (const [key, rounds] of recorded) {
    if (rounds.length < count) {
      console.log(`${key.padEnd(45)} only ${rounds.length} rounds recorded: skipped`);
      continue;
    }
    let falseHere = 0, caughtHere = 0;
    for (let d = 0; d < draws; d++) {
      const pool = [...rounds];
      const picked = Array.from(
        { length: count },
        () => pool.splice(Math.floor(random() * pool.length), 1)[0],
      );
      if (compareRounds(picked, { resamples: 500, seed: d }).verdict === "regressed") falseHere++;
      const slowed = picked.map((r) => ({ head: r.head.map((v) => v * factor), base: r.base }));
      if (compareRounds(slowed, { resamples: 500, seed: d }).verdict === "regressed") caughtHere++;
    }
    falseAlarms += falseHere;
    caught += caughtHere;
    judged += draws;
    console.log(`${key.padEnd(45)} ${String(falseHere).padStart(3)} / ${caughtHere}`);
  }
  console.log(
    `\nall: ${falseAlarms} false regressions and ${caught} of ${judged} x${factor} slowdowns ` +
      `caught, ${count} rounds per draw`,
  );
  return 0;
}

if (import.meta.main) await runMain(() => powerMain(Deno.args));

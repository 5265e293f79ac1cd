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
import { z } from "zod";
import { integerFlag, parseFlags, runMain, UsageError } from "../suites/_shared/cli.ts";
import { compareRounds, mulberry32, type Round } from "../suites/gate/stats.ts";
import { GateReport } from "../suites/results/gate.ts";

/** What this script reads of a gate result file (`suites/results/gate.ts`): its rounds. */
const RecordedRounds = GateReport.pick({ rounds: true });

/** The recorded rounds per `adapter|case` of gate result files. */
export function recordedRounds(files: unknown[]): Map<string, Round[]> {
  const rounds = new Map<string, Round[]>();
  for (const file of files) {
    const parsed = RecordedRounds.safeParse(file);
    if (!parsed.success) {
      throw new UsageError(
        "Not a gate result with rounds: write one with deno task gate --json\n" +
          z.prettifyError(parsed.error),
      );
    }
    for (const [key, list] of Object.entries(parsed.data.rounds)) {
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

/** Per adapter x case: false regressions and caught slowdowns over `draws` draws. */
export interface Power {
  key: string;
  /** rounds recorded; fewer than `rounds` means not judged */
  recorded: number;
  falseRegressions: number;
  caught: number;
  draws: number;
}

/**
 * Draws `draws` sets of `rounds` recorded rounds per adapter x case and judges each as
 * recorded and with every head block scaled by `factor`.
 */
export function power(
  recorded: Map<string, Round[]>,
  options: { rounds: number; factor: number; draws: number; seed?: number },
): Power[] {
  const random = mulberry32(options.seed ?? 7);
  return [...recorded].map(([key, rounds]) => {
    const result = { key, recorded: rounds.length, falseRegressions: 0, caught: 0, draws: 0 };
    if (rounds.length < options.rounds) return result;
    for (let d = 0; d < options.draws; d++) {
      const pool = [...rounds];
      const picked = Array.from(
        { length: options.rounds },
        () => pool.splice(Math.floor(random() * pool.length), 1)[0],
      );
      const slowed = picked.map((r) => ({
        head: r.head.map((v) => v * options.factor),
        base: r.base,
      }));
      const settings = { resamples: 500, seed: d };
      if (compareRounds(picked, settings).verdict === "regressed") result.falseRegressions++;
      if (compareRounds(slowed, settings).verdict === "regressed") result.caught++;
      result.draws++;
    }
    return result;
  });
}

async function powerMain(args: string[]): Promise<number> {
  const split = args.findIndex((a) => a.startsWith("--"));
  const files = split < 0 ? args : args.slice(0, split);
  const flags = parseFlags(split < 0 ? [] : args.slice(split), {
    rounds: { type: "string" },
    factor: { type: "string" },
    draws: { type: "string" },
  });
  const rounds = integerFlag(flags.rounds, "rounds", 6, { min: 2 });
  const draws = integerFlag(flags.draws, "draws", 30);
  const factor = Number(flags.factor ?? 1.2);
  if (!(factor > 1)) throw new UsageError(`Invalid --factor "${flags.factor}": expected above 1`);
  if (files.length === 0) throw new UsageError("Name one or more gate result files");
  const recorded = recordedRounds(
    await Promise.all(files.map(async (f) => JSON.parse(await Deno.readTextFile(f)))),
  );
  console.log(
    `adapter|case: false regressions / caught x${factor}, of ${draws} draws of ${rounds}`,
  );
  const results = power(recorded, { rounds, factor, draws });
  for (const r of results) {
    console.log(
      r.draws === 0
        ? `${r.key.padEnd(45)} only ${r.recorded} rounds recorded: skipped`
        : `${r.key.padEnd(45)} ${String(r.falseRegressions).padStart(3)} / ${r.caught}`,
    );
  }
  const sum = (f: (r: Power) => number) => results.reduce((a, r) => a + f(r), 0);
  console.log(
    `\nall: ${sum((r) => r.falseRegressions)} false regressions and ${sum((r) => r.caught)} of ` +
      `${sum((r) => r.draws)} x${factor} slowdowns caught, ${rounds} rounds per draw`,
  );
  return 0;
}

if (import.meta.main) await runMain(() => powerMain(Deno.args));

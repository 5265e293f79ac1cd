/**
 * Benchmark case sets: golden cases at the batch sizes a benchmark runs them at.
 * @module
 */
import type { GoldenCase } from "../../condconv/cases.ts";
import { UsageError } from "../_shared/cli.ts";
import type { Fixture } from "../_shared/fixtures.ts";

/** One golden case at one batch size. */
export interface BenchCase {
  /** `<case id>@b<batch>` */
  id: string;
  fixture: Fixture;
  batch: number;
  /** the case with `input.batch` set to `batch` */
  goldenCase: GoldenCase;
  /** true when `batch` is the golden's own batch, so the golden is the truth */
  hasGolden: boolean;
}

/**
 * The tag of the gate's cases in `fixtures/cases.json` (`deno task gate`): small, but one of
 * each layer type that matters.
 */
export const GATE_TAG = "gate";

/** The named case sets. */
export const CASE_SETS: Readonly<
  Record<string, { about: string; select: (f: Fixture) => number[] }>
> = {
  "effnet-b0": {
    about: "the 13 CondConv-EfficientNet-B0 layers at batch 1 and 8",
    select: (f) => f.goldenCase.tags.includes("effnet-b0") ? [1, 8] : [],
  },
  gate: {
    about: "the regression gate's cases: one of each layer type, at their golden batch",
    select: (f) => f.goldenCase.tags.includes(GATE_TAG) ? [f.goldenCase.input.batch] : [],
  },
  smoke: {
    about: "a few tiny cases, seconds in all",
    select: (f) => f.goldenCase.tags.includes("smoke") ? [f.goldenCase.input.batch] : [],
  },
};

/** A golden case at `batch`. */
export function benchCase(fixture: Fixture, batch: number): BenchCase {
  const goldenCase = {
    ...fixture.goldenCase,
    input: { ...fixture.goldenCase.input, batch },
  };
  return {
    id: `${fixture.entry.id}@b${batch}`,
    fixture,
    batch,
    goldenCase,
    hasGolden: batch === fixture.goldenCase.input.batch,
  };
}

/**
 * The cases of the named sets plus the chosen fixtures, at the batches given (or each set's
 * batches, or the golden's own batch for a case picked by id). Duplicates are dropped.
 */
export function selectBenchCases(
  fixtures: readonly Fixture[],
  sets: readonly string[],
  picked: readonly Fixture[],
  batches: readonly number[],
): BenchCase[] {
  const out = new Map<string, BenchCase>();
  const add = (fixture: Fixture, defaults: number[]) => {
    for (const batch of batches.length > 0 ? batches : defaults) {
      const c = benchCase(fixture, batch);
      out.set(c.id, c);
    }
  };
  for (const name of sets) {
    const set = CASE_SETS[name];
    if (!set) {
      throw new UsageError(
        `Unknown set "${name}": the sets are ${Object.keys(CASE_SETS).join(", ")}`,
      );
    }
    for (const fixture of fixtures) {
      const defaults = set.select(fixture);
      if (defaults.length > 0) add(fixture, defaults);
    }
  }
  for (const fixture of picked) add(fixture, [fixture.goldenCase.input.batch]);
  return [...out.values()];
}

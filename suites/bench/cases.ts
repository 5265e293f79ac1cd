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

/** How a set is sampled when it is a quick look rather than a figure to publish. */
export interface QuickLook {
  /** mitata: at least this many warm samples (the task's default is 8) */
  minSamples: number;
  /** mitata: keep sampling until this much time was measured, ms (the task's default is 400) */
  budgetMs: number;
}

/**
 * The smoke set's sampling: a quick look in which every adapter is still checked and timed on
 * every case (with its static baseline, on every wgpu backend), in well under a minute, but not
 * a figure to publish. What bounds it is JIT warm-up, measured on the smoke cases: `ts` takes
 * about 340 runs (80 ms) to reach its warm time on `control@b2`, tfjs-cpu up to hundreds of ms,
 * so budgets of 25 and 50 ms gave p50s 2 to 16 times the 400 ms ones (cold code), while 150 ms
 * gave the same within the machine's noise. `--min-samples` and `--budget-ms` override it.
 */
export const SMOKE_QUICK_LOOK: QuickLook = { minSamples: 8, budgetMs: 150 };

/** A named case set: what it is, its cases at their batches, and its own sampling if any. */
export interface CaseSet {
  about: string;
  select: (f: Fixture) => number[];
  /** the sampling a run of this set alone defaults to (absent: the task's defaults) */
  quickLook?: QuickLook;
}

/** The named case sets. */
export const CASE_SETS: Readonly<Record<string, CaseSet>> = {
  "effnet-b0": {
    about: "the 13 CondConv-EfficientNet-B0 layers at batch 1 and 8",
    select: (f) => f.goldenCase.tags.includes("effnet-b0") ? [1, 8] : [],
  },
  gate: {
    about: "the regression gate's cases: one of each layer type, at their golden batch",
    select: (f) => f.goldenCase.tags.includes(GATE_TAG) ? [f.goldenCase.input.batch] : [],
  },
  smoke: {
    about: `a few tiny cases, timed as a quick look (at least ${SMOKE_QUICK_LOOK.minSamples} ` +
      `samples, ${SMOKE_QUICK_LOOK.budgetMs} ms of them per measurement), not a figure to publish`,
    select: (f) => f.goldenCase.tags.includes("smoke") ? [f.goldenCase.input.batch] : [],
    quickLook: SMOKE_QUICK_LOOK,
  },
};

/** What a bench run chose to time: its `--set`s, and whether it named cases or a layer too. */
export interface SetChoice {
  sets?: readonly string[];
  /** sets run when neither sets nor cases are given */
  defaultSets: readonly string[];
  /** `--case` or `--weights` was given */
  picked: boolean;
}

/**
 * The quick look a run defaults to: the one its sets share when it runs only sets that have
 * one and picks nothing else (a case picked by id may be any size); `undefined` otherwise.
 */
export function quickLookOf(choice: SetChoice): QuickLook | undefined {
  const sets = choice.sets ?? (choice.picked ? [] : choice.defaultSets);
  if (choice.picked || sets.length === 0) return undefined;
  const looks = sets.map((name) => CASE_SETS[name]?.quickLook);
  const first = looks[0];
  const same = looks.every((l) =>
    l !== undefined && l.minSamples === first?.minSamples && l.budgetMs === first.budgetMs
  );
  return same ? first : undefined;
}

/**
 * The line a run prints when its quick look `look` set its sampling, or `undefined`: `used` is
 * the sampling the run uses (flags included), `defaults` the task's own. A quick look is said
 * where `used` keeps a value of `look` that differs from the default.
 */
export function quickLookNote(
  sets: readonly string[],
  look: QuickLook | undefined,
  used: QuickLook,
  defaults: QuickLook,
): string | undefined {
  const kept = (k: keyof QuickLook) => look?.[k] !== defaults[k] && used[k] === look?.[k];
  if (!kept("minSamples") && !kept("budgetMs")) return undefined;
  return `bench: --set ${sets.join(", ")} is a quick look, not a figure to publish: at least ` +
    `${used.minSamples} samples and ${used.budgetMs} ms of them per measurement (PyTorch's ` +
    "too; --min-samples and --budget-ms change it, --set effnet-b0 for figures)";
}

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

/**
 * The bad-input catalogue: every way a user can hand the suite something wrong, each with
 * the exact error it must get (class and message). One table per kind, each in its own module
 * with its test beside it (`<table>_test.ts`):
 *
 * - `specs.ts`, `SPEC_AND_SHAPE`: invalid specs and cases (a `ZodError` with the field's path)
 *   and specs that cannot apply to an input (a `RangeError` naming the field);
 * - `run_inputs.ts`, `RUN_INPUTS`: wrong inputs and routing weights, run on every available
 *   adapter, which must all reject them the same way before touching their backend;
 * - `weights.ts`, `WEIGHTS`: weights that do not match their spec, on every available
 *   adapter's `prepare` and on `checkWeights` itself;
 * - `fixtures.ts`, `FIXTURES`: corrupt, truncated or inconsistent fixture files (a
 *   `FixtureError` naming the file and the fault);
 * - `commands.ts`, `COMMANDS`: unknown flags, ids and bad numbers for conform, bench and gate,
 *   bad accepted-changes files, output paths that would fail at the end of a run or replace a
 *   tracked file, and a batch too large for memory (a one-line `UsageError`, exit status 2).
 *
 * `entry.ts` holds what the tables share (`Entry`, `assertRejects`). NaN and infinity are not
 * bad inputs: they propagate, see `../non_finite_test.ts`. This module gathers the tables so
 * that `catalogue_test.ts` can count them without importing the test files.
 * @module
 */
import type { Entry } from "./entry.ts";
import { COMMANDS } from "./commands.ts";
import { FIXTURES } from "./fixtures.ts";
import { RUN_INPUTS } from "./run_inputs.ts";
import { SPEC_AND_SHAPE } from "./specs.ts";
import { WEIGHTS } from "./weights.ts";

/** Every table of the catalogue, by name. */
export const CATALOGUE: Readonly<Record<string, readonly Entry[]>> = {
  SPEC_AND_SHAPE,
  RUN_INPUTS,
  WEIGHTS,
  FIXTURES,
  COMMANDS,
};

/**
 * `deno task soak`: resource hygiene of every available adapter over many runs (the logic and
 * the RSS bound's reasoning are in `suites/soak.ts`).
 *
 * ```
 * deno task soak [--adapter <id or glob>]... [--runs N] [--cycles N] [--json <path>]
 * ```
 * Exit status: 0 when every adapter kept its resources and memory flat, 1 otherwise, 2 on a
 * bad flag.
 * @module
 */
import { runMain } from "../suites/cli.ts";
import { soakMain } from "../suites/soak.ts";

if (import.meta.main) await runMain(() => soakMain(Deno.args));

/**
 * `deno task soak`: resource hygiene. Does an adapter keep its resources and memory flat over
 * many runs, and give everything back on dispose? What is measured, and the bounds, are in
 * `soak/measure.ts`.
 *
 * `deno task soak [--adapter ID]... [--runs N] [--cycles N] [--json PATH]`
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { integerFlag, parseTaskFlags, runMain, selectByIds } from "./_shared/cli.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { checkOutputPaths } from "./_shared/files.ts";
import { paintVerdict, shownPath, terminal, writeJsonOutput } from "./_shared/terminal.ts";
import type { SoakReport, SoakResult } from "./results/soak.ts";
import {
  gc,
  SOAK_BOUNDS,
  SOAK_LAYER,
  soakAdapter,
  type SoakOptions,
  WARM_RUN,
} from "./soak/measure.ts";
import { formatSoakRow, soakHeader } from "./soak/print.ts";

/** Defaults of `deno task soak`. */
export const SOAK_DEFAULTS = {
  runs: 1000,
  cycles: 50,
  jsonPath: "reports/soak.json",
} as const;

const USAGE = `deno task soak [--adapter <id or glob>]... [--runs N] [--cycles N] [--json PATH|-]

Runs each available adapter's prepared layer many times and checks that its resource counts
stay flat, its memory bounded, and that prepare/run/dispose cycles give everything back.
  --adapter  only adapters whose id matches (repeatable; * and ? are wildcards)
  --runs     runs of one prepared layer (default ${SOAK_DEFAULTS.runs}, at least ${WARM_RUN})
  --cycles   prepare/run/dispose cycles (default ${SOAK_DEFAULTS.cycles})
  --json     where to write the report (default ${SOAK_DEFAULTS.jsonPath}; - for stdout, the
             other output then goes to stderr)`;

/** The `soak` command; resolves to the exit status (1 when any adapter failed or errored). */
export async function soakMain(
  args: string[],
  options: { adapters?: readonly CondConvAdapter[] } = {},
): Promise<number> {
  const flags = parseTaskFlags(args, {
    adapter: { type: "string", multiple: true },
    runs: { type: "string" },
    cycles: { type: "string" },
    json: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  const adapters = selectByIds(options.adapters ?? ADAPTERS, flags.adapter ?? [], "adapter");
  const settings: SoakOptions = {
    runs: integerFlag(flags.runs, "runs", SOAK_DEFAULTS.runs, { min: WARM_RUN }),
    cycles: integerFlag(flags.cycles, "cycles", SOAK_DEFAULTS.cycles),
  };
  const path = flags.json ?? SOAK_DEFAULTS.jsonPath;
  await checkOutputPaths({ json: path });
  const gcForced = gc();
  console.log(
    `soak: ${adapters.length} adapters, ${settings.runs} runs and ${settings.cycles} ` +
      `prepare/run/dispose cycles each; ` +
      (gcForced ? "memory read after a forced GC" : "no forced GC: memory figures are noisy"),
  );
  const results: SoakResult[] = [];
  const progress = terminal.progress("soak", adapters.map((a) => a.id));
  for (const adapter of adapters) {
    const result = await soakAdapter(adapter, settings);
    console.log(
      `soak: ${adapter.id} ${paintVerdict(terminal.painter(), result.status, result.status)}`,
    );
    results.push(result);
    progress.advance();
  }
  progress.finish();
  console.log(`\nmemory in MiB; bounds: ${JSON.stringify(SOAK_BOUNDS)}`);
  console.log(soakHeader(settings.runs));
  for (const r of results) console.log(formatSoakRow(r));
  const report: SoakReport = {
    kind: "soak",
    environment: await describeEnvironment(),
    settings: { ...settings, warmRun: WARM_RUN, bounds: SOAK_BOUNDS, gcForced, layer: SOAK_LAYER },
    results,
  };
  await writeJsonOutput(path, report);
  const tally = (status: SoakResult["status"]) => results.filter((r) => r.status === status).length;
  console.log(
    `soak: ${tally("pass")} passed, ${tally("fail")} failed, ${tally("error")} errors, ` +
      `${tally("skip")} skipped; report: ${shownPath(path)}`,
  );
  return tally("fail") + tally("error") > 0 ? 1 : 0;
}

if (import.meta.main) await runMain(() => soakMain(Deno.args));

/**
 * Warm timings of the tfjs adapters on golden cases, per formulation: not the benchmark
 * suite, just the measurements behind `chooseFormulation` in
 * `impls/_tfjs/choose_formulation.ts`.
 *
 * ```sh
 * deno run --allow-read=.,/proc/cpuinfo --allow-env scripts/tfjs_timing.ts \
 *   [--adapter <glob>]... [--case <glob>]... [--runs 20] [--budget-ms 4000] \
 *   [--all-formulations] [--formulations <a,b>] [--batch <n>]
 * ```
 * Each (adapter, case): prepare each formulation (the default one, or every formulation
 * that applies with `--all-formulations`, or those listed), 2 warm-up runs each, then rounds
 * of one timed run per formulation until `--runs` rounds or `--budget-ms`, whichever ends
 * first; prints the median and the fastest per formulation, and checks the last output
 * against the golden (a formulation that is fast but wrong says so, and the script then exits
 * 1). A listed formulation that cannot compute a case is printed as skipped, with the reason.
 * `--batch <n>` runs every case at batch `n` instead of its own: the input (and supplied
 * routing) is the case's seeded stream, longer, so the first examples of the output are
 * still the golden's, and the check compares the examples both batches have.
 * A run is the whole `run()`: input upload, routing, mixing, convolution and readback.
 * @module
 */
import { tfjsCpuAdapter } from "../impls/tfjs_cpu.ts";
import { tfjsWasmAdapter } from "../impls/tfjs_wasm.ts";
import { tfjsWebGpuAdapter } from "../impls/tfjs_webgpu.ts";

import { caseTensors } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { parseFlags, runMain, selectByIds, UsageError } from "../suites/_shared/cli.ts";
import { median } from "../suites/gate/stats.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "../suites/_shared/fixtures.ts";
import type { Fixture, FixtureSet } from "../suites/_shared/fixtures.ts";

const TFJS_ADAPTERS = [tfjsWebGpuAdapter, tfjsWasmAdapter, tfjsCpuAdapter];
type TfjsAdapter = typeof tfjsCpuAdapter;
type TfjsFormulation = TfjsAdapter["formulations"][number];
type TfjsCondConv = Awaited<ReturnType<typeof tfjsCpuAdapter.prepare>>;

/** A flag's value as a whole number of at least `min`, or a `UsageError` naming the flag. */
function wholeFlag(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) {
    throw new UsageError(`--${name} must be a whole number of at least ${min}, got "${text}"`);
  }
  return value;
}

interface TimingOptions {
  runs: number;
  /** a batch size for every case instead of its own */
  batch?: number;
  budgetMs: number;
  /** formulations to time (each where it applies), or the adapter's default when absent */
  formulations?: readonly string[];
}

/** Times one case on one adapter, prints a row per formulation; resolves to the failures. */
async function timeCase(
  adapter: TfjsAdapter,
  set: FixtureSet,
  fixture: Fixture,
  options: TimingOptions,
): Promise<number> {
  const { spec } = fixture.goldenCase;
  const row = `${adapter.id.padEnd(13)} ${fixture.entry.id.padEnd(36)} ${
    String(options.batch ?? fixture.goldenCase.input.batch).padStart(5)
  }`;
  const formulations: (TfjsFormulation | undefined)[] = [];
  for (const formulation of options.formulations ?? [undefined]) {
    const problem = formulation && adapter.formulationProblem(spec, formulation);
    if (problem) console.log(`${row} skipped: ${problem}`);
    else formulations.push(formulation as TfjsFormulation | undefined);
  }
  if (formulations.length === 0) return 0;
  const { goldenCase } = fixture;
  const batch = options.batch ?? goldenCase.input.batch;
  // checked against the generator's checksums at the case's own batch, then drawn longer
  let tensors = await loadCaseTensors(fixture);
  if (batch !== goldenCase.input.batch) {
    tensors = caseTensors({ ...goldenCase, input: { ...goldenCase.input, batch } });
  }
  const truth = await loadGolden(set, fixture);
  const tolerance = toleranceFor(adapter.toleranceClass, fixture.entry.torchFloat32.maxAbsErr);
  // Interleaved rounds (one run of each formulation per round), so that load from other
  // processes falls on every formulation alike.
  const layers: TfjsCondConv[] = [];
  let failures = 0;
  try {
    for (const formulation of formulations) {
      layers.push(await adapter.prepareWith(spec, tensors.weights, { formulation }));
    }
    const run = (i: number) => layers[i].run(tensors.input, tensors.routingWeights);
    const outputs = [];
    for (let i = 0; i < layers.length; i++) {
      await run(i);
      outputs.push(await run(i));
    }
    const times: number[][] = layers.map(() => []);
    const start = performance.now();
    while (
      times[0].length < options.runs &&
      (times[0].length === 0 || performance.now() - start < options.budgetMs)
    ) {
      for (let i = 0; i < layers.length; i++) {
        const t0 = performance.now();
        outputs[i] = await run(i);
        times[i].push(performance.now() - t0);
      }
    }
    for (let i = 0; i < layers.length; i++) {
      // the examples both batches have (all of them at the case's own batch)
      const n = Math.min(outputs[i].data.length, truth.length);
      const check = compareWithTruth(
        outputs[i].data.subarray(0, n),
        truth.subarray(0, n),
        tolerance,
      );
      if (!check.pass) failures++;
      console.log(
        `${row} ${layers[i].formulation.padEnd(16)} ${median(times[i]).toFixed(2).padStart(9)} ` +
          `${Math.min(...times[i]).toFixed(2).padStart(8)}  ` +
          `${String(times[i].length).padStart(4)}  ${
            check.pass ? "ok" : `FAIL ${check.worstRatio.toFixed(2)}x tol`
          }`,
      );
    }
  } finally {
    for (const layer of layers) await layer.dispose();
  }
  return failures;
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    runs: { type: "string", default: "20" },
    "budget-ms": { type: "string", default: "4000" },
    "all-formulations": { type: "boolean" },
    formulations: { type: "string" },
    batch: { type: "string" },
  });
  const options: TimingOptions = {
    runs: wholeFlag("runs", flags.runs, 1),
    budgetMs: wholeFlag("budget-ms", flags["budget-ms"], 0),
    batch: flags.batch === undefined ? undefined : wholeFlag("batch", flags.batch, 1),
    formulations: flags.formulations?.split(",") ??
      (flags["all-formulations"] ? tfjsCpuAdapter.formulations : undefined),
  };
  const adapters = selectByIds(TFJS_ADAPTERS, flags.adapter ?? [], "adapter");
  const set = await loadFixtureSet();
  const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
  const fixtures = selectByIds(withIds, flags.case ?? ["effnet-b0.*"], "case");
  console.log(
    "adapter       case                                 batch formulation      median ms   min ms" +
      "  runs  check",
  );
  let failures = 0;
  for (const adapter of adapters) {
    const availability = await adapter.availability();
    if (availability.available) {
      for (const fixture of fixtures) failures += await timeCase(adapter, set, fixture, options);
    } else {
      console.log(`${adapter.id}: skipped: ${availability.reason}`);
    }
  }
  return failures === 0 ? 0 : 1;
}

if (import.meta.main) await runMain(main);

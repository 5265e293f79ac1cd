/**
 * Side-by-side warm timings of the `ts` adapter against `tfjs-cpu` and `tfjs-wasm` (or any
 * registered adapters) on the CondConv-EfficientNet-B0 layers: not the benchmark suite, just
 * the measurement behind the `ts` adapter's targets.
 *
 * ```
 * deno run --allow-read=. --allow-env --allow-sys=cpus scripts/measure_ts.ts \
 *   [--adapter <id>]... [--case <glob>]... [--batch N]... [--runs 15] [--warmup 3] \
 *   [--workers N]...
 * ```
 * Per case and batch, every adapter prepares the layer, is checked by the suites' one verify
 * path (against the golden at its own batch, else the `reference` adapter), warms up, then the adapters take turns: each round times one `run()` of each, in
 * an order that rotates, so that load from other processes falls on all of them alike. Prints
 * the median per adapter and the geometric mean of the time ratios against `ts` (the first
 * adapter whose id starts with "ts"), of medians and, less sensitive to other processes, of
 * fastest runs.
 * `--workers N` adds `createTsAdapter({ workers: N })` as `ts-<N>w`.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { createTsAdapter } from "../impls/ts.ts";
import { benchCase } from "../suites/bench/cases.ts";
import { loadBenchCase } from "../suites/bench/load.ts";
import { integerFlag, parseFlags, runMain, selectByIds } from "../suites/_shared/cli.ts";
import { loadFixtureSet } from "../suites/_shared/fixtures.ts";
import { announce, type Verdict, verify } from "../suites/_shared/verify.ts";
import { CALL_TIMEOUT_MS } from "../suites/conform/run.ts";
import { median } from "../suites/gate/stats.ts";

function geomean(values: number[]): number {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    batch: { type: "string", multiple: true },
    runs: { type: "string" },
    warmup: { type: "string" },
    workers: { type: "string", multiple: true },
  });
  const runs = integerFlag(flags.runs, "runs", 15);
  const warmup = integerFlag(flags.warmup, "warmup", 3, { min: 0 });
  const batches = (flags.batch ?? ["1", "8"]).map((b) => integerFlag(b, "batch", 1));
  const extra = (flags.workers ?? []).map((n) =>
    createTsAdapter({ workers: integerFlag(n, "workers", 1) })
  );
  const registered = selectByIds(
    ADAPTERS,
    flags.adapter ?? ["ts", "tfjs-cpu", "tfjs-wasm"],
    "adapter",
  );
  const adapters: CondConvAdapter[] = [...registered, ...extra];
  const backends = new Map<CondConvAdapter, string>();
  for (const adapter of adapters) {
    const { summary, backend } = await announce(adapter, CALL_TIMEOUT_MS);
    if (backend === undefined) throw new Error(`${adapter.id} is unavailable: ${summary.reason}`);
    backends.set(adapter, backend);
    console.log(`${adapter.id}: ${backend} ${JSON.stringify(summary.info)}`);
  }
  const set = await loadFixtureSet();
  const fixtures = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    flags.case ?? ["effnet-b0.*"],
    "case",
  );
  const base = adapters.find((a) => a.id.startsWith("ts"))!;
  const ratios = new Map<string, number[]>();
  const perBatch = new Map<string, number[]>();
  const minRatios = new Map<string, number[]>();
  const add = (map: Map<string, number[]>, key: string, value: number) =>
    map.set(key, [...(map.get(key) ?? []), value]);
  console.log(
    `\n${"case".padEnd(34)} ${"batch"} ` + adapters.map((a) => a.id.padStart(12)).join(" ") +
      "   (median ms over " + runs + " interleaved runs)",
  );
  for (const batch of batches) {
    for (const fixture of fixtures) {
      const { id, target } = await loadBenchCase(benchCase(fixture, batch), set);
      const { input, routingWeights } = target;
      const prepared: NonNullable<Verdict["layer"]>["prepared"][] = [];
      for (const adapter of adapters) {
        const options = { timeoutMs: CALL_TIMEOUT_MS, keep: true };
        const verdict = await verify(adapter, backends.get(adapter)!, target, options);
        if (!verdict.layer) {
          throw new Error(`${adapter.id} is not timed on ${id}: ${verdict.reason}`);
        }
        const layer = verdict.layer.prepared;
        prepared.push(layer);
        for (let i = 0; i < warmup; i++) await layer.run(input, routingWeights);
      }
      const times: number[][] = adapters.map(() => []);
      for (let round = 0; round < runs; round++) {
        for (let k = 0; k < adapters.length; k++) {
          const i = (k + round) % adapters.length;
          const t0 = performance.now();
          await prepared[i].run(input, routingWeights);
          times[i].push(performance.now() - t0);
        }
      }
      for (const layer of prepared) await layer.dispose();
      const medians = times.map(median);
      const fastest = times.map((t) => Math.min(...t));
      const baseIndex = adapters.indexOf(base);
      adapters.forEach((a, i) => {
        if (a === base) return;
        add(ratios, a.id, medians[i] / medians[baseIndex]);
        add(perBatch, `${a.id}@b${batch}`, medians[i] / medians[baseIndex]);
        add(minRatios, a.id, fastest[i] / fastest[baseIndex]);
      });
      console.log(
        `${fixture.entry.id.padEnd(34)} ${String(batch).padStart(5)} ` +
          medians.map((m) => m.toFixed(3).padStart(12)).join(" "),
      );
    }
  }
  console.log(`\ngeomean of (adapter time / ${base.id} time), above 1: ${base.id} is faster`);
  for (const [key, values] of [...perBatch, ...ratios]) {
    console.log(`  ${key.padEnd(20)} ${geomean(values).toFixed(2)}x  (${values.length} cases)`);
  }
  console.log(`the same of the fastest runs (less sensitive to other processes)`);
  for (const [key, values] of minRatios) {
    console.log(`  ${key.padEnd(20)} ${geomean(values).toFixed(2)}x  (${values.length} cases)`);
  }
  return 0;
}

if (import.meta.main) await runMain(main);

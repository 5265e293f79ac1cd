/**
 * Warm timings of the tfjs adapters on golden cases, per route: not the benchmark suite,
 * just the measurements behind `chooseRoute` in `impls/_tfjs/condconv.ts`.
 *
 * ```sh
 * deno run --allow-read=.,/proc/cpuinfo --allow-env scripts/tfjs_timing.ts \
 *   [--adapter <glob>]... [--case <glob>]... [--runs 20] [--budget-ms 4000] [--all-routes] [--routes <a,b>]
 * ```
 * Each (adapter, case): prepare each route (the default one, or every route that applies
 * with `--all-routes`, or those listed), 2 warm-up runs each, then rounds of one timed run
 * per route until `--runs` rounds or `--budget-ms`, whichever ends first; prints the median
 * and the fastest per route, and checks the last output against the golden (a route that is
 * fast but wrong says so).
 * A run is the whole `run()`: input upload, routing, mixing, convolution and readback.
 * @module
 */
import { tfjsCpuAdapter } from "../impls/tfjs_cpu.ts";
import { tfjsWasmAdapter } from "../impls/tfjs_wasm.ts";
import { tfjsWebGpuAdapter } from "../impls/tfjs_webgpu.ts";

const TFJS_ADAPTERS = [tfjsWebGpuAdapter, tfjsWasmAdapter, tfjsCpuAdapter];
import { TFJS_ROUTES, type TfjsCondConv, type TfjsRoute } from "../impls/_tfjs/condconv.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { parseFlags, runMain, selectByIds } from "../suites/_shared/cli.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "../suites/_shared/fixtures.ts";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    runs: { type: "string", default: "20" },
    "budget-ms": { type: "string", default: "4000" },
    "all-routes": { type: "boolean" },
    routes: { type: "string" },
  });
  const runs = Number(flags.runs), budgetMs = Number(flags["budget-ms"]);
  const adapters = selectByIds(TFJS_ADAPTERS, flags.adapter ?? [], "adapter");
  const set = await loadFixtureSet();
  const fixtures = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    flags.case ?? ["effnet-b0.*"],
    "case",
  );
  console.log(
    "adapter       case                                 route        median ms   min ms" +
      "  runs  check",
  );
  for (const adapter of adapters) {
    const availability = await adapter.availability();
    if (!availability.available) {
      console.log(`${adapter.id}: skipped: ${availability.reason}`);
      continue;
    }
    for (const fixture of fixtures) {
      const { spec } = fixture.goldenCase;
      const tensors = await loadCaseTensors(fixture);
      const truth = await loadGolden(set, fixture);
      const tolerance = toleranceFor(adapter.toleranceClass, fixture.entry.torchFloat32.maxAbsErr);
      const applicable = TFJS_ROUTES.filter((r) =>
        r !== "depthwise" || spec.groups === spec.inChannels
      );
      const listed = flags.routes?.split(",") as TfjsRoute[] | undefined;
      const routes: (TfjsRoute | undefined)[] = listed
        ? applicable.filter((r) => listed.includes(r))
        : flags["all-routes"]
        ? applicable
        : [undefined];
      // Interleaved rounds (one run of each route per round), so that load from other
      // processes falls on every route alike.
      const layers: TfjsCondConv[] = [];
      for (const route of routes) {
        layers.push(await adapter.prepareWith(spec, tensors.weights, { route }));
      }
      try {
        const run = (i: number) => layers[i].run(tensors.input, tensors.routingWeights);
        const outputs = [];
        for (let i = 0; i < layers.length; i++) {
          await run(i);
          outputs.push(await run(i));
        }
        const times: number[][] = layers.map(() => []);
        const start = performance.now();
        while (
          times[0].length < runs && (times[0].length === 0 || performance.now() - start < budgetMs)
        ) {
          for (let i = 0; i < layers.length; i++) {
            const t0 = performance.now();
            outputs[i] = await run(i);
            times[i].push(performance.now() - t0);
          }
        }
        for (let i = 0; i < layers.length; i++) {
          const check = compareWithTruth(outputs[i].data, truth, tolerance);
          console.log(
            `${adapter.id.padEnd(13)} ${fixture.entry.id.padEnd(36)} ` +
              `${layers[i].route.padEnd(12)} ${median(times[i]).toFixed(2).padStart(9)} ` +
              `${Math.min(...times[i]).toFixed(2).padStart(8)}  ` +
              `${String(times[i].length).padStart(4)}  ${
                check.pass ? "ok" : `FAIL ${check.worstRatio.toFixed(2)}x tol`
              }`,
          );
        }
      } finally {
        for (const layer of layers) await layer.dispose();
      }
    }
  }
  return 0;
}

if (import.meta.main) await runMain(main);

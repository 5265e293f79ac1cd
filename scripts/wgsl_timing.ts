/**
 * Warm timings of the `wgsl` adapter on golden cases: wall time of the whole `run()` and the
 * GPU time of its compute pass from timestamp queries. Not the benchmark suite; the
 * measurements behind the tile choices in `impls/_wgsl/` (gemm.ts, depthwise.ts).
 *
 * ```
 * deno run --allow-read=.,/proc/cpuinfo --allow-env scripts/wgsl_timing.ts \
 *   [--case <glob>]... [--runs 7] [--warmup 2]
 * ```
 * Each case: prepare, `--warmup` untimed runs (the first builds the pipelines), then `--runs`
 * timed runs; prints the time from prepare to the end of the first run ("first ms": the
 * first-inference latency, pipeline compiles included, less any pipeline an earlier case
 * already built in this process), the medians and the fastest wall time, and checks the last
 * output against the golden. A run's wall time is the whole `run()`: input upload, routing, mixing,
 * convolution and readback; its GPU time covers routing, mixing and convolution only.
 * @module
 */
import { wgslAdapter } from "../impls/wgsl.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { flops } from "../condconv/geometry.ts";
import { parseFlags, runMain, selectByIds } from "../suites/_shared/cli.ts";
import { median } from "../suites/gate/stats.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "../suites/_shared/fixtures.ts";

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    case: { type: "string", multiple: true },
    runs: { type: "string", default: "7" },
    warmup: { type: "string", default: "2" },
  });
  const runs = Number(flags.runs), warmup = Number(flags.warmup);
  if (!(Number.isInteger(runs) && runs >= 1 && Number.isInteger(warmup) && warmup >= 1)) {
    throw new RangeError(
      `Cannot time: --runs "${flags.runs}" and --warmup "${flags.warmup}" must be integers >= 1`,
    );
  }
  const availability = await wgslAdapter.availability();
  if (!availability.available) {
    console.log(`wgsl: skipped: ${availability.reason}`);
    return 0;
  }
  const summary = availability.gpu!;
  console.log(
    `wgsl on "${summary.description}" (vendor "${summary.vendor}", software ` +
      `${summary.software}), ` +
      `${runs} timed runs after ${warmup} warm-up`,
  );
  const set = await loadFixtureSet();
  const fixtures = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    flags.case ?? ["effnet-b0.*"],
    "case",
  );
  console.log(
    "case                                 path       first ms  wall ms (median, min)  gpu ms  " +
      "GFLOP/s(gpu)  check  gpu ms per stage",
  );
  let failed = 0;
  for (const fixture of fixtures) {
    const { spec } = fixture.goldenCase;
    const tensors = await loadCaseTensors(fixture);
    const truth = await loadGolden(set, fixture);
    const tolerance = toleranceFor(
      wgslAdapter.toleranceClass,
      fixture.entry.torchFloat32.maxAbsErr,
    );
    const start = performance.now();
    const prepared = await wgslAdapter.prepare(spec, tensors.weights);
    try {
      const run = () => prepared.run(tensors.input, tensors.routingWeights);
      let output = await run();
      const first = performance.now() - start;
      for (let w = 1; w < warmup; w++) output = await run();
      const wall: number[] = [], gpu: number[] = [];
      const stageTimes: Record<string, number[]> = {};
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        output = await run();
        wall.push(performance.now() - t0);
        if (prepared.lastGpuTimeMs !== undefined) gpu.push(prepared.lastGpuTimeMs);
        for (const [name, ms] of Object.entries(prepared.lastGpuStageMs ?? {})) {
          (stageTimes[name] ??= []).push(ms);
        }
      }
      const check = compareWithTruth(output.data, truth, tolerance);
      if (!check.pass) failed++;
      const gpuMs = gpu.length ? median(gpu) : undefined;
      const gflops = gpuMs ? flops(spec, tensors.input.shape).total / gpuMs / 1e6 : undefined;
      console.log(
        `${fixture.entry.id.padEnd(36)} ${prepared.convPath(tensors.input.shape).padEnd(10)} ` +
          `${first.toFixed(1).padStart(8)} ` +
          `${median(wall).toFixed(2).padStart(9)} ${Math.min(...wall).toFixed(2).padStart(9)}` +
          `     ${gpuMs === undefined ? "     -" : gpuMs.toFixed(2).padStart(7)}  ` +
          `${gflops === undefined ? "-" : gflops.toFixed(2).padStart(10)}    ` +
          `${check.pass ? "ok" : `FAIL ${check.worstRatio.toFixed(2)}x tol`}  ` +
          Object.entries(stageTimes).map(([name, ms]) => `${name} ${median(ms).toFixed(2)}`)
            .join(", "),
      );
    } finally {
      await prepared.dispose();
    }
  }
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) await runMain(main);

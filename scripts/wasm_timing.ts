/**
 * Times the `wasm` adapter (or `ts`) on the effnet-b0 layers at batch 1 and 8: the minimum
 * and the median of `--runs` warm runs, and GFLOP/s at the minimum. On a shared machine the
 * minimum is the figure to compare block sizes by; `deno task bench` gives the p50 against
 * the other adapters.
 *
 * `--static` also times each layer's static convolution (`prepareStatic`, one kernel of the
 * same shape), its runs alternating with the CondConv layer's so that both see the same load,
 * and prints CondConv's time over static's (minima) with the geomean per batch at the end.
 * `--peak G` (the all-core wasm SIMD GFLOP/s of `scripts/roofline.ts`) adds each row's percent
 * of it.
 *
 * ```sh
 * deno run --allow-read=. --allow-sys=loadavg scripts/wasm_timing.ts [--case SUBSTRING]
 *   [--adapter wasm|ts] [--threads N] [--runs N] [--batch N,N] [--static] [--peak GFLOPS]
 * ```
 * @module
 */
import { integerFlag, parseTaskFlags, UsageError } from "../suites/_shared/cli.ts";
import { createWasmAdapter } from "../impls/wasm.ts";
import { createTsAdapter } from "../impls/ts.ts";
import type { PreparedCondConv } from "../impls/adapter.ts";
import { seededLayer } from "../condconv/seeded.ts";
import { flops } from "../condconv/geometry.ts";
import type { CondConvSpecInput } from "../condconv/spec.ts";

interface CaseEntry {
  id: string;
  tags?: string[];
  spec: CondConvSpecInput & { inChannels: number };
  input: { height: number; width: number };
}

const USAGE = "deno run --allow-read=. --allow-sys=loadavg scripts/wasm_timing.ts " +
  "[--case SUBSTRING] [--adapter wasm|ts] [--threads N] [--runs N] [--batch N,N] [--static] " +
  "[--peak GFLOPS]";
const flags = parseTaskFlags(Deno.args, {
  case: { type: "string" },
  adapter: { type: "string" },
  threads: { type: "string" },
  runs: { type: "string" },
  batch: { type: "string" },
  static: { type: "boolean" },
  peak: { type: "string" },
}, USAGE);
if (!flags) Deno.exit(0);
const runs = integerFlag(flags.runs, "runs", 20);
const threads = flags.threads === undefined ? undefined : integerFlag(flags.threads, "threads", 1);
const batches = (flags.batch ?? "1,8").split(",").map((b) => integerFlag(b, "batch", 1));
const peak = flags.peak === undefined ? undefined : Number(flags.peak);
if (peak !== undefined && !(peak > 0)) {
  throw new UsageError(`Invalid --peak "${flags.peak}": expected GFLOP/s above 0`);
}
const kind = flags.adapter ?? "wasm";
if (kind !== "wasm" && kind !== "ts") {
  throw new UsageError(`Invalid --adapter "${kind}": expected wasm or ts`);
}
const adapter = kind === "ts"
  ? createTsAdapter(threads === undefined ? {} : { workers: threads })
  : createWasmAdapter(threads === undefined ? {} : { threads });
const cases = (JSON.parse(await Deno.readTextFile("fixtures/cases.json")).cases as CaseEntry[])
  .filter((c) => c.tags?.includes("effnet-b0") && c.id.includes(flags.case ?? ""));

/** Minimum and median of `times`. */
function summary(times: number[]): { min: number; p50: number } {
  const sorted = times.toSorted((a, b) => a - b);
  return { min: sorted[0], p50: sorted[sorted.length >> 1] };
}

async function time(prepared: PreparedCondConv, input: Parameters<PreparedCondConv["run"]>[0]) {
  const start = performance.now();
  await prepared.run(input);
  return performance.now() - start;
}

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`${adapter.id}: ${runs} warm runs a layer; load average ${load()}`);
const ratios = new Map<number, number[]>(batches.map((b) => [b, []]));
for (const c of cases) {
  const cells = [c.id.padEnd(30)];
  for (const batch of batches) {
    const shape = [batch, c.spec.inChannels, c.input.height, c.input.width];
    const layer = seededLayer(1, c.spec, shape);
    const prepared = await adapter.prepare(layer.spec, layer.weights);
    const plain = flags.static
      ? await adapter.prepareStatic!(
        layer.spec,
        layer.weights.expertKernels.subarray(
          0,
          layer.weights.expertKernels.length / layer.spec.numExperts,
        ),
      )
      : undefined;
    const condTimes: number[] = [], staticTimes: number[] = [];
    for (let i = 0; i < runs + 3; i++) {
      const t = await time(prepared, layer.input);
      if (i >= 3) condTimes.push(t);
      if (plain) {
        const s = await time(plain, layer.input);
        if (i >= 3) staticTimes.push(s);
      }
    }
    await prepared.dispose();
    await plain?.dispose();
    const { min, p50 } = summary(condTimes);
    const gflops = flops(layer.spec, shape).total / min / 1e6;
    let cell = `b${batch} min ${min.toFixed(3)} p50 ${p50.toFixed(3)} ms ${
      gflops.toFixed(1)
    } GFLOP/s`;
    if (peak !== undefined) cell += ` (${(100 * gflops / peak).toFixed(0)}% of ${peak})`;
    if (plain) {
      const ratio = min / summary(staticTimes).min;
      ratios.get(batch)!.push(ratio);
      cell += `, static ${summary(staticTimes).min.toFixed(3)} ms: ${ratio.toFixed(2)}x`;
    }
    cells.push(cell);
  }
  console.log(cells.join("  "));
}
if (flags.static) {
  for (const [batch, list] of ratios) {
    const geomean = Math.exp(list.reduce((s, r) => s + Math.log(r), 0) / list.length);
    console.log(
      `b${batch}: CondConv over static conv, geomean of ${list.length}: ${geomean.toFixed(3)}x`,
    );
  }
}
console.log(`load average at the end ${load()}`);

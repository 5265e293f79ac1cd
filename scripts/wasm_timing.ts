/**
 * Times the `wasm` adapter (or `ts`) on the effnet-b0 layers at batch 1 and 8: the minimum
 * and the median of `--runs` warm runs, and GFLOP/s at the minimum. On a shared machine the
 * minimum is the figure to compare block sizes by; `deno task bench` gives the p50 against
 * the other adapters.
 *
 * ```sh
 * deno run --allow-read=. scripts/wasm_timing.ts [--case SUBSTRING] [--adapter wasm|ts]
 *   [--workers N] [--runs N]
 * ```
 * @module
 */
import { integerFlag, parseTaskFlags, UsageError } from "../suites/_shared/cli.ts";
import { createWasmAdapter } from "../impls/wasm.ts";
import { createTsAdapter } from "../impls/ts.ts";
import { seededLayer } from "../condconv/seeded.ts";
import { flops } from "../condconv/geometry.ts";
import type { CondConvSpecInput } from "../condconv/spec.ts";

interface CaseEntry {
  id: string;
  tags?: string[];
  spec: CondConvSpecInput & { inChannels: number };
  input: { height: number; width: number };
}

const USAGE = "deno run --allow-read=. scripts/wasm_timing.ts [--case SUBSTRING] " +
  "[--adapter wasm|ts] [--workers N] [--runs N]";
const flags = parseTaskFlags(Deno.args, {
  case: { type: "string" },
  adapter: { type: "string" },
  workers: { type: "string" },
  runs: { type: "string" },
}, USAGE);
if (!flags) Deno.exit(0);
const runs = integerFlag(flags.runs, "runs", 20);
const workers = flags.workers === undefined ? {} : {
  workers: integerFlag(flags.workers, "workers", 1),
};
const kind = flags.adapter ?? "wasm";
if (kind !== "wasm" && kind !== "ts") {
  throw new UsageError(`Invalid --adapter "${kind}": expected wasm or ts`);
}
const adapter = kind === "ts" ? createTsAdapter(workers) : createWasmAdapter(workers);
const cases = (JSON.parse(await Deno.readTextFile("fixtures/cases.json")).cases as CaseEntry[])
  .filter((c) => c.tags?.includes("effnet-b0") && c.id.includes(flags.case ?? ""));

for (const c of cases) {
  const cells = [c.id.padEnd(30)];
  for (const batch of [1, 8]) {
    const shape = [batch, c.spec.inChannels, c.input.height, c.input.width];
    const layer = seededLayer(1, c.spec, shape);
    const prepared = await adapter.prepare(layer.spec, layer.weights);
    for (let i = 0; i < 3; i++) await prepared.run(layer.input);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await prepared.run(layer.input);
      times.push(performance.now() - start);
    }
    await prepared.dispose();
    times.sort((a, b) => a - b);
    const gflops = flops(layer.spec, shape).total / times[0] / 1e6;
    cells.push(
      `b${batch} min ${times[0].toFixed(3)} p50 ${times[runs >> 1].toFixed(3)} ms ` +
        `${gflops.toFixed(1)} GFLOP/s`,
    );
  }
  console.log(cells.join("  "));
}

import assert from "node:assert/strict";
import type { FormulationTable } from "../../impls/_formulations/evidence.ts";
import type { BenchReport, BenchResult, FormulationTiming } from "../results/bench.ts";
import { timingStats } from "./rows.ts";
import { deriveTable, renderTableModule } from "./formulation_table.ts";

/** A row of `adapter` on `kase` whose formulations took `p50s` ms (absent: not timed). */
function row(
  adapter: string,
  kase: string,
  cell: BenchResult["formulationCell"],
  p50s: Record<string, number | "wrong">,
  softwareGpu = false,
): BenchResult {
  const formulations: FormulationTiming[] = Object.entries(p50s).map(([formulation, p50]) =>
    p50 === "wrong"
      ? { formulation, status: "wrong", default: false }
      : { formulation, status: "timed", default: false, warm: timingStats([p50, p50, p50]) }
  );
  return {
    adapter,
    case: kase,
    goldenCase: kase.split("@")[0],
    batch: 8,
    status: "timed",
    softwareGpu,
    flops: { routing: 0, mixing: 0, conv: 1, total: 1, staticConv: 1 },
    readbackIncluded: true,
    formulationCell: cell,
    formulations,
  };
}

function report(results: BenchResult[]): BenchReport {
  return {
    kind: "bench",
    environment: {
      date: "2026-12-02T00:00:00.000Z",
      deno: "2.9.6",
      cpuModel: "test CPU",
      logicalCores: 2,
    },
    settings: { sets: ["effnet-b0"], cases: results.map((r) => r.case) },
    results,
  } as unknown as BenchReport;
}

const EMPTY: FormulationTable = { sources: [], cells: [], notUsed: [] };

const POINTWISE_B8 = { kernel: "pointwise", batch: "2+", spatial: "<=400px" } as const;

Deno.test("deriveTable: each cell takes the smallest geomean over the fastest, case by case", () => {
  const table = deriveTable(
    report([
      // per-example: 1.0x and 1.3x (geomean 1.14); batched-matmul: 2.0x and 1.0x (1.41)
      row("tfjs-wasm", "a@b8", POINTWISE_B8, { "batched-matmul": 20, "per-example": 10 }),
      row("tfjs-wasm", "b@b8", POINTWISE_B8, { "batched-matmul": 10, "per-example": 13 }),
      // wrong on one case: never the cell's choice, however fast elsewhere
      row("ort-wasm", "a@b8", POINTWISE_B8, { "grouped": 5, "expert-sum": 9 }),
      row("ort-wasm", "b@b8", POINTWISE_B8, { "grouped": "wrong", "expert-sum": 9 }),
    ]),
    EMPTY,
    "bench.json",
  );
  const tfjs = table.cells.find((c) => c.cell.backend === "tfjs-wasm")!;
  assert.equal(tfjs.formulation, "per-example");
  assert.ok(Math.abs(tfjs.geomeanOverFastest - Math.sqrt(1.3)) < 1e-9);
  assert.ok(Math.abs(tfjs.worstOverFastest - 1.3) < 1e-9);
  assert.deepEqual(tfjs.evidence.map((e) => e.case), ["a@b8", "b@b8"]);
  const ort = table.cells.find((c) => c.cell.backend === "ort-wasm")!;
  assert.equal(ort.formulation, "expert-sum");
  assert.equal(table.sources.length, 1);
  assert.match(table.sources[0].command, /bench\.json/);
  assert.equal(table.sources[0].cpu, "test CPU");
  assert.deepEqual(table.cells.map((c) => c.source), [0, 0]);
});

Deno.test("deriveTable: a cheaper formulation within 5% of the fastest wins the cell", () => {
  const table = deriveTable(
    report([
      // per-example is 3% faster: within the noise, and batched-matmul is cheaper to hold
      row("ort-wasm", "a@b8", POINTWISE_B8, { "batched-matmul": 10.3, "per-example": 10 }),
      row("tfjs-wasm", "a@b8", POINTWISE_B8, { "batched-matmul": 11, "per-example": 10 }),
    ]),
    EMPTY,
    "bench.json",
  );
  assert.deepEqual(table.cells.map((c) => [c.cell.backend, c.formulation]), [
    ["ort-wasm", "batched-matmul"],
    ["tfjs-wasm", "per-example"],
  ]);
  assert.ok(Math.abs(table.cells[0].worstOverFastest - 1.03) < 1e-9);
});

Deno.test("deriveTable keeps a cell's previous entry when a run cannot decide it", () => {
  const previous = deriveTable(
    report([row("tfjs-wasm", "a@b8", POINTWISE_B8, { "per-example": 1, "batched-matmul": 3 })]),
    EMPTY,
    "old.json",
  );
  const table = deriveTable(
    report([
      row("tfjs-wasm", "a@b8", POINTWISE_B8, { "per-example": 1 }),
      row("tfjs-wasm", "b@b8", POINTWISE_B8, { "batched-matmul": 1 }),
    ]),
    previous,
    "new.json",
  );
  assert.deepEqual(table.cells, previous.cells, "the old entry and its run stay");
  assert.equal(table.sources.length, 1, "a run that decided nothing adds no source");
  assert.match(table.notUsed[0], /no formulation was timed on every case of the cell in new\.json/);
});

Deno.test("deriveTable never makes a WebGPU cell from a software adapter, and keeps the cells a run did not measure", () => {
  const DEPTHWISE_B1 = { kernel: "depthwise", batch: "1", spatial: "<=100px" } as const;
  const previous = deriveTable(
    report([
      row("tfjs-cpu", "a@b8", POINTWISE_B8, { "per-example": 3 }),
      row("tfjs-wasm", "d@b1", DEPTHWISE_B1, { "depthwise-folded": 1, "per-example": 9 }),
      row("tfjs-wasm", "a@b8", POINTWISE_B8, { "per-example": 1, "batched-matmul": 3 }),
    ]),
    EMPTY,
    "old.json",
  );
  const table = deriveTable(
    report([
      row("tfjs-webgpu", "a@b8", POINTWISE_B8, { "batched-matmul": 1, "per-example": 2 }, true),
      row("tfjs-wasm", "a@b8", POINTWISE_B8, { "batched-matmul": 1 }),
    ]),
    previous,
    "new.json",
  );
  assert.deepEqual(table.cells.map((c) => [c.cell.backend, c.cell.kernel, c.formulation]), [
    ["tfjs-cpu", "pointwise", "per-example"],
    ["tfjs-wasm", "depthwise", "depthwise-folded"],
    ["tfjs-wasm", "pointwise", "batched-matmul"],
  ]);
  assert.deepEqual(table.sources.map((s) => s.command.match(/\((\S+):/)![1]), [
    "old.json",
    "new.json",
  ]);
  assert.deepEqual(table.cells.map((c) => c.source), [0, 0, 1], "each cell names its run");
  assert.equal(table.notUsed.length, 1);
  assert.match(table.notUsed[0], /tfjs-webgpu: ran on a software GPU adapter/);
  assert.throws(
    () => deriveTable(report([]), EMPTY, "plain.json"),
    /plain\.json has no formulation timings \(run deno task bench --formulations\)/,
  );
});

Deno.test("the table module renders what deriveTable made, for the adapters to import", async () => {
  const table = deriveTable(
    report([row("ort-wasm", "a@b8", POINTWISE_B8, { "grouped": 2, "batched-matmul": 1 })]),
    EMPTY,
    "bench.json",
  );
  const dir = await Deno.makeTempDir();
  const text = renderTableModule(table).replace(
    `from "./evidence.ts"`,
    `from "${new URL("../../impls/_formulations/evidence.ts", import.meta.url).href}"`,
  );
  await Deno.writeTextFile(`${dir}/table.ts`, text);
  const { FORMULATION_TABLE } = await import(`file://${dir}/table.ts`);
  assert.deepEqual(FORMULATION_TABLE, table);
  await Deno.remove(dir, { recursive: true });
});

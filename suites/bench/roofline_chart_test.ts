import assert from "node:assert/strict";
import { compile } from "vega-lite";
import { knownLimits } from "./_roofline_testing.ts";
import { rooflineChartSpec } from "./roofline_chart.ts";

/** 2 threads: wasm 60 -> 120 GFLOP/s, scalar 8 -> 16, bandwidth 15 -> 30 GB/s. */
const LIMITS = knownLimits(2, [60, 120], [8, 16], [15, 30]);

interface CeilingRow {
  ceiling: string;
  arithmeticIntensity: number;
  gflops: number;
}

function ceilingRows(spec: object): CeilingRow[] {
  const layers = (spec as { layer: { data: { values: CeilingRow[] } }[] }).layer;
  return layers[0].data.values;
}

Deno.test("rooflineChartSpec() compiles with vega-lite and plots every point", () => {
  const points = [
    {
      adapter: "ts",
      case: "a@b1",
      threads: 1,
      arithmeticIntensity: 5,
      gflops: 3,
      percentOfCeiling: 5,
    },
    {
      adapter: "wasm",
      case: "a@b8",
      threads: 2,
      arithmeticIntensity: 400,
      gflops: 70,
      percentOfCeiling: 58,
    },
  ];
  const spec = rooflineChartSpec(LIMITS, points);
  compile(spec as Parameters<typeof compile>[0]);
  const layers = (spec as { layer: { mark: { type: string }; data: { values: unknown[] } }[] })
    .layer;
  assert.deepEqual(layers.find((layer) => layer.mark.type === "point")?.data.values, points);
  const labels = layers.find((layer) => layer.mark.type === "text")?.data.values;
  assert.equal(labels?.length, 4, "one label per ceiling");
  // the x domain reaches past the largest intensity
  const rows = ceilingRows(spec);
  assert.ok(Math.max(...rows.map((r) => r.arithmeticIntensity)) >= 800);
});

Deno.test("rooflineChartSpec() ceilings are min(peak, intensity x bandwidth) with the ridge", () => {
  const rows = ceilingRows(rooflineChartSpec(LIMITS, []));
  const names = [...new Set(rows.map((r) => r.ceiling))];
  assert.deepEqual(names, [
    "wasm SIMD, 1 thread",
    "scalar JS, 1 thread",
    "wasm SIMD, 2 threads",
    "scalar JS, 2 threads",
  ]);
  for (const row of rows.filter((r) => r.ceiling === "wasm SIMD, 2 threads")) {
    assert.equal(row.gflops, Math.min(120, row.arithmeticIntensity * 30));
  }
  // wasm SIMD on one thread: the ridge is 60 / 15 = 4 FLOP/byte
  const ridge = rows.find((r) =>
    r.ceiling === "wasm SIMD, 1 thread" && r.arithmeticIntensity === 4
  );
  assert.equal(ridge?.gflops, 60);
});

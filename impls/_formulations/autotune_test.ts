import assert from "node:assert/strict";
import type { PreparedCondConv } from "../adapter.ts";
import { seededLayer } from "../../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../../condconv/tolerance.ts";
import { referenceAdapter } from "../reference.ts";
import { tfjsWasmAdapter } from "../tfjs_wasm.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { prepareAutotuned } from "./autotune.ts";

/** A fake layer in `formulation` that takes `ms` per run and returns its name's length. */
function sleeper(formulation: string, ms: number, runs: string[]): PreparedCondConv & {
  formulation: string;
} {
  return {
    backend: "fake",
    formulation,
    async run() {
      runs.push(formulation);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { shape: [1], data: new Float32Array([formulation.length]) };
    },
    dispose: () => Promise.resolve(),
  };
}

Deno.test("autotune keeps the fastest formulation per input geometry, timed at its first run", async () => {
  const runs: string[] = [];
  const speeds: Record<string, number> = { "batched-matmul": 40, "per-example": 2, grouped: 1 };
  const layer = await prepareAutotuned(
    ["batched-matmul", "grouped", "per-example"],
    (f) => f === "grouped" ? "no grouped convolution here" : undefined,
    (f) => Promise.resolve(sleeper(f, speeds[f], runs)),
  );
  const input = { shape: [2, 1, 1, 1], data: new Float32Array(2) };
  const out = await layer.run(input);
  assert.equal(layer.formulation, "per-example");
  assert.deepEqual(out.data, new Float32Array(["per-example".length]), "the chosen one's output");
  assert.deepEqual(runs, ["batched-matmul", "batched-matmul", "per-example", "per-example"]);
  await layer.run(input);
  assert.equal(runs.length, 5, "a tuned geometry runs the chosen formulation only");
  assert.deepEqual([...layer.choices.keys()], ["2x1x1x1"]);
  assert.deepEqual(Object.keys(layer.choices.get("2x1x1x1")!.timesMs), [
    "batched-matmul",
    "per-example",
  ]);
  await layer.run({ shape: [3, 1, 1, 1], data: new Float32Array(3) });
  assert.equal(layer.choices.size, 2, "a new geometry is tuned again");
  runs.length = 0;
  const wide = { shape: [4, 1, 1, 1], data: new Float32Array(4) };
  await Promise.all([layer.run(wide), layer.run(wide)]);
  assert.deepEqual(runs, [
    "batched-matmul",
    "batched-matmul",
    "per-example",
    "per-example",
    "per-example",
  ], "overlapping first runs of one geometry tune it once");
  await assert.rejects(layer.run({} as never), /input\.shape must be an array/);
  await layer.dispose();
  await assert.rejects(layer.run(input), TypeError);
  await assert.rejects(
    prepareAutotuned(["grouped"], () => "never", () => Promise.reject(new Error("unused"))),
    /Cannot autotune: no formulation computes this layer/,
  );
});

for (const adapter of [tfjsWasmAdapter, ortWasmAdapter]) {
  Deno.test(`${adapter.id} prepareAutotuned computes the layer right at each batch`, async () => {
    const spec = { inChannels: 6, outChannels: 6, kernelSize: 3, groups: 6, numExperts: 3 };
    const tolerance = toleranceFor(adapter.toleranceClass, 0);
    const layer = await adapter.prepareAutotuned(
      seededLayer(3, spec, [1, 6, 9, 9]).spec,
      seededLayer(3, spec, [1, 6, 9, 9]).weights,
    );
    try {
      for (const batch of [1, 4]) {
        const { spec: parsed, weights, input } = seededLayer(3, spec, [batch, 6, 9, 9]);
        const truthLayer = await referenceAdapter.prepare(parsed, weights);
        const truth = await truthLayer.run(input);
        await truthLayer.dispose();
        const out = await layer.run(input);
        const comparison = compareWithTruth(out.data, Float64Array.from(truth.data), tolerance);
        assert.ok(comparison.pass, `batch ${batch}: off by ${comparison.maxAbsErr}`);
        assert.ok(adapter.formulations.includes(layer.formulation as never));
      }
      assert.equal(layer.choices.size, 2);
    } finally {
      await layer.dispose();
    }
  });
}

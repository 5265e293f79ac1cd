/**
 * The formulation defaults hold to the committed, measured table: every cell's choice is the
 * one its own evidence makes, and each CPU framework adapter runs the table's formulation in
 * every cell it has, and its rule where the table has none.
 * @module
 */
import assert from "node:assert/strict";
import { cellKey, type FormulationCell, FORMULATIONS } from "../../condconv/formulation.ts";
import { seededLayer } from "../../condconv/seeded.ts";
import type { CondConvAdapter } from "../adapter.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { tfjsCpuAdapter } from "../tfjs_cpu.ts";
import { tfjsWasmAdapter } from "../tfjs_wasm.ts";
import { chooseFormulation as tfjsRule } from "../_tfjs/choose_formulation.ts";
import { chooseFormulation as onnxRule } from "../../condconv/formats/onnx_graph.ts";
import { chooseFromEvidence, PREFERENCE } from "./evidence.ts";
import { FORMULATION_TABLE } from "./table.ts";
import { defaultFormulation } from "./defaults.ts";

/** The CPU framework adapters, each with its rule where the table has no cell. */
const ADAPTERS: [CondConvAdapter, (spec: Parameters<typeof onnxRule>[0]) => string][] = [
  [tfjsWasmAdapter, (spec) => tfjsRule(spec, "wasm")],
  [tfjsCpuAdapter, (spec) => tfjsRule(spec, "cpu")],
  [ortWasmAdapter, onnxRule],
];

/** A small layer of `cell`'s kind at a batch and input size inside its buckets. */
function layerIn(cell: Omit<FormulationCell, "backend">) {
  const kernelSize = cell.kernel === "pointwise" ? 1 : 3;
  const groups = cell.kernel === "depthwise" ? 8 : 1;
  const side = { "<=100px": 7, "<=400px": 14, ">400px": 28 }[cell.spatial];
  const batch = cell.batch === "1" ? 1 : 3;
  return seededLayer(
    7,
    { inChannels: 8, outChannels: 8, kernelSize, groups, padding: "same", numExperts: 3 },
    [batch, 8, side, side],
  );
}

Deno.test("the order of preference holds every formulation once", () => {
  assert.deepEqual([...PREFERENCE].sort(), [...FORMULATIONS].sort());
});

Deno.test("every cell of the committed table is the choice its own evidence makes", () => {
  const keys = FORMULATION_TABLE.cells.map((c) => cellKey(c.cell));
  assert.equal(new Set(keys).size, keys.length, "one entry per cell");
  for (const c of FORMULATION_TABLE.cells) {
    const choice = chooseFromEvidence(c.evidence);
    assert.ok(choice, `${cellKey(c.cell)} has evidence`);
    assert.equal(c.formulation, choice.formulation, cellKey(c.cell));
    assert.ok(Math.abs(c.geomeanOverFastest - choice.geomeanOverFastest) < 1e-9);
    assert.ok(Math.abs(c.worstOverFastest - choice.worstOverFastest) < 1e-9);
  }
  for (const [adapter] of ADAPTERS) {
    assert.ok(
      FORMULATION_TABLE.cells.some((c) => c.cell.backend === adapter.id),
      `the table measures ${adapter.id}`,
    );
  }
});

for (const [adapter, rule] of ADAPTERS) {
  Deno.test(`${adapter.id} runs the table's formulation in each of its cells, else its rule`, async () => {
    const kinds = ["pointwise", "depthwise", "general"] as const;
    const cells = kinds.flatMap((kernel) =>
      (["1", "2+"] as const).flatMap((batch) =>
        (["<=100px", "<=400px", ">400px"] as const).map((spatial) => ({ kernel, batch, spatial }))
      )
    );
    for (const cell of cells) {
      const layer = layerIn(cell);
      const [batch, , height, width] = layer.input.shape;
      const measured = FORMULATION_TABLE.cells.find((c) =>
        cellKey(c.cell) === cellKey({ backend: adapter.id, ...cell })
      );
      const expected = measured?.formulation ?? rule(layer.spec);
      const choice = defaultFormulation(
        adapter.id,
        layer.spec,
        { batch, inHeight: height, inWidth: width },
        () => rule(layer.spec),
        () => undefined,
      );
      assert.equal(choice.from, measured ? "table" : "rule");
      const prepared = await adapter.prepare(layer.spec, layer.weights);
      try {
        await prepared.run(layer.input, layer.routingWeights);
        const ran = (prepared as { formulation?: string }).formulation;
        assert.equal(ran, expected, `${adapter.id} ${cellKey({ backend: adapter.id, ...cell })}`);
      } finally {
        await prepared.dispose();
      }
    }
  });
}

/**
 * The WebGPU Conv bug predicate (`condConvConvBug`, the rule `ort-webgpu-conv` is built on)
 * over every formulation that emits a `Conv`: `grouped` (and `depthwise-folded`, the same
 * graph), `per-example` (a batch-1 `Conv`, `group = groups`) and `expert-sum` (`E x O`
 * output channels per call, `group = groups`). For random layers (the fuzz's arbitraries,
 * seeded) and two layers chosen so that only `expert-sum`'s node shows a cause: ort-webgpu
 * without its workarounds may be wrong only where the predicate says so for that
 * formulation, and with them it is always right.
 *
 * Needs WebGPU (`CONDCONV_TEST_ORT_WEBGPU=1`; slow on a software adapter).
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { condConvConvBug, type ConvFormulation } from "../../condconv/formats/onnx_graph.ts";
import { compareWithTruth, toleranceFor } from "../../condconv/tolerance.ts";
import { DEFAULT_FUZZ_BOUNDS, fuzzCase, fuzzLayer } from "../../suites/_testing/arbitraries.ts";
import type { FuzzCase, FuzzLayer } from "../../suites/_testing/arbitraries.ts";
import { createOrtWebgpuAdapter, ortWebgpuAdapter } from "../ort_webgpu.ts";
import { referenceAdapter } from "../reference.ts";

const enabled = Deno.env.get("CONDCONV_TEST_ORT_WEBGPU") === "1";
const raw = createOrtWebgpuAdapter({ workarounds: false });
const CONV_FORMULATIONS: ConvFormulation[] = ["grouped", "per-example", "expert-sum"];

/** Whether `adapter` in `formulation` computes `layer` within the WebGPU tolerance. */
async function right(
  adapter: typeof raw,
  formulation: ConvFormulation,
  layer: FuzzLayer,
  truth: Float64Array,
): Promise<boolean> {
  const prepared = await adapter.prepareWith(layer.spec, layer.weights, { formulation });
  try {
    const output = await prepared.run(layer.input, layer.routingWeights);
    return compareWithTruth(output.data, truth, toleranceFor("webgpu", 0)).pass;
  } finally {
    await prepared.dispose();
  }
}

/** Checks the predicate and the workarounds on `c`; resolves to the formulations found wrong. */
async function check(c: FuzzCase): Promise<ConvFormulation[]> {
  const layer = fuzzLayer(c);
  const [batch, , height, width] = layer.input.shape;
  const truth = Float64Array.from(
    (await (await referenceAdapter.prepare(layer.spec, layer.weights))
      .run(layer.input, layer.routingWeights)).data,
  );
  const wrong: ConvFormulation[] = [];
  for (const formulation of CONV_FORMULATIONS) {
    const bug = condConvConvBug(layer.spec, batch, height, width, formulation);
    if (!await right(raw, formulation, layer, truth)) {
      wrong.push(formulation);
      assert.ok(bug, `${formulation} wrong without a predicted bug: ${JSON.stringify(c)}`);
    }
    assert.ok(
      await right(ortWebgpuAdapter, formulation, layer, truth),
      `${formulation} wrong with the workarounds on: ${JSON.stringify(c)}`,
    );
  }
  return wrong;
}

/** A layer of the fuzz's shape. */
function layerCase(seed: number, spec: FuzzCase["spec"], batch: number, size: number): FuzzCase {
  return {
    id: `formulation-bug-${seed}`,
    about: "formulation bug test",
    seed,
    input: { batch, height: size, width: size },
    spec,
    data: { input: "uniform", inputScale: 1, inputOffset: 0, routingBiasShift: 0 },
  };
}

Deno.test({
  name: "ort-webgpu: expert-sum's Conv node meets causes the grouped graph does not; the " +
    "predicate and the workarounds follow the formulation",
  ignore: !enabled,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // groups 2, 1 output per group, 5 experts: 5 outputs per group, 10 in all (vector 2)
    const straddles = layerCase(
      1,
      { inChannels: 2, outChannels: 2, kernelSize: 3, padding: 1, groups: 2, numExperts: 5 },
      1,
      5,
    );
    // 6 input channels, 1 output, 4 experts: an ungrouped Conv with 4 outputs, C % 3 == 0
    const vec3 = layerCase(
      2,
      { inChannels: 6, outChannels: 1, kernelSize: 3, padding: 1, numExperts: 4 },
      1,
      5,
    );
    for (const c of [straddles, vec3]) {
      const spec = fuzzLayer(c).spec;
      assert.equal(condConvConvBug(spec, 1, 5, 5, "grouped"), undefined);
      assert.ok(condConvConvBug(spec, 1, 5, 5, "expert-sum"));
      assert.deepEqual(await check(c), ["expert-sum"], JSON.stringify(c));
    }
  },
});

Deno.test({
  name: "ort-webgpu: random layers, every Conv formulation wrong only where predicted",
  ignore: !enabled,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const runs = Number(Deno.env.get("CONDCONV_FORMULATION_FUZZ_RUNS") ?? "25");
    await fc.assert(
      fc.asyncProperty(fuzzCase(DEFAULT_FUZZ_BOUNDS), async (c) => {
        await check(c);
      }),
      { numRuns: runs, seed: 18 },
    );
  },
});

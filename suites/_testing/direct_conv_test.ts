import assert from "node:assert/strict";
import { CondConvSpec, type Tensor } from "../../condconv/spec.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../../condconv/tolerance.ts";
import { directCondConv, directConv, padSource } from "./direct_conv.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "../_shared/fixtures.ts";

// the defaults (stride 1, dilation 1, zeros, groups 1) come from the schema
const ONE_BY_THREE: CondConvSpec = CondConvSpec.parse({
  inChannels: 1,
  outChannels: 1,
  kernelSize: [1, 3],
  padding: [0, 1],
  bias: "none",
  numExperts: 1,
  routing: { kind: "supplied" },
  dropoutRate: 0,
});

Deno.test("directConv agrees with hand-computed values in every padding mode", () => {
  // one channel [1 2 3], kernel [1 10 100], one pixel of padding each side in width
  const input: Tensor = { shape: [1, 1, 1, 3], data: new Float32Array([1, 2, 3]) };
  const kernel = new Float32Array([1, 10, 100]);
  const expected: Record<CondConvSpec["paddingMode"], number[]> = {
    // padded rows: zeros 0 1 2 3 0, replicate 1 1 2 3 3, reflect 2 1 2 3 2, circular 3 1 2 3 1
    zeros: [0 + 10 + 200, 1 + 20 + 300, 2 + 30 + 0],
    replicate: [1 + 10 + 200, 1 + 20 + 300, 2 + 30 + 300],
    reflect: [2 + 10 + 200, 1 + 20 + 300, 2 + 30 + 200],
    circular: [3 + 10 + 200, 1 + 20 + 300, 2 + 30 + 100],
  };
  for (const [mode, values] of Object.entries(expected)) {
    const spec = { ...ONE_BY_THREE, paddingMode: mode as CondConvSpec["paddingMode"] };
    assert.deepEqual(Array.from(directConv(spec, input, kernel, undefined).data), values, mode);
  }
  // reflect further than one period: ... 0 1 2 1 0 1 2 ...
  assert.deepEqual(
    [-4, -3, -2, -1, 3, 4, 5, 6].map((p) => padSource(p, 3, "reflect")),
    [0, 1, 2, 1, 1, 0, 1, 2],
  );
});

Deno.test("directConv multiplies the zero border in: a NaN weight makes the whole plane NaN", () => {
  const input: Tensor = { shape: [1, 1, 1, 3], data: new Float32Array([1, 2, 3]) };
  const out = directConv(ONE_BY_THREE, input, [NaN, 0, 0], undefined);
  assert.deepEqual(Array.from(out.data), [NaN, NaN, NaN]);
});

Deno.test("directCondConv reproduces the PyTorch goldens", async () => {
  const set = await loadFixtureSet();
  let checked = 0;
  for (const fixture of set.fixtures) {
    // the EfficientNet layers are large for a float64 loop; every option is in the others
    if (fixture.goldenCase.tags.includes("effnet-b0")) continue;
    const { input, weights, routingWeights } = await loadCaseTensors(fixture);
    const out = directCondConv(fixture.goldenCase.spec, weights, input, routingWeights);
    assert.deepEqual(out.shape, fixture.entry.outputShape, fixture.entry.id);
    const truth = await loadGolden(set, fixture);
    // float64 against float64: far inside even the exact class
    const c = compareWithTruth(Float32Array.from(out.data), truth, TOLERANCE_CLASSES.exact);
    assert.ok(c.pass, `${fixture.entry.id}: max abs err ${c.maxAbsErr}`);
    checked++;
  }
  assert.ok(checked >= 50, `only ${checked} cases checked`);
});

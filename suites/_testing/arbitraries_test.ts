import assert from "node:assert/strict";
import fc from "fast-check";
import { GoldenCase } from "../../condconv/cases.ts";
import { CondConvSpec } from "../../condconv/spec.ts";
import { geometryIssues, pair } from "../../condconv/geometry.ts";
import { DEFAULT_FUZZ_BOUNDS, fuzzCase, fuzzLayer } from "./arbitraries.ts";

const SAMPLE = fc.sample(fuzzCase(), { numRuns: 3000, seed: 20240601 });

Deno.test("fuzz cases are valid case-list entries within the bounds", () => {
  for (const c of SAMPLE) {
    const parsed = GoldenCase.parse(c);
    const { batch, height, width } = c.input;
    assert.deepEqual(
      geometryIssues(parsed.spec, [batch, parsed.spec.inChannels, height, width]),
      [],
    );
    assert.ok(batch >= 1 && batch <= DEFAULT_FUZZ_BOUNDS.maxBatch);
    assert.ok(height >= 1 && height <= 9 && width >= 1 && width <= 9);
    assert.ok(parsed.spec.numExperts >= 1 && parsed.spec.numExperts <= 6);
    // every field written out, so the printed counterexample is the whole spec
    assert.deepEqual(Object.keys(c.spec).sort(), Object.keys(CondConvSpec.parse(c.spec)).sort());
  }
});

Deno.test("fuzz cases cover every option of the spec", () => {
  const seen = new Set<string>();
  for (const c of SAMPLE) {
    const s = CondConvSpec.parse(c.spec);
    const [kh, kw] = pair(s.kernelSize);
    seen.add(`kernel ${typeof s.kernelSize === "number" ? "n" : "pair"}`);
    if (kh !== kw) seen.add("kernel non-square");
    seen.add(`stride ${typeof s.stride === "number" ? "n" : "pair"}`);
    if (pair(s.stride).some((v) => v > 1)) seen.add("stride > 1");
    seen.add(`dilation ${typeof s.dilation === "number" ? "n" : "pair"}`);
    if (pair(s.dilation).some((v) => v > 1)) seen.add("dilation > 1");
    seen.add(
      `padding ${
        typeof s.padding === "number" ? "n" : Array.isArray(s.padding) ? "pair" : s.padding
      }`,
    );
    seen.add(`mode ${s.paddingMode}`);
    if (s.paddingMode !== "zeros" && s.padding !== 0 && s.padding !== "valid") {
      seen.add(`mode ${s.paddingMode} with padding`);
    }
    if (s.groups > 1 && s.groups < s.inChannels) seen.add("groups");
    if (s.groups === s.inChannels && s.inChannels > 1) seen.add("depthwise");
    if (s.groups === s.inChannels && s.outChannels > s.inChannels) seen.add("depthwise multiplier");
    if (s.outChannels / s.groups > 4) seen.add("more than 4 output channels per group");
    seen.add(`bias ${s.bias}`);
    seen.add(`routing ${s.routing.kind}`);
    seen.add(`experts ${s.numExperts}`);
    seen.add(`batch ${c.input.batch}`);
    if (c.input.height === 1 || c.input.width === 1) seen.add("size 1");
    if (c.input.height === 9 || c.input.width === 9) seen.add("size 9");
  }
  const expected = [
    "kernel n",
    "kernel pair",
    "kernel non-square",
    "stride n",
    "stride pair",
    "stride > 1",
    "dilation n",
    "dilation pair",
    "dilation > 1",
    "padding n",
    "padding pair",
    "padding valid",
    "padding same",
    ...["zeros", "reflect", "replicate", "circular"].map((m) => `mode ${m}`),
    ...["reflect", "replicate", "circular"].map((m) => `mode ${m} with padding`),
    "groups",
    "depthwise",
    "depthwise multiplier",
    "more than 4 output channels per group",
    "bias none",
    "bias shared",
    "bias perExpert",
    "routing sigmoid",
    "routing softmax",
    "routing supplied",
    ...[1, 2, 3, 4, 5, 6].map((e) => `experts ${e}`),
    "batch 1",
    "batch 2",
    "batch 3",
    "size 1",
    "size 9",
  ];
  assert.deepEqual(expected.filter((e) => !seen.has(e)), [], "options never drawn");
});

Deno.test("fuzzLayer seeds tensors of the right sizes, supplied routing in [0, 1)", () => {
  for (const c of SAMPLE.slice(0, 200)) {
    const layer = fuzzLayer(c);
    const [b, ch, h, w] = layer.input.shape;
    assert.equal(layer.input.data.length, b * ch * h * w);
    if (layer.spec.routing.kind === "supplied") {
      assert.equal(layer.routingWeights!.length, b * layer.spec.numExperts);
      assert.ok(layer.routingWeights!.every((r) => r >= 0 && r < 1));
    } else {
      assert.equal(layer.routingWeights, undefined);
    }
  }
});

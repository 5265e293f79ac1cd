import assert from "node:assert/strict";
import { CondConvSpec, type CondConvSpecInput } from "./spec.ts";
import {
  checkRunInputs,
  checkWeights,
  flops,
  geometryIssues,
  memoryEstimate,
  outputShape,
  resolveGeometry,
  weightShapes,
} from "./geometry.ts";

const spec = (input: Partial<CondConvSpecInput> = {}) =>
  CondConvSpec.parse({ inChannels: 4, outChannels: 8, kernelSize: 3, ...input });

Deno.test("resolveGeometry follows TensorFlow's 'same' rule, asymmetric when the total is odd", async (t) => {
  const table: [string, Partial<CondConvSpecInput>, number, number[]][] = [
    ["5x5 stride 2 on 14", { kernelSize: 5, stride: 2 }, 14, [1, 2, 7]],
    ["3x3 stride 1 on 8", { kernelSize: 3 }, 8, [1, 1, 8]],
    ["4x4 stride 1 on 8", { kernelSize: 4 }, 8, [1, 2, 8]],
    ["3x3 stride 2 on 9", { kernelSize: 3, stride: 2 }, 9, [1, 1, 5]],
    ["1x1 stride 2 on 7", { kernelSize: 1, stride: 2 }, 7, [0, 0, 4]],
    ["3x3 dilation 2 on 7", { kernelSize: 3, dilation: 2 }, 7, [2, 2, 7]],
    ["3x3 stride 3 on 10", { kernelSize: 3, stride: 3 }, 10, [1, 1, 4]],
  ];
  for (const [name, input, size, [before, after, out]] of table) {
    await t.step(name, () => {
      const g = resolveGeometry(spec({ ...input, padding: "same" }), [1, 4, size, size]);
      assert.deepEqual([g.padTop, g.padBottom, g.padLeft, g.padRight], [
        before,
        after,
        before,
        after,
      ]);
      assert.equal(g.outHeight, out);
    });
  }
});

Deno.test("outputShape handles numeric, pair and valid padding, stride and dilation", () => {
  assert.deepEqual(outputShape(spec({ padding: 1 }), [2, 4, 8, 8]), [2, 8, 8, 8]);
  assert.deepEqual(outputShape(spec({ padding: "valid" }), [2, 4, 8, 8]), [2, 8, 6, 6]);
  assert.deepEqual(outputShape(spec({ padding: [0, 2] }), [1, 4, 6, 11]), [1, 8, 4, 13]);
  assert.deepEqual(outputShape(spec({ stride: [1, 2], padding: 1 }), [1, 4, 8, 8]), [1, 8, 8, 4]);
  assert.deepEqual(outputShape(spec({ dilation: 3, padding: 3 }), [1, 4, 10, 10]), [1, 8, 10, 10]);
  assert.deepEqual(outputShape(spec({ kernelSize: 2, stride: 3 }), [1, 4, 11, 11]), [1, 8, 4, 4]);
});

Deno.test("geometry errors name the field at fault", async (t) => {
  const table: [string, Partial<CondConvSpecInput>, number[], string, RegExp][] = [
    [
      "kernel larger than padded input",
      { kernelSize: 5 },
      [1, 4, 3, 3],
      "kernelSize",
      /kernel spans 5/,
    ],
    [
      "channels mismatch",
      {},
      [1, 3, 8, 8],
      "input.channels",
      /3 channels but spec.inChannels is 4/,
    ],
    ["empty batch", {}, [0, 4, 8, 8], "input.batch", /at least 1/],
    ["not 4-D", {}, [4, 8, 8], "input.shape", /batch, channels, height, width/],
    ["zero height", {}, [1, 4, 0, 8], "input.height", /at least 1/],
    [
      "reflect pad equal to input",
      { padding: 3, paddingMode: "reflect" },
      [1, 4, 3, 3],
      "padding",
      /smaller than the input/,
    ],
    [
      "circular pad beyond input",
      { padding: 4, paddingMode: "circular" },
      [1, 4, 3, 3],
      "padding",
      /cannot exceed/,
    ],
  ];
  for (const [name, input, shape, path, message] of table) {
    await t.step(name, () => {
      const issues = geometryIssues(spec(input), shape);
      const issue = issues.find((i) => i.path.join(".") === path);
      assert.ok(issue, `expected an issue at ${path}, got ${JSON.stringify(issues)}`);
      assert.match(issue.message, message);
      assert.throws(() => outputShape(spec(input), shape), RangeError);
    });
  }
  assert.deepEqual(
    geometryIssues(spec({ padding: 4, paddingMode: "replicate" }), [1, 4, 3, 3]),
    [],
  );
});

Deno.test("flops counts multiply-adds as two operations", () => {
  // 1x1, 2->3 channels, 2 experts, 2x2 input, batch 1, shared bias, sigmoid routing
  const s = CondConvSpec.parse({ inChannels: 2, outChannels: 3, kernelSize: 1, numExperts: 2 });
  const f = flops(s, [1, 2, 2, 2]);
  assert.equal(f.staticConv, 2 * 12 * 2 + 12); // 12 outputs x 2 MACs, plus 12 bias adds
  assert.equal(f.mixing, 2 * 2 * 6); // 2 experts x 6 kernel weights
  assert.equal(f.routing, 8 + 2 * 2 * 2 + 4 * 2); // pool + linear + activation
  assert.equal(f.total, f.routing + f.mixing + f.conv);
  const supplied = flops(CondConvSpec.parse({ ...s, routing: { kind: "supplied" } }), [1, 2, 2, 2]);
  assert.equal(supplied.routing, 0);
});

Deno.test("checkWeights names the tensor that is missing, extra or the wrong size", () => {
  const s = spec({ bias: "perExpert" });
  const shapes = weightShapes(s);
  assert.deepEqual(shapes, {
    expertKernels: [3, 8, 4, 3, 3],
    bias: [3, 8],
    routingWeight: [3, 4],
    routingBias: [3],
  });
  const good = {
    expertKernels: new Float32Array(3 * 8 * 4 * 9),
    bias: new Float32Array(24),
    routingWeight: new Float32Array(12),
    routingBias: new Float32Array(3),
  };
  checkWeights(s, good);
  assert.throws(
    () => checkWeights(s, { ...good, bias: new Float32Array(8) }),
    /weights."bias": expected 24 floats for \[3,8\], found 8/,
  );
  assert.throws(
    () => checkWeights(s, { ...good, routingBias: undefined }),
    /"routingBias" must be/,
  );
  assert.throws(
    () => checkWeights(spec({ bias: "none" }), good),
    /Cannot use weights."bias": the spec \(bias "none"/,
  );
});

Deno.test("checkRunInputs demands routing weights exactly when routing is supplied", () => {
  const input = { shape: [2, 4, 8, 8], data: new Float32Array(2 * 4 * 64) };
  const supplied = spec({ routing: { kind: "supplied" } });
  assert.throws(() => checkRunInputs(supplied, input), /routingWeights .* must be passed/);
  assert.throws(
    () => checkRunInputs(supplied, input, new Float32Array(3)),
    /routingWeights has 3 floats, expected \[2, 3\]/,
  );
  checkRunInputs(supplied, input, new Float32Array(6));
  assert.throws(() => checkRunInputs(spec(), input, new Float32Array(6)), /must not be passed/);
  assert.throws(
    () => checkRunInputs(spec(), { shape: [2, 4, 8, 8], data: new Float32Array(5) }),
    /input.data has 5 floats/,
  );
});

Deno.test("memoryEstimate counts input, output, one mixed kernel per example and the weights", () => {
  // 4 -> 8 channels, 3x3, padding 1, 3 experts, shared bias, sigmoid routing, on 2x4x8x8
  const m = memoryEstimate(spec({ padding: 1 }), [2, 4, 8, 8]);
  assert.equal(m.input, 4 * 2 * 4 * 64);
  assert.equal(m.output, 4 * 2 * 8 * 64);
  assert.equal(m.mixedKernels, 4 * 2 * 8 * 4 * 9);
  assert.equal(m.weights, 4 * (3 * 8 * 4 * 9 + 8 + 3 * 4 + 3));
  assert.equal(m.total, m.input + m.output + m.mixedKernels + m.weights);
  // a billion examples: the figure a task refuses with, before allocating anything
  assert.ok(memoryEstimate(spec({ padding: 1 }), [1e9, 4, 8, 8]).total > 1e12);
});

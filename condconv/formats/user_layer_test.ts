import assert from "node:assert/strict";
import { encodeSafetensors, type TensorToWrite } from "./safetensors.ts";
import { parseUserLayer } from "./user_layer.ts";

const SOURCE = "layers/my_layer.safetensors";
const prefix = `Cannot load weights "${SOURCE}": `;

function f32(shape: number[], fill = 0.5): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: "F32", shape, data: new Float32Array(n).fill(fill) };
}
function f64(shape: number[], fill = 0.5): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: "F64", shape, data: new Float64Array(n).fill(fill) };
}

/** A timm-layout layer with supplied routing: 2 -> 2 channels, 1x1, 2 experts. */
const SPEC = {
  inChannels: 2,
  outChannels: 2,
  kernelSize: 1,
  numExperts: 2,
  bias: "perExpert",
  routing: { kind: "supplied" },
};
const LAYER = { weight: f32([2, 4]), bias: f32([2, 2]) };
const CHECK = {
  "check.input": f32([3, 2, 4, 4]),
  "check.routing": f32([3, 2]),
  "check.output": f64([3, 2, 4, 4]),
};

function file(
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> = { spec: JSON.stringify(SPEC) },
): Uint8Array {
  return encodeSafetensors(tensors, metadata);
}

Deno.test("parseUserLayer reads spec, layout, check tensors and the PyTorch float32 error", () => {
  const layer = parseUserLayer(
    file({ ...LAYER, ...CHECK }, { spec: JSON.stringify(SPEC), torchFloat32MaxAbsErr: "2.5e-7" }),
    SOURCE,
  );
  assert.equal(layer.id, "my_layer");
  assert.equal(layer.layout, "timm");
  assert.equal(layer.layoutFrom, "tensor names");
  assert.equal(layer.spec.stride, 1); // defaults filled in
  assert.deepEqual(layer.check!.input.shape, [3, 2, 4, 4]);
  assert.equal(layer.check!.routingWeights!.length, 6);
  assert.deepEqual(layer.check!.outputShape, [3, 2, 4, 4]);
  assert.equal(layer.check!.outputDtype, "F64");
  assert.equal(layer.check!.output[0], 0.5);
  assert.equal(layer.check!.torchFloat32MaxAbsErr, 2.5e-7);
  assert.equal(layer.check!.torchErrorRecorded, true);

  const named = parseUserLayer(
    file(LAYER, { spec: JSON.stringify(SPEC), layout: "timm", name: "blocks.1.conv_pw" }),
    SOURCE,
  );
  assert.equal(named.id, "blocks.1.conv_pw");
  assert.equal(named.layoutFrom, "metadata");
  assert.equal(named.check, undefined);
});

Deno.test("parseUserLayer without a recorded float32 error uses 0, the class floor", () => {
  const layer = parseUserLayer(file({ ...LAYER, ...CHECK }), SOURCE);
  assert.equal(layer.check!.torchFloat32MaxAbsErr, 0);
  assert.equal(layer.check!.torchErrorRecorded, false);
});

Deno.test("parseUserLayer: every bad spec, layout or check tensor is named", async (t) => {
  const spec = JSON.stringify(SPEC);
  const { "check.routing": _routing, ...checkWithoutRouting } = CHECK;
  const cases: [string, Uint8Array, string | RegExp][] = [
    [
      "missing spec metadata",
      file(LAYER, {}),
      `${prefix}__metadata__ has no "spec": add the layer's CondConvSpec as JSON ` +
      "(inChannels, outChannels, kernelSize, stride, padding, dilation, paddingMode, groups, " +
      "bias, numExperts, routing), as scripts/export_weights.py does",
    ],
    [
      "spec metadata that is not JSON",
      file(LAYER, { spec: "{inChannels: 2" }),
      /^Cannot load weights "layers\/my_layer\.safetensors": __metadata__ "spec" is not valid JSON: /,
    ],
    [
      "a spec that CondConvSpec rejects",
      file(LAYER, { spec: JSON.stringify({ ...SPEC, groups: 3, colour: "red" }) }),
      /^Cannot load weights "layers\/my_layer\.safetensors": __metadata__ "spec" is not a valid CondConvSpec:\n.*colour/s,
    ],
    [
      "an unknown layout",
      file(LAYER, { spec, layout: "keras" }),
      `${prefix}__metadata__ "layout" is "keras", expected one of "reference", "timm", ` +
      `"tensorflow"`,
    ],
    [
      "a stated layout the tensor names contradict",
      file(LAYER, { spec, layout: "tensorflow" }),
      `${prefix}tensor "weight" is not part of layout "tensorflow" (its tensors: ` +
      `"condconv_kernel", "depthwise_condconv_kernel", "condconv_bias", "routing_fn/kernel", ` +
      `"routing_fn/bias")`,
    ],
    [
      "a check input without its output",
      file({ ...LAYER, "check.input": CHECK["check.input"] }),
      `${prefix}tensor "check.input" needs "check.output", which is missing`,
    ],
    [
      "an unknown check tensor",
      file({ ...LAYER, ...CHECK, "check.expected": f64([1]) }),
      `${prefix}tensor "check.expected" is not a check tensor (they are "check.input", ` +
      `"check.routing", "check.output")`,
    ],
    [
      "a check input with the wrong channels",
      file({ ...LAYER, ...CHECK, "check.input": f32([3, 5, 4, 4]) }),
      `${prefix}tensor "check.input" has shape [3, 5, 4, 4], which the spec cannot take: ` +
      "input.channels: input has 5 channels but spec.inChannels is 2",
    ],
    [
      "a check output of the wrong shape",
      file({ ...LAYER, ...CHECK, "check.output": f64([3, 2, 2, 2]) }),
      `${prefix}tensor "check.output" has shape [3, 2, 2, 2] but the spec on check.input ` +
      "[3, 2, 4, 4] gives [3, 2, 4, 4]",
    ],
    [
      "supplied routing without check.routing",
      file({ ...LAYER, ...checkWithoutRouting }),
      `${prefix}tensor "check.routing" is missing: spec routing "supplied" needs the routing ` +
      "weights the check output was computed with, shape [3, 2]",
    ],
    [
      "check.routing of the wrong shape",
      file({ ...LAYER, ...CHECK, "check.routing": f32([2, 3]) }),
      `${prefix}tensor "check.routing" has shape [2, 3] but check.input batch 3 and spec ` +
      "numExperts 2 need [3, 2]",
    ],
    [
      "a check input float32 cannot hold",
      file({ ...LAYER, ...CHECK, "check.input": f64([3, 2, 4, 4], 0.1) }),
      `${prefix}tensor "check.input" holds float64 values that float32 cannot represent ` +
      "exactly: the adapters run on float32, so store it as F32 and compute check.output " +
      "from those float32 values",
    ],
    [
      "a float32 error that is not a number",
      file({ ...LAYER, ...CHECK }, { spec, torchFloat32MaxAbsErr: "small" }),
      `${prefix}__metadata__ "torchFloat32MaxAbsErr" must be a finite non-negative number, ` +
      `got "small"`,
    ],
    [
      "a claimed float32 error of 10 on outputs of 1.5 (truth off by 1, error claimed to cover it)",
      file({ ...LAYER, ...CHECK, "check.output": f64([3, 2, 4, 4], 1.5) }, {
        spec,
        torchFloat32MaxAbsErr: "10",
      }),
      `${prefix}__metadata__ "torchFloat32MaxAbsErr" cannot be trusted: the claimed PyTorch ` +
      "float32 error 10 exceeds 0.0001 of the largest output magnitude 1.5 (bound 0.00015): " +
      "float32 round-off is far smaller, and 8 times the claim would become the tolerance; " +
      "export the file again with scripts/export_weights.py",
    ],
  ];
  for (const [what, bytes, message] of cases) {
    await t.step(what, () => {
      assert.throws(() => parseUserLayer(bytes, SOURCE), { name: "TypeError", message });
    });
  }
  await t.step("a truncated file", () => {
    const bytes = file({ ...LAYER, ...CHECK });
    assert.throws(() => parseUserLayer(bytes.subarray(0, bytes.length - 8), SOURCE), {
      name: "RangeError",
      message:
        /^Cannot load weights "layers\/my_layer\.safetensors": tensor "check\.output" has data_offsets \[\d+, \d+\] beyond the \d+ data bytes of the file \(truncated file, or a header that lies\)$/,
    });
  });
});

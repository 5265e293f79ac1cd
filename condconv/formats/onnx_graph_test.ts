import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import { GoldenCase } from "../cases.ts";
import type { CondConvSpecInput } from "../spec.ts";
import { caseTensors } from "../seeded.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../tolerance.ts";
import {
  BATCH_DIM,
  buildCondConvOnnx,
  buildStaticConvOnnx,
  chooseFormulation,
  type ConvFormulation,
  formulationProblem,
  INPUT_NAME,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
} from "./onnx_graph.ts";
import { referenceAdapter } from "../../impls/reference.ts";

const { onnx } = onnxProto;

/** Seeded tensors for `spec` on `[batch, C, height, width]`, as the golden cases make them. */
function seededCase(
  seed: number,
  spec: CondConvSpecInput,
  [batch, height, width]: [number, number, number],
) {
  const goldenCase = GoldenCase.parse({
    id: `onnx-graph-test-${seed}`,
    about: "onnx graph test",
    seed,
    input: { batch, height, width },
    spec,
  });
  return { spec: goldenCase.spec, ...caseTensors(goldenCase) };
}

function decode(bytes: Uint8Array) {
  return onnx.ModelProto.decode(bytes);
}

function opTypes(bytes: Uint8Array): string[] {
  return decode(bytes).graph!.node!.map((n) => n.opType!);
}

function attribute(bytes: Uint8Array, opType: string, name: string) {
  const node = decode(bytes).graph!.node!.find((n) => n.opType === opType);
  assert.ok(node, `no ${opType} node`);
  return node.attribute!.find((a) => a.name === name);
}

const small = { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 } as const;

Deno.test("onnx graph: opset, IR version, names and a symbolic batch", () => {
  const c = seededCase(1, small, [2, 6, 6]);
  const model = buildCondConvOnnx(c.spec, c.weights, { height: 6, width: 6, batch: "dynamic" });
  assert.equal(model.formulation, "batched-matmul");
  assert.deepEqual(model.inputShape, [BATCH_DIM, 4, 6, 6]);
  assert.deepEqual(model.outputShape, [BATCH_DIM, 8, 6, 6]);
  assert.deepEqual(model.inputNames, [INPUT_NAME]);
  const proto = decode(model.bytes);
  assert.equal(Number(proto.irVersion), ONNX_IR_VERSION);
  assert.deepEqual(proto.opsetImport!.map((o) => [o.domain, Number(o.version)]), [[
    "",
    ONNX_OPSET,
  ]]);
  assert.equal(proto.graph!.input![0].type!.tensorType!.shape!.dim![0].dimParam, BATCH_DIM);
  assert.equal(proto.graph!.output![0].name, OUTPUT_NAME);
  const spec = proto.metadataProps!.find((p) => p.key === "condconv.spec");
  assert.deepEqual(JSON.parse(spec!.value!), c.spec);
});

Deno.test("onnx graph: routing is pooled, Gemm'd and activated, or a second input", () => {
  const sigmoid = seededCase(2, small, [1, 4, 4]);
  const ops = opTypes(
    buildCondConvOnnx(sigmoid.spec, sigmoid.weights, {
      height: 4,
      width: 4,
      batch: 1,
    }).bytes,
  );
  assert.deepEqual(ops.slice(0, 4), ["GlobalAveragePool", "Flatten", "Gemm", "Sigmoid"]);

  const softmax = seededCase(3, { ...small, routing: { kind: "softmax", temperature: 4 } }, [
    1,
    4,
    4,
  ]);
  const bytes = buildCondConvOnnx(softmax.spec, softmax.weights, {
    height: 4,
    width: 4,
    batch: 1,
  }).bytes;
  assert.deepEqual(opTypes(bytes).slice(2, 5), ["Gemm", "Div", "Softmax"]);
  assert.equal(Number(attribute(bytes, "Softmax", "axis")!.i), 1);
  assert.equal(Number(attribute(bytes, "Gemm", "transB")!.i), 1);

  const supplied = seededCase(4, { ...small, routing: { kind: "supplied" } }, [2, 4, 4]);
  const model = buildCondConvOnnx(supplied.spec, supplied.weights, {
    height: 4,
    width: 4,
    batch: 2,
  });
  assert.deepEqual(model.inputNames, [INPUT_NAME, ROUTING_INPUT_NAME]);
  assert.ok(!opTypes(model.bytes).includes("GlobalAveragePool"));
});

Deno.test("onnx graph: padding modes become Conv pads, Pad modes or Slice + Concat", () => {
  const build = (spec: CondConvSpecInput, formulation: ConvFormulation = "grouped") => {
    const c = seededCase(5, spec, [1, 8, 8]);
    return buildCondConvOnnx(c.spec, c.weights, { height: 8, width: 8, batch: 1, formulation })
      .bytes;
  };
  // zeros in the Conv itself, TF "same" as its asymmetric pads [top, left, bottom, right]
  const same = build({ ...small, kernelSize: 4, padding: "same" });
  assert.ok(!opTypes(same).includes("Pad"));
  assert.deepEqual(attribute(same, "Conv", "pads")!.ints!.map(Number), [1, 1, 2, 2]);
  // zeros as a constant Pad in the im2col formulation
  const constant = build({ ...small, kernelSize: 4, padding: "same" }, "batched-matmul");
  assert.equal(new TextDecoder().decode(attribute(constant, "Pad", "mode")!.s!), "constant");
  for (const [mode, onnxMode] of [["reflect", "reflect"], ["replicate", "edge"]] as const) {
    const bytes = build({ ...small, paddingMode: mode });
    assert.equal(new TextDecoder().decode(attribute(bytes, "Pad", "mode")!.s!), onnxMode);
    assert.deepEqual(attribute(bytes, "Conv", "pads")!.ints!.map(Number), [0, 0, 0, 0]);
  }
  const circular = opTypes(build({ ...small, paddingMode: "circular" }));
  assert.ok(!circular.includes("Pad"));
  assert.equal(circular.filter((op) => op === "Slice").length, 4);
  assert.equal(circular.filter((op) => op === "Concat").length, 2);
});

Deno.test("onnx graph: chooseFormulation takes MatMul for 1x1, grouped Conv otherwise", () => {
  const c1 = seededCase(9, { ...small, kernelSize: 1, padding: 0 }, [2, 4, 4]);
  assert.equal(chooseFormulation(c1.spec), "batched-matmul");
  const model = buildCondConvOnnx(c1.spec, c1.weights, { height: 4, width: 4, batch: 2 });
  assert.equal(model.formulation, "batched-matmul");
  assert.ok(!opTypes(model.bytes).includes("Conv"));
  assert.ok(!opTypes(model.bytes).includes("Slice"));
  assert.equal(chooseFormulation(seededCase(10, small, [1, 4, 4]).spec), "grouped");
});

Deno.test("onnx graph: grouped Conv folds the batch into the group", () => {
  const c = seededCase(6, { ...small, groups: 2 }, [3, 5, 5]);
  const bytes = buildCondConvOnnx(c.spec, c.weights, { height: 5, width: 5, batch: 3 }).bytes;
  assert.equal(Number(attribute(bytes, "Conv", "group")!.i), 6);
});

Deno.test("onnx graph: bad options and weights are refused with the reason", () => {
  const c = seededCase(7, small, [1, 4, 4]);
  assert.throws(
    () =>
      buildCondConvOnnx(c.spec, c.weights, {
        height: 4,
        width: 4,
        batch: "dynamic",
        formulation: "grouped",
      }),
    { name: "TypeError", message: /static attribute/ },
  );
  assert.throws(
    () => buildCondConvOnnx(c.spec, c.weights, { height: 4, width: 4, batch: 0 }),
    { name: "RangeError", message: /batch must be a positive integer or "dynamic", got "0"/ },
  );
  const unpadded = seededCase(8, { ...small, padding: 0 }, [1, 4, 4]);
  assert.throws(
    () => buildCondConvOnnx(unpadded.spec, unpadded.weights, { height: 2, width: 2, batch: 1 }),
    { name: "RangeError", message: /kernelSize/ },
  );
  assert.throws(
    () =>
      buildCondConvOnnx(c.spec, { ...c.weights, expertKernels: new Float32Array(3) }, {
        height: 4,
        width: 4,
        batch: 1,
      }),
    { name: "TypeError", message: /expertKernels/ },
  );
});

const ort = await import("onnxruntime-web/wasm");
ort.env.wasm.numThreads = 1;

async function runModel(
  bytes: Uint8Array,
  input: { shape: readonly number[]; data: Float32Array },
  routing?: Float32Array,
  numExperts = 0,
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  try {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
      [INPUT_NAME]: new ort.Tensor("float32", input.data, [...input.shape]),
    };
    if (routing) {
      feeds[ROUTING_INPUT_NAME] = new ort.Tensor("float32", routing, [input.shape[0], numExperts]);
    }
    return (await session.run(feeds))[OUTPUT_NAME].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** Asserts `output` is within the wasm class tolerance of the reference's `truth`. */
function assertWithinWasmTolerance(output: Float32Array, truth: Float32Array) {
  const comparison = compareWithTruth(output, Float64Array.from(truth), TOLERANCE_CLASSES.wasm);
  assert.ok(comparison.pass, `${comparison.worstRatio}x the tolerance`);
}

const specs: [string, CondConvSpecInput, [number, number, number]][] = [
  ["kitchen sink", {
    inChannels: 4,
    outChannels: 8,
    kernelSize: [3, 5],
    padding: [2, 4],
    groups: 2,
    stride: 2,
    dilation: 2,
    paddingMode: "reflect",
    bias: "perExpert",
    routing: { kind: "softmax", temperature: 2 },
    numExperts: 5,
  }, [3, 9, 12]],
  ["circular TF same stride 2", {
    inChannels: 3,
    outChannels: 6,
    kernelSize: 5,
    padding: "same",
    stride: 2,
    paddingMode: "circular",
  }, [2, 10, 7]],
  ["depthwise supplied routing", {
    inChannels: 6,
    outChannels: 6,
    kernelSize: 3,
    padding: 1,
    groups: 6,
    routing: { kind: "supplied" },
  }, [2, 5, 5]],
  ["1x1 stride 2 replicate", {
    inChannels: 5,
    outChannels: 3,
    kernelSize: 1,
    stride: 2,
    padding: 1,
    paddingMode: "replicate",
  }, [2, 5, 6]],
];

for (const [name, spec, size] of specs) {
  for (const formulation of ["grouped", "batched-matmul", "expert-sum"] as const) {
    Deno.test(`onnx graph on onnxruntime-web wasm agrees with reference: ${name}, ${formulation}`, async () => {
      const c = seededCase(size[0] * 100 + size[1], spec, size);
      const reference = await referenceAdapter.prepare(c.spec, c.weights);
      const truth = await reference.run(c.input, c.routingWeights);
      const model = buildCondConvOnnx(c.spec, c.weights, {
        height: size[1],
        width: size[2],
        batch: formulation === "grouped" ? size[0] : "dynamic",
        formulation,
      });
      const output = await runModel(model.bytes, c.input, c.routingWeights, c.spec.numExperts);
      assertWithinWasmTolerance(output, truth.data);
    });
  }
}

Deno.test("onnx graph: formulationProblem refuses what a formulation cannot build", () => {
  const dw = seededCase(44, { ...small, inChannels: 4, outChannels: 8, groups: 4 }, [2, 5, 5]);
  const plain = seededCase(45, small, [2, 5, 5]);
  assert.equal(formulationProblem(dw.spec, "depthwise-folded", 2), undefined);
  assert.match(formulationProblem(plain.spec, "depthwise-folded")!, /groups == inChannels/);
  assert.match(formulationProblem(plain.spec, "grouped", "dynamic")!, /dynamic batch/);
  assert.match(formulationProblem(plain.spec, "per-example", 2)!, /batch must be 1/);
  assert.match(formulationProblem(plain.spec, "im2col-matmul")!, /unknown formulation/);
  assert.equal(formulationProblem(plain.spec, "expert-sum", "dynamic"), undefined);
  assert.throws(
    () =>
      buildCondConvOnnx(plain.spec, plain.weights, {
        height: 5,
        width: 5,
        batch: 2,
        formulation: "per-example",
      }),
    (e) => e instanceof TypeError && /batch must be 1/.test(e.message),
  );
  // depthwise-folded is the grouped graph of a depthwise layer, byte for byte
  const build = (formulation: ConvFormulation) =>
    buildCondConvOnnx(dw.spec, dw.weights, { height: 5, width: 5, batch: 2, formulation });
  const folded = decode(build("depthwise-folded").bytes).graph!;
  const grouped = decode(build("grouped").bytes).graph!;
  assert.deepEqual(folded.node, grouped.node);
  assert.equal(Number(attribute(build("grouped").bytes, "Conv", "group")!.i), 8);
});

for (const mixing of ["matmul", "mul-reducesum"] as const) {
  Deno.test(`onnx graph: expert-sum (static E x O Conv, ${mixing}) agrees with reference, groups and per-expert bias`, async () => {
    const c = seededCase(46, { ...small, bias: "perExpert", groups: 2 }, [3, 5, 5]);
    const truth = await (await referenceAdapter.prepare(c.spec, c.weights)).run(c.input);
    const model = buildCondConvOnnx(c.spec, c.weights, {
      height: 5,
      width: 5,
      batch: "dynamic",
      formulation: "expert-sum",
      kernelMixing: mixing,
    });
    const ops = opTypes(model.bytes);
    assert.equal(ops.filter((op) => op === "Conv").length, 1);
    // no kernel is mixed: the Conv's weights are an initializer of E x O output channels
    const conv = decode(model.bytes).graph!.node!.find((n) => n.opType === "Conv")!;
    const filter = decode(model.bytes).graph!.initializer!.find((t) => t.name === conv.input![1]);
    assert.deepEqual(filter?.dims?.map(Number), [c.spec.numExperts * 8, 2, 3, 3]);
    const output = await runModel(model.bytes, c.input);
    assertWithinWasmTolerance(output, truth.data);
  });
}

Deno.test("onnx graph: Mul + ReduceSum mixing agrees with reference, per-expert bias too", async () => {
  const c = seededCase(43, { ...small, bias: "perExpert", groups: 2 }, [3, 5, 5]);
  const reference = await referenceAdapter.prepare(c.spec, c.weights);
  const truth = await reference.run(c.input);
  const model = buildCondConvOnnx(c.spec, c.weights, {
    height: 5,
    width: 5,
    batch: 3,
    kernelMixing: "mul-reducesum",
  });
  const ops = opTypes(model.bytes);
  assert.equal(ops.filter((op) => op === "ReduceSum").length, 2);
  assert.ok(!ops.includes("MatMul"));
  const output = await runModel(model.bytes, c.input);
  assert.ok(compareWithTruth(output, Float64Array.from(truth.data), TOLERANCE_CLASSES.wasm).pass);
});

Deno.test("onnx graph: one dynamic-batch model runs batches 1 and 3", async () => {
  const c = seededCase(42, small, [3, 6, 6]);
  const model = buildCondConvOnnx(c.spec, c.weights, { height: 6, width: 6, batch: "dynamic" });
  const reference = await referenceAdapter.prepare(c.spec, c.weights);
  const truth = await reference.run(c.input);
  const session = await ort.InferenceSession.create(model.bytes, { executionProviders: ["wasm"] });
  try {
    for (const batch of [3, 1]) {
      const length = batch * 4 * 36;
      const input = new ort.Tensor("float32", c.input.data.slice(0, length), [batch, 4, 6, 6]);
      const output = (await session.run({ [INPUT_NAME]: input }))[OUTPUT_NAME];
      assert.deepEqual(output.dims, [batch, 8, 6, 6]);
      const expected = Float64Array.from(truth.data.subarray(0, batch * 8 * 36));
      assert.ok(
        compareWithTruth(output.data as Float32Array, expected, TOLERANCE_CLASSES.wasm).pass,
      );
    }
  } finally {
    await session.release();
  }
});

Deno.test("onnx graph: the static baseline is one Conv with constant weights, dynamic batch", () => {
  const c = seededCase(61, { ...small, paddingMode: "replicate" }, [1, 5, 5]);
  const kernel = c.weights.expertKernels.slice(0, 8 * 4 * 9);
  const model = buildStaticConvOnnx(c.spec, kernel, undefined, { height: 5, width: 5 });
  assert.equal(model.formulation, "static");
  assert.deepEqual(model.inputShape, [BATCH_DIM, 4, 5, 5]);
  assert.deepEqual(opTypes(model.bytes), ["Pad", "Conv"]);
  assert.throws(
    () => buildStaticConvOnnx(c.spec, kernel, new Float32Array(3), { height: 5, width: 5 }),
    { name: "TypeError", message: /static bias/ },
  );
});

// The WebGPU Conv workarounds (onnx_graph_conv_bugs.ts) change the graph, never the numbers:
// each changed model runs on the wasm EP (which has no such bug) to the reference's output.
const workaroundCases: [string, CondConvSpecInput, [number, number, number], string][] = [
  [
    "5 output channels per group, batch 3",
    {
      inChannels: 2,
      outChannels: 10,
      kernelSize: 3,
      padding: 1,
      groups: 2,
      bias: "shared",
    },
    [3, 5, 4],
    "grouped-vector-straddles-groups",
  ],
  [
    "6 input channels, 4 outputs",
    {
      inChannels: 6,
      outChannels: 4,
      kernelSize: 3,
      padding: 1,
      bias: "perExpert",
    },
    [1, 5, 5],
    "conv2dmm-vec3-input",
  ],
  [
    "a kernel as large as the input, TF same",
    {
      inChannels: 2,
      outChannels: 4,
      kernelSize: 2,
      padding: "same",
    },
    [1, 2, 2],
    "matmul-shortcut-ignores-end-pads",
  ],
];

for (const [name, spec, size, bug] of workaroundCases) {
  Deno.test(`onnx graph workaround: ${name} (${bug}) keeps the numbers`, async () => {
    const c = seededCase(size[0] * 31 + size[1], spec, size);
    const reference = await referenceAdapter.prepare(c.spec, c.weights);
    const truth = await reference.run(c.input, c.routingWeights);
    const options = { height: size[1], width: size[2], batch: size[0] };
    const plain = buildCondConvOnnx(c.spec, c.weights, options);
    assert.equal(plain.convBug, bug);
    assert.equal(plain.workaround, null);
    const changed = buildCondConvOnnx(c.spec, c.weights, { ...options, workarounds: true });
    assert.equal(changed.convBug, bug);
    assert.ok(changed.workaround, "no workaround applied");
    assert.notDeepEqual(opTypes(changed.bytes), opTypes(plain.bytes));
    const output = await runModel(changed.bytes, c.input, c.routingWeights, c.spec.numExperts);
    assertWithinWasmTolerance(output, truth.data);
  });
}

Deno.test("onnx graph workaround: the static Conv with 5 outputs per group keeps the numbers", async () => {
  const c = seededCase(71, { inChannels: 4, outChannels: 20, kernelSize: 1, groups: 4 }, [2, 3, 3]);
  const kernel = c.weights.expertKernels.slice(0, 20);
  const bias = Float32Array.from({ length: 20 }, (_, i) => i / 8);
  const plain = buildStaticConvOnnx(c.spec, kernel, bias, { height: 3, width: 3 });
  const changed = buildStaticConvOnnx(c.spec, kernel, bias, {
    height: 3,
    width: 3,
    workarounds: true,
  });
  assert.equal(changed.convBug, "grouped-vector-straddles-groups");
  assert.deepEqual(changed.workaround, {
    zeroRowOnTop: false,
    channelsPerGroup: 1,
    outChannelsPerGroup: 8,
  });
  const expected = await runModel(plain.bytes, c.input);
  const output = await runModel(changed.bytes, c.input);
  assert.deepEqual(output, expected);
});

import assert from "node:assert/strict";
import { createWasmAdapter, wasmAdapter } from "./wasm.ts";
import { referenceAdapter } from "./reference.ts";
import type { CondConvAdapter } from "./adapter.ts";
import type { CondConvSpecInput, Tensor } from "../condconv/spec.ts";
import { seededLayer } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { buildWasm, WASM_BINARY } from "../scripts/build_wasm.ts";

type Layer = ReturnType<typeof seededLayer>;

/** One run of a freshly prepared layer, disposed after it settles. */
async function runOnce(adapter: CondConvAdapter, layer: Layer): Promise<Tensor> {
  const prepared = await adapter.prepare(layer.spec, layer.weights);
  const settled = prepared.run(layer.input, layer.routingWeights);
  return await settled.finally(() => prepared.dispose());
}

function assertClose(actual: Tensor, expected: Tensor, name: string): void {
  assert.deepEqual(actual.shape, expected.shape, name);
  const truth = Float64Array.from(expected.data);
  const { pass, worstIndex, worstRatio, maxAbsErr } = compareWithTruth(
    actual.data,
    truth,
    toleranceFor("wasm", 0),
  );
  if (pass) return;
  assert.fail(
    `${name}: element ${worstIndex} is ${worstRatio.toFixed(2)}x the wasm tolerance ` +
      `(largest absolute error ${maxAbsErr})`,
  );
}

/** A depthwise layer of `c` channels (times `multiplier` outputs) and kernel `k`. */
const dw = (c: number, k: number | [number, number], multiplier = 1) => ({
  inChannels: c,
  outChannels: c * multiplier,
  kernelSize: k,
  groups: c,
});
/** A dense layer `c` to `o` with kernel `k`. */
const dense = (c: number, o: number, k: number | [number, number]) => ({
  inChannels: c,
  outChannels: o,
  kernelSize: k,
});
const SUPPLIED = { kind: "supplied" } as const;
/** Uneven stride, dilation and reflect padding, with supplied routing. */
const REFLECTED = {
  stride: [2, 1] as [number, number],
  dilation: [2, 1] as [number, number],
  padding: [2, 1] as [number, number],
  paddingMode: "reflect",
  routing: SUPPLIED,
} as const;

/** A spread of layers: every path, tails of both micro-kernel dimensions, every feature. */
const LAYERS: { name: string; spec: CondConvSpecInput; shape: number[] }[] = [
  {
    name: "1x1, 8 experts, row and column tails",
    spec: { ...dense(19, 22, 1), numExperts: 8, bias: "none" },
    shape: [1, 19, 5, 7],
  },
  {
    name: "1x1, batch 8, 3 experts, K tail",
    spec: { ...dense(35, 40, 1), numExperts: 3 },
    shape: [8, 35, 7, 7],
  },
  {
    name: "1x1, batch 7 (mixed four, two and one at a time), K 70 over two mixing chunks",
    spec: { ...dense(70, 26, 1), numExperts: 5, bias: "perExpert" },
    shape: [7, 70, 3, 5],
  },
  {
    name: "1x1 grouped, per-expert bias, 1 expert",
    spec: { ...dense(12, 18, 1), groups: 3, bias: "perExpert", numExperts: 1 },
    shape: [3, 12, 4, 5],
  },
  {
    name: "depthwise 3x3 stride 1, TF same, batch 8",
    spec: { ...dw(20, 3), padding: "same", numExperts: 8 },
    shape: [8, 20, 7, 7],
  },
  {
    name: "depthwise 3x3 stride 2, padding 1",
    spec: { ...dw(9, 3), padding: 1, stride: 2 },
    shape: [2, 9, 11, 13],
  },
  {
    name: "depthwise 5x5 stride 1 on 14x14, TF same, 8 experts",
    spec: { ...dw(24, 5), padding: "same", numExperts: 8, bias: "none" },
    shape: [1, 24, 14, 14],
  },
  {
    name: "depthwise 5x5 stride 2 TF same (asymmetric pads), batch 8",
    spec: { ...dw(10, 5), stride: 2, padding: "same", numExperts: 3 },
    shape: [8, 10, 14, 14],
  },
  {
    name: "depthwise 5x5 stride 2, padding 2 (even left), 17 wide (vector and scalar columns)",
    spec: { ...dw(12, 5), stride: 2, padding: 2, numExperts: 4 },
    shape: [4, 12, 9, 17],
  },
  {
    name: "depthwise 3x3 multiplier 2, replicate, softmax",
    spec: {
      ...dw(6, 3, 2),
      padding: 1,
      paddingMode: "replicate",
      routing: { kind: "softmax", temperature: 2 },
    },
    shape: [2, 6, 7, 7],
  },
  {
    name: "depthwise 3x5 dilation 2, circular, supplied routing",
    spec: {
      ...dw(4, [3, 5]),
      dilation: 2,
      padding: [2, 4],
      paddingMode: "circular",
      routing: SUPPLIED,
      bias: "perExpert",
    },
    shape: [1, 4, 8, 9],
  },
  {
    name: "general: groups, stride, dilation, reflect, per-expert bias, supplied routing",
    spec: { ...dense(8, 12, [3, 2]), ...REFLECTED, groups: 2, bias: "perExpert", numExperts: 5 },
    shape: [3, 8, 9, 10],
  },
  {
    name: "general: 4x4 TF same stride 2, batch 8",
    spec: { ...dense(6, 5, 4), padding: "same", stride: 2, numExperts: 8 },
    shape: [8, 6, 9, 8],
  },
  {
    name: "general: 3x3 on 40 channels (several im2col blocks), 16 experts",
    spec: { ...dense(40, 16, 3), padding: 1, numExperts: 16 },
    shape: [1, 40, 23, 21],
  },
];

Deno.test("the committed condconv.wasm is what its source builds", async () => {
  const built = await buildWasm();
  const committed = await Deno.readFile(WASM_BINARY);
  assert.ok(
    built.length === committed.length && built.every((byte, i) => byte === committed[i]),
    `${WASM_BINARY} differs from a fresh build (${built.length} against ${committed.length} ` +
      `bytes): run deno task build:wasm and commit the binary`,
  );
});

for (const threads of [1, 2, 3]) {
  Deno.test(`wasm on ${threads} thread(s) agrees with the reference on every path`, async () => {
    const adapter = createWasmAdapter({ threads });
    for (const [index, { name, spec, shape }] of LAYERS.entries()) {
      const layer = seededLayer(300 + index, spec, shape);
      assertClose(await runOnce(adapter, layer), await runOnce(referenceAdapter, layer), name);
    }
    assert.deepEqual(adapter.resourceCounts(), { workers: 0, memories: 0 });
  });
}

Deno.test("wasm is bit-identical across thread counts and repeated runs", async () => {
  const one = createWasmAdapter({ threads: 1 }), two = createWasmAdapter({ threads: 3 });
  for (const [index, { name, spec, shape }] of LAYERS.entries()) {
    const layer = seededLayer(400 + index, spec, shape);
    const a = await runOnce(one, layer);
    const prepared = await two.prepare(layer.spec, layer.weights);
    try {
      for (let i = 0; i < 3; i++) {
        const b = await prepared.run(layer.input, layer.routingWeights);
        assert.deepEqual(b.data, a.data, `${name}, run ${i}`);
      }
    } finally {
      await prepared.dispose();
    }
  }
});

Deno.test("a wasm layer follows batch and size changes between runs", async () => {
  const spec = {
    inChannels: 16,
    outChannels: 16,
    kernelSize: 5,
    groups: 16,
    padding: "same",
  } as const;
  const prepared = await wasmAdapter.prepare(
    seededLayer(1, spec, [1, 16, 7, 7]).spec,
    seededLayer(1, spec, [1, 16, 7, 7]).weights,
  );
  try {
    for (const shape of [[1, 16, 7, 7], [8, 16, 7, 7], [2, 16, 14, 12], [4, 16, 7, 7]]) {
      const layer = seededLayer(1, spec, shape);
      const expected = await runOnce(referenceAdapter, layer);
      assertClose(await prepared.run(layer.input), expected, `shape [${shape}]`);
    }
  } finally {
    await prepared.dispose();
  }
});

Deno.test("wasm copies the weights in prepare", async () => {
  const layer = seededLayer(7, { inChannels: 8, outChannels: 12, kernelSize: 1 }, [2, 8, 5, 5]);
  const expected = await runOnce(referenceAdapter, layer);
  const weights = {
    expertKernels: layer.weights.expertKernels.slice(),
    bias: layer.weights.bias!.slice(),
    routingWeight: layer.weights.routingWeight!.slice(),
    routingBias: layer.weights.routingBias!.slice(),
  };
  const prepared = await wasmAdapter.prepare(layer.spec, weights);
  try {
    for (const tensor of Object.values(weights)) tensor.fill(1000);
    assertClose(
      await prepared.run(layer.input),
      expected,
      "after the caller overwrote its weights",
    );
  } finally {
    await prepared.dispose();
  }
});

Deno.test("wasm rejects runs after dispose and releases its workers and memory", async () => {
  const adapter = createWasmAdapter({ threads: 3 });
  const layer = seededLayer(8, { inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1 }, [
    1,
    4,
    6,
    6,
  ]);
  const prepared = await adapter.prepare(layer.spec, layer.weights);
  assert.deepEqual(adapter.resourceCounts(), { workers: 2, memories: 1 });
  await prepared.run(layer.input);
  await prepared.dispose();
  assert.deepEqual(adapter.resourceCounts(), { workers: 0, memories: 0 });
  await assert.rejects(() => prepared.run(layer.input), /disposed/);
  await prepared.dispose();
});

Deno.test("wasm's static convolution matches the reference's", async () => {
  const layer = seededLayer(9, { ...dense(16, 24, 1), numExperts: 1 }, [2, 16, 7, 7]);
  const kernel = layer.weights.expertKernels, bias = layer.weights.bias;
  const expected = await (await referenceAdapter.prepareStatic!(layer.spec, kernel, bias))
    .run(layer.input);
  const prepared = await wasmAdapter.prepareStatic!(layer.spec, kernel, bias);
  try {
    assertClose(await prepared.run(layer.input), expected, "static 1x1");
  } finally {
    await prepared.dispose();
  }
});

import assert from "node:assert/strict";
import { createTsAdapter, tsAdapter } from "./ts.ts";
import { mixInto } from "./_ts/mixing.ts";
import { choosePath, makePlan, paddingMap } from "./_ts/plan.ts";
import { referenceAdapter, sourceIndex } from "./reference.ts";
import type { CondConvAdapter } from "./adapter.ts";
import {
  CondConvSpec,
  type CondConvSpecInput,
  type PaddingMode,
  type Tensor,
} from "../condconv/spec.ts";
import { resolveGeometry, sizeOf } from "../condconv/geometry.ts";
import { seededLayer, seededUniform } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";

type Layer = ReturnType<typeof seededLayer>;

async function runOnce(adapter: CondConvAdapter, layer: Layer): Promise<Tensor> {
  const prepared = await adapter.prepare(layer.spec, layer.weights);
  try {
    return await prepared.run(layer.input, layer.routingWeights);
  } finally {
    await prepared.dispose();
  }
}

/** One spec per path and feature: each must match the reference at every worker count. */
const LAYERS: { name: string; path: string; spec: CondConvSpecInput; shape: number[] }[] = [
  {
    name: "1x1, partial row and column tiles",
    path: "pointwise",
    spec: { inChannels: 12, outChannels: 22, kernelSize: 1, numExperts: 3 },
    shape: [2, 12, 5, 7],
  },
  {
    name: "1x1 grouped, per-expert bias, batch 3",
    path: "pointwise",
    spec: { inChannels: 12, outChannels: 18, kernelSize: 1, groups: 3, bias: "perExpert" },
    shape: [3, 12, 4, 5],
  },
  {
    name: "depthwise 5x5 TF same stride 2 (asymmetric pads)",
    path: "depthwise",
    spec: {
      inChannels: 10,
      outChannels: 10,
      kernelSize: 5,
      groups: 10,
      stride: 2,
      padding: "same",
      bias: "none",
      numExperts: 8,
    },
    shape: [3, 10, 9, 12],
  },
  {
    name: "depthwise 5x5 stride 1 on a wide plane (row kernel)",
    path: "depthwise",
    spec: { inChannels: 6, outChannels: 6, kernelSize: 5, groups: 6, padding: "same" },
    shape: [2, 6, 13, 14],
  },
  {
    name: "depthwise 3x3 multiplier 2, replicate, softmax",
    path: "depthwise",
    spec: {
      inChannels: 6,
      outChannels: 12,
      kernelSize: 3,
      groups: 6,
      padding: 1,
      paddingMode: "replicate",
      routing: { kind: "softmax", temperature: 2 },
    },
    shape: [2, 6, 7, 7],
  },
  {
    name: "depthwise 3x5 dilation 2, circular, supplied routing",
    path: "depthwise",
    spec: {
      inChannels: 4,
      outChannels: 4,
      kernelSize: [3, 5],
      groups: 4,
      dilation: 2,
      padding: [2, 4],
      paddingMode: "circular",
      routing: { kind: "supplied" },
      bias: "perExpert",
    },
    shape: [1, 4, 8, 9],
  },
  {
    name: "general: groups, stride, dilation, reflect, per-expert bias, supplied routing",
    path: "general",
    spec: {
      inChannels: 8,
      outChannels: 12,
      kernelSize: [3, 2],
      groups: 2,
      stride: [2, 1],
      dilation: [2, 1],
      padding: [2, 1],
      paddingMode: "reflect",
      bias: "perExpert",
      routing: { kind: "supplied" },
      numExperts: 5,
    },
    shape: [3, 8, 9, 10],
  },
  {
    name: "general: 4x4 TF same stride 2, sigmoid",
    path: "general",
    spec: { inChannels: 6, outChannels: 5, kernelSize: 4, padding: "same", stride: 2 },
    shape: [2, 6, 9, 8],
  },
  {
    name: "general: 3x3 on 40 channels (several im2col chunks)",
    path: "general",
    spec: { inChannels: 40, outChannels: 16, kernelSize: 3, padding: 1, numExperts: 4 },
    shape: [1, 40, 23, 21],
  },
];

/** The entry of `LAYERS` whose name starts with `prefix`. */
function layerNamed(prefix: string): (typeof LAYERS)[number] {
  const found = LAYERS.find((l) => l.name.startsWith(prefix));
  if (!found) throw new RangeError(`Cannot find the test layer "${prefix}"`);
  return found;
}

Deno.test("ts takes the path each layer is meant for", () => {
  for (const { name, path, spec, shape } of LAYERS) {
    const g = resolveGeometry(CondConvSpec.parse(spec), shape);
    assert.equal(choosePath(g), path, name);
  }
});

Deno.test("paddingMap agrees with the reference's sourceIndex in every mode", () => {
  for (const mode of ["zeros", "reflect", "replicate", "circular"] as PaddingMode[]) {
    for (const [size, before, after] of [[5, 2, 3], [3, 2, 2], [7, 0, 1], [4, 1, 0]]) {
      if (mode === "reflect" && Math.max(before, after) >= size) continue;
      const map = paddingMap(size, before, after, mode);
      for (let i = 0; i < map.length; i++) {
        assert.equal(map[i], sourceIndex(i - before, size, mode), `${mode} ${size} ${i}`);
      }
    }
  }
});

Deno.test("mixInto mixes any number of experts into any stride", () => {
  for (const experts of [1, 3, 4, 5, 8, 9, 12]) {
    const length = 37, count = 23, sOff = 5;
    const weights = seededUniform(experts, 2, experts * length);
    const r = Float64Array.from(seededUniform(experts, 6, experts, 0.5, 0.5));
    const dst = new Float32Array(3 * count + 2);
    mixInto(weights, length, experts, r, 0, sOff, count, dst, 2, 3, new Float64Array(count));
    for (let i = 0; i < count; i++) {
      let expected = 0;
      for (let e = 0; e < experts; e++) expected += r[e] * weights[e * length + sOff + i];
      assert.ok(Math.abs(dst[2 + 3 * i] - expected) <= 1e-6, `${experts} experts, element ${i}`);
    }
    assert.equal(dst[0], 0);
    assert.equal(dst[3], 0);
  }
});

for (const workers of [1, 2, 3]) {
  Deno.test(`ts with ${workers} worker(s) agrees with the reference on every path`, async () => {
    const adapter = createTsAdapter({ workers });
    for (const [index, { name, spec, shape }] of LAYERS.entries()) {
      const layer = seededLayer(100 + index, spec, shape);
      const expected = await runOnce(referenceAdapter, layer);
      const actual = await runOnce(adapter, layer);
      assert.deepEqual(actual.shape, expected.shape, name);
      const check = compareWithTruth(
        actual.data,
        Float64Array.from(expected.data),
        toleranceFor("cpu", 0),
      );
      assert.ok(
        check.pass,
        `${name}: worst element ${check.worstIndex} at ${check.worstRatio.toFixed(2)}x the ` +
          `tolerance (max abs error ${check.maxAbsErr})`,
      );
    }
    assert.deepEqual(adapter.resourceCounts(), { workers: 0 });
  });
}

Deno.test("ts gives bit-identical outputs with 1 and 2 workers", async () => {
  const one = createTsAdapter({ workers: 1 }), two = createTsAdapter({ workers: 2 });
  for (const [index, { name, spec, shape }] of LAYERS.entries()) {
    // batch 1 splits output tiles across workers, batch 2 splits examples
    for (const batch of [1, 2]) {
      const layer = seededLayer(200 + index, spec, [batch, ...shape.slice(1)]);
      const a = await runOnce(one, layer), b = await runOnce(two, layer);
      assert.deepEqual(b.data, a.data, `${name}, batch ${batch}`);
    }
  }
});

Deno.test("ts gives the same outputs when workers report completion by message", async () => {
  const one = createTsAdapter({ workers: 1 });
  const message = createTsAdapter({ workers: 2, completion: "message" });
  const availability = await message.availability();
  assert.ok(availability.available);
  assert.match(String(availability.info.sync), /postMessage/);
  for (const [index, { name, spec, shape }] of LAYERS.entries()) {
    const layer = seededLayer(250 + index, spec, shape);
    const a = await runOnce(one, layer), b = await runOnce(message, layer);
    assert.deepEqual(b.data, a.data, name);
  }
  assert.throws(
    () => createTsAdapter({ completion: "poll" as unknown as "message" }),
    RangeError,
  );
});

Deno.test("ts workers start in prepare and stop in dispose", async () => {
  const adapter = createTsAdapter({ workers: 2 });
  assert.equal(adapter.id, "ts-2w");
  assert.deepEqual(adapter.resourceCounts(), { workers: 0 });
  const pointwise = layerNamed("1x1, partial");
  const layer = seededLayer(7, pointwise.spec, pointwise.shape);
  const first = await adapter.prepare(layer.spec, layer.weights);
  assert.deepEqual(adapter.resourceCounts(), { workers: 2 });
  const second = await adapter.prepare(layer.spec, layer.weights);
  assert.deepEqual(adapter.resourceCounts(), { workers: 4 });
  await first.run(layer.input);
  await first.dispose();
  assert.deepEqual(adapter.resourceCounts(), { workers: 2 });
  await second.dispose();
  await second.dispose();
  assert.deepEqual(adapter.resourceCounts(), { workers: 0 });
  await assert.rejects(first.run(layer.input), TypeError);
});

Deno.test("ts without workers starts none", async () => {
  const adapter = createTsAdapter({ workers: 1 });
  const depthwise = layerNamed("depthwise 5x5 TF same");
  const layer = seededLayer(8, depthwise.spec, depthwise.shape);
  const prepared = await adapter.prepare(layer.spec, layer.weights);
  assert.deepEqual(adapter.resourceCounts(), { workers: 0 });
  await prepared.run(layer.input);
  await prepared.dispose();
});

Deno.test("ts does not grow over 100 runs", async () => {
  const adapter = createTsAdapter({ workers: 2 });
  const layer = seededLayer(9, {
    inChannels: 32,
    outChannels: 64,
    kernelSize: 1,
    numExperts: 8,
  }, [2, 32, 14, 14]);
  const prepared = await adapter.prepare(layer.spec, layer.weights);
  try {
    const first = await prepared.run(layer.input);
    for (let i = 0; i < 10; i++) await prepared.run(layer.input);
    const rssBefore = Deno.memoryUsage().rss;
    for (let i = 0; i < 100; i++) {
      const output = await prepared.run(layer.input);
      assert.deepEqual(adapter.resourceCounts(), { workers: 2 });
      if (i % 25 === 0) assert.deepEqual(output.data, first.data);
    }
    const grownMiB = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
    // 100 outputs of 50 KiB are garbage at most 5 MiB; scratch reallocated per run would be more
    assert.ok(grownMiB < 32, `resident memory grew ${grownMiB.toFixed(1)} MiB over 100 runs`);
  } finally {
    await prepared.dispose();
  }
  assert.deepEqual(adapter.resourceCounts(), { workers: 0 });
});

Deno.test("ts reconfigures its workers when the input size or batch changes", async () => {
  const adapter = createTsAdapter({ workers: 2 });
  const spec = layerNamed("general: 4x4 TF same").spec;
  const layers = [[2, 6, 9, 8], [3, 6, 5, 11], [1, 6, 5, 11], [4, 6, 9, 8]].map((shape, i) =>
    seededLayer(300 + i, spec, shape)
  );
  const prepared = await adapter.prepare(layers[0].spec, layers[0].weights);
  try {
    for (const layer of layers) {
      const expected = await runOnce(referenceAdapter, {
        ...layer,
        weights: layers[0].weights,
      });
      const actual = await prepared.run(layer.input);
      const check = compareWithTruth(
        actual.data,
        Float64Array.from(expected.data),
        toleranceFor("cpu", 0),
      );
      assert.ok(check.pass, `input [${layer.input.shape}]: ${check.worstRatio}x the tolerance`);
    }
  } finally {
    await prepared.dispose();
  }
});

Deno.test("ts runs queued calls one after another", async () => {
  const adapter = createTsAdapter({ workers: 2 });
  const pointwise = layerNamed("1x1, partial");
  const a = seededLayer(11, pointwise.spec, pointwise.shape);
  const b = seededLayer(12, pointwise.spec, [3, 12, 6, 6]);
  const prepared = await adapter.prepare(a.spec, a.weights);
  try {
    const [ra, rb] = await Promise.all([prepared.run(a.input), prepared.run(b.input)]);
    const one = createTsAdapter({ workers: 1 });
    const single = await one.prepare(a.spec, a.weights);
    assert.deepEqual(ra.data, (await single.run(a.input)).data);
    assert.deepEqual(rb.data, (await single.run(b.input)).data);
    await single.dispose();
  } finally {
    await prepared.dispose();
  }
});

Deno.test("ts rejects bad worker counts and bad inputs", async () => {
  assert.throws(() => createTsAdapter({ workers: 0 }), RangeError);
  assert.throws(() => createTsAdapter({ workers: 1.5 }), RangeError);
  const general = layerNamed("general: groups");
  const layer = seededLayer(13, general.spec, general.shape);
  const prepared = await createTsAdapter({ workers: 2 }).prepare(layer.spec, layer.weights);
  try {
    await assert.rejects(prepared.run(layer.input), TypeError);
    await assert.rejects(
      prepared.run({ shape: [1, 3, 4, 4], data: new Float32Array(48) }, new Float32Array(5)),
      RangeError,
    );
    // a failed call leaves the layer usable
    const output = await prepared.run(layer.input, layer.routingWeights);
    assert.equal(output.data.length, sizeOf(output.shape));
  } finally {
    await prepared.dispose();
  }
});

Deno.test("the registered ts adapter uses navigator.hardwareConcurrency workers", async () => {
  assert.equal(tsAdapter.id, "ts");
  assert.equal(tsAdapter.workers, navigator.hardwareConcurrency);
  const availability = await tsAdapter.availability();
  assert.ok(availability.available);
  assert.equal(availability.backend, "typescript:float32");
});

Deno.test("ts prepareStatic is a plain convolution with the one kernel", async () => {
  const spec = CondConvSpec.parse({ inChannels: 4, outChannels: 6, kernelSize: 3, padding: 1 });
  const kernel = seededUniform(1, 2, 6 * 4 * 9, 0.25);
  const bias = seededUniform(1, 3, 6, 0.5);
  const input: Tensor = { shape: [2, 4, 5, 5], data: seededUniform(1, 1, 200) };
  const prepared = await tsAdapter.prepareStatic!(spec, kernel, bias);
  const expected = await referenceAdapter.prepareStatic!(spec, kernel, bias);
  try {
    const actual = await prepared.run(input);
    const truth = await expected.run(input);
    const check = compareWithTruth(actual.data, Float64Array.from(truth.data), {
      atol: 1e-5,
      rtol: 1e-5,
    });
    assert.ok(check.pass, `${check.worstRatio}x the tolerance`);
  } finally {
    await prepared.dispose();
    await expected.dispose();
  }
});

Deno.test("makePlan bounds the im2col chunk and counts tiles per group", () => {
  const spec = CondConvSpec.parse({ inChannels: 64, outChannels: 18, kernelSize: 5, groups: 2 });
  const plan = makePlan(spec, resolveGeometry(spec, [1, 64, 40, 40]), 1);
  assert.equal(plan.path, "general");
  assert.equal(plan.tilesPerGroup, 3);
  assert.equal(plan.tileCount, 6);
  assert.ok(plan.chunkTiles * 4 * plan.kernelPerOut <= 32768);
  assert.equal(plan.columnTiles, Math.ceil((36 * 36) / 4));
});

import assert from "node:assert/strict";
import { KITCHEN_SINK } from "../../condconv/_testing.ts";
import { GoldenCase } from "../../condconv/cases.ts";
import type { CondConvSpecInput } from "../../condconv/spec.ts";
import { caseTensors } from "../../condconv/seeded.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../../condconv/tolerance.ts";
import type { CondConvAdapter } from "../adapter.ts";
import { makeOrtAdapter, WASM_THREADS_LIMIT } from "./adapter.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { ortWebgpuAdapter } from "../ort_webgpu.ts";
import { referenceAdapter } from "../reference.ts";

// The WebGPU EP's device lives as long as the process (a probe session holds it, by
// design), and onnxruntime-web keeps its wasm instance: the op and resource sanitizers
// would count those as leaks of whichever test initialised the runtime.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

function seededCase(
  seed: number,
  spec: CondConvSpecInput,
  [batch, height, width]: [number, number, number],
) {
  const goldenCase = GoldenCase.parse({
    id: `ort-test-${seed}`,
    about: "ort adapter test",
    seed,
    input: { batch, height, width },
    spec,
  });
  return { spec: goldenCase.spec, ...caseTensors(goldenCase) };
}

async function assertAgrees(
  adapter: CondConvAdapter,
  seed: number,
  spec: CondConvSpecInput,
  size: [number, number, number],
) {
  const c = seededCase(seed, spec, size);
  const reference = await referenceAdapter.prepare(c.spec, c.weights);
  const truth = await reference.run(c.input, c.routingWeights);
  const prepared = await adapter.prepare(c.spec, c.weights);
  try {
    const output = await prepared.run(c.input, c.routingWeights);
    assert.deepEqual(output.shape, truth.shape);
    const comparison = compareWithTruth(
      output.data,
      Float64Array.from(truth.data),
      TOLERANCE_CLASSES[adapter.toleranceClass],
    );
    assert.ok(comparison.pass, `${comparison.worstRatio}x the tolerance`);
  } finally {
    await prepared.dispose();
  }
}

const small = { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 } as const;

Deno.test({
  name: "ort-wasm availability: versions, one thread and why",
  ...sanitizers,
  async fn() {
    const availability = await ortWasmAdapter.availability();
    assert.ok(availability.available, JSON.stringify(availability));
    assert.equal(availability.backend, "onnxruntime-web:wasm");
    assert.equal(availability.info.onnxruntimeWeb, "1.30.0");
    assert.equal(availability.info.executionProvider, "wasm");
    assert.equal(availability.info.wasmThreads, 1);
    assert.equal(availability.info.wasmThreadsLimit, WASM_THREADS_LIMIT);
  },
});

Deno.test({
  name: "ort-wasm: sessions are made per input shape, counted and released",
  ...sanitizers,
  async fn() {
    const c = seededCase(21, small, [2, 5, 5]);
    const before = ortWasmAdapter.resourceCounts!().ortSessions;
    const prepared = await ortWasmAdapter.prepare(c.spec, c.weights);
    assert.equal(prepared.backend, "onnxruntime-web:wasm");
    await prepared.run(c.input);
    await prepared.run(c.input);
    assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before + 1);
    const one = { shape: [1, 4, 5, 5], data: c.input.data.slice(0, 100) };
    const first = await prepared.run(one);
    assert.deepEqual(first.shape, [1, 8, 5, 5]);
    assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before + 2);
    await prepared.dispose();
    assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before);
    await assert.rejects(prepared.run(c.input), { name: "TypeError", message: /disposed/ });
  },
});

Deno.test({
  name: "ort-wasm: a 1x1 layer has one dynamic-batch session for every batch size",
  ...sanitizers,
  async fn() {
    const c = seededCase(23, { inChannels: 6, outChannels: 4, kernelSize: 1 }, [3, 4, 5]);
    const before = ortWasmAdapter.resourceCounts!().ortSessions;
    const prepared = await ortWasmAdapter.prepare(c.spec, c.weights);
    try {
      for (const batch of [3, 1, 2]) {
        const input = { shape: [batch, 6, 4, 5], data: c.input.data.slice(0, batch * 120) };
        assert.deepEqual((await prepared.run(input)).shape, [batch, 4, 4, 5]);
      }
      assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before + 1);
    } finally {
      await prepared.dispose();
    }
  },
});

Deno.test({
  name: "ort-wasm: inputs and weights are checked before anything runs",
  ...sanitizers,
  async fn() {
    const c = seededCase(22, { ...small, routing: { kind: "supplied" } }, [2, 4, 4]);
    await assert.rejects(
      ortWasmAdapter.prepare(c.spec, { ...c.weights, expertKernels: new Float32Array(1) }),
      { name: "TypeError", message: /expertKernels/ },
    );
    const prepared = await ortWasmAdapter.prepare(c.spec, c.weights);
    try {
      await assert.rejects(prepared.run(c.input), { name: "TypeError", message: /supplied/ });
    } finally {
      await prepared.dispose();
    }
  },
});

const wasmCases: [string, CondConvSpecInput, [number, number, number]][] = [
  KITCHEN_SINK,
  ["depthwise supplied routing, per-expert bias", {
    inChannels: 6,
    outChannels: 6,
    kernelSize: 5,
    padding: 2,
    groups: 6,
    routing: { kind: "supplied" },
    bias: "perExpert",
  }, [2, 6, 6]],
  ["1x1 circular padding", {
    inChannels: 5,
    outChannels: 3,
    kernelSize: 1,
    padding: 1,
    paddingMode: "circular",
  }, [2, 4, 3]],
];
for (const [name, spec, size] of wasmCases) {
  Deno.test({
    name: `ort-wasm agrees with reference: ${name}`,
    ...sanitizers,
    fn: () => assertAgrees(ortWasmAdapter, size[1] * 7 + size[2], spec, size),
  });
}

const gpu = await ortWebgpuAdapter.availability();
if (!gpu.available) console.warn(`ort-webgpu tests ignored: ${gpu.reason}`);

Deno.test({
  name: "ort-webgpu availability: the adapter that ran, read field by field",
  ignore: !gpu.available,
  ...sanitizers,
  fn() {
    assert.ok(gpu.available);
    assert.equal(gpu.backend, "onnxruntime-web:webgpu");
    assert.equal(gpu.info.executionProvider, "webgpu");
    assert.match(String(gpu.info.cpuFallback), /disabled/);
    assert.equal(gpu.info.webgpuKernels, "native");
    const adapter = gpu.gpu as unknown as Record<string, unknown>;
    for (const key of ["vendor", "architecture", "device", "description"]) {
      assert.equal(typeof adapter[key], "string", `gpu.${key}`);
    }
    assert.ok(adapter.isFallbackAdapter === null || typeof adapter.isFallbackAdapter === "boolean");
  },
});

Deno.test({
  name: "ort-webgpu agrees with reference: grouped, strided, reflect, per-expert bias",
  ignore: !gpu.available,
  ...sanitizers,
  async fn() {
    const before = ortWebgpuAdapter.resourceCounts!().ortSessions;
    await assertAgrees(ortWebgpuAdapter, 31, {
      inChannels: 4,
      outChannels: 8,
      kernelSize: 3,
      padding: 1,
      groups: 2,
      stride: 2,
      paddingMode: "reflect",
      bias: "perExpert",
    }, [2, 7, 7]);
    assert.equal(ortWebgpuAdapter.resourceCounts!().ortSessions, before);
  },
});

Deno.test({
  name: "ort-webgpu without navigator.gpu is unavailable, with the reason",
  ...sanitizers,
  async fn() {
    const adapter = makeOrtAdapter({
      id: "ort-webgpu-test",
      description: "test",
      toleranceClass: "webgpu",
      executionProvider: "webgpu",
      kernelMixing: "mul-reducesum",
      convBug: true,
      wasmArtifact: "ort-wasm-simd-threaded.asyncify.wasm",
      load: () => import("onnxruntime-web/webgpu"),
    });
    Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
    try {
      const result = await adapter.availability();
      assert.equal(result.available, false);
      assert.match((result as { reason: string }).reason, /navigator\.gpu is missing/);
      const c = seededCase(41, small, [1, 4, 4]);
      await assert.rejects(adapter.prepare(c.spec, c.weights), /navigator\.gpu is missing/);
    } finally {
      delete (navigator as { gpu?: unknown }).gpu;
    }
    assert.ok("gpu" in navigator);
  },
});

Deno.test({
  name: "ort-wasm prepareStatic: a plain Conv that agrees with the reference's, any batch",
  ...sanitizers,
  async fn() {
    const c = seededCase(51, { ...small, groups: 2, paddingMode: "reflect", stride: 2 }, [
      3,
      7,
      6,
    ]);
    const kernel = c.weights.expertKernels.slice(0, 8 * 2 * 9);
    const bias = c.weights.bias!;
    const reference = await referenceAdapter.prepareStatic!(c.spec, kernel, bias);
    const prepared = await ortWasmAdapter.prepareStatic!(c.spec, kernel, bias);
    const before = ortWasmAdapter.resourceCounts!().ortSessions;
    try {
      for (const batch of [3, 1]) {
        const input = { shape: [batch, 4, 7, 6], data: c.input.data.slice(0, batch * 4 * 42) };
        const truth = await reference.run(input);
        const output = await prepared.run(input);
        assert.deepEqual(output.shape, truth.shape);
        const comparison = compareWithTruth(
          output.data,
          Float64Array.from(truth.data),
          TOLERANCE_CLASSES.wasm,
        );
        assert.ok(comparison.pass, `${comparison.worstRatio}x the tolerance`);
      }
      // one session for both batches: the static Conv's batch is dynamic
      assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before + 1);
      await assert.rejects(prepared.run(c.input, new Float32Array(6)), { name: "TypeError" });
    } finally {
      await prepared.dispose();
    }
    assert.equal(ortWasmAdapter.resourceCounts!().ortSessions, before);
    await assert.rejects(
      ortWasmAdapter.prepareStatic!(c.spec, new Float32Array(5)),
      { name: "TypeError", message: /static kernel/ },
    );
  },
});

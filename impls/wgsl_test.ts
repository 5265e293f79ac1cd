import assert from "node:assert/strict";
import { GoldenCase } from "../condconv/cases.ts";
import type { CondConvSpecInput } from "../condconv/spec.ts";
import { caseTensors } from "../condconv/seeded.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../condconv/tolerance.ts";
import type { ConvPath } from "./_wgsl/plan.ts";
import { referenceAdapter } from "./reference.ts";
import { SHAPE_CACHE_SIZE, WGSL_BACKEND, wgslAdapter } from "./wgsl.ts";

const availability = await wgslAdapter.availability();
const ignore = !availability.available;
if (!availability.available) console.warn(`wgsl GPU tests ignored: ${availability.reason}`);

/** Seeded tensors for `spec` on `[batch, C, height, width]`, as the golden cases make them. */
function seededCase(
  seed: number,
  spec: CondConvSpecInput,
  [batch, height, width]: [number, number, number],
) {
  const goldenCase = GoldenCase.parse({
    id: `wgsl-test-${seed}`,
    about: "wgsl adapter test",
    seed,
    input: { batch, height, width },
    spec,
  });
  return { spec: goldenCase.spec, ...caseTensors(goldenCase) };
}

/** Runs `spec` on the wgsl and reference adapters; checks the path taken and the agreement. */
async function assertAgrees(
  seed: number,
  spec: CondConvSpecInput,
  size: [number, number, number],
  path: ConvPath,
) {
  const c = seededCase(seed, spec, size);
  const reference = await referenceAdapter.prepare(c.spec, c.weights);
  const truth = await reference.run(c.input, c.routingWeights);
  const prepared = await wgslAdapter.prepare(c.spec, c.weights);
  try {
    assert.equal(prepared.backend, WGSL_BACKEND);
    assert.equal(prepared.convPath(c.input.shape), path);
    const output = await prepared.run(c.input, c.routingWeights);
    assert.deepEqual(output.shape, truth.shape);
    const comparison = compareWithTruth(
      output.data,
      Float64Array.from(truth.data),
      TOLERANCE_CLASSES.webgpu,
    );
    assert.ok(
      comparison.pass,
      `index ${comparison.worstIndex}: ${output.data[comparison.worstIndex]} vs ` +
        `${truth.data[comparison.worstIndex]} (${comparison.worstRatio}x the tolerance)`,
    );
  } finally {
    await prepared.dispose();
  }
}

const small = { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 } as const;

Deno.test({
  name: "wgsl availability: reports the adapter, or why there is none",
  fn() {
    if (availability.available) {
      assert.equal(availability.backend, WGSL_BACKEND);
      // the GPU adapter's identity is the typed summary every GPU adapter carries
      const gpu = availability.gpu!;
      for (const key of ["vendor", "architecture", "device", "description", "isFallbackAdapter"]) {
        assert.ok(key in gpu, `gpu lacks "${key}"`);
      }
      assert.equal(typeof gpu.software, "boolean");
      assert.ok(Array.isArray(availability.info.features));
      const limits = availability.info.limits as Record<string, number>;
      assert.ok(limits.maxComputeWorkgroupsPerDimension >= 65535);
    } else {
      assert.match(availability.reason, /\S/);
    }
  },
});

Deno.test("wgsl availability: no navigator.gpu is unavailable, with the reason", async () => {
  Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
  try {
    const result = await wgslAdapter.availability();
    assert.equal(result.available, false);
    assert.match((result as { reason: string }).reason, /navigator\.gpu is missing/);
    await assert.rejects(
      wgslAdapter.prepare(...(() => {
        const c = seededCase(1, small, [1, 4, 4]);
        return [c.spec, c.weights] as const;
      })()),
      /navigator\.gpu is missing/,
    );
  } finally {
    delete (navigator as { gpu?: unknown }).gpu;
  }
  assert.ok("gpu" in navigator);
});

Deno.test({
  name: "wgsl agrees with reference: 1x1 GEMM, shared bias, odd sizes",
  ignore,
  fn: () =>
    assertAgrees(11, { inChannels: 12, outChannels: 20, kernelSize: 1 }, [2, 5, 7], "gemm-1x1"),
});

Deno.test({
  name: "wgsl agrees with reference: 1x1 GEMM with groups, per-expert bias, softmax",
  ignore,
  fn: () =>
    assertAgrees(
      12,
      {
        inChannels: 8,
        outChannels: 12,
        kernelSize: 1,
        groups: 2,
        bias: "perExpert",
        numExperts: 5,
        routing: { kind: "softmax", temperature: 0.5 },
      },
      [2, 6, 6],
      "gemm-1x1",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: 1x1 GEMM over more than one tile each way",
  ignore,
  fn: () =>
    assertAgrees(13, { inChannels: 40, outChannels: 72, kernelSize: 1, bias: "none" }, [
      1,
      7,
      9,
    ], "gemm-1x1"),
});

Deno.test({
  name: "wgsl agrees with reference: depthwise 3x3",
  ignore,
  fn: () =>
    assertAgrees(
      21,
      { ...small, inChannels: 6, outChannels: 6, groups: 6 },
      [2, 9, 9],
      "depthwise",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: depthwise 5x5 stride 2 TensorFlow same (asymmetric)",
  ignore,
  fn: () =>
    assertAgrees(
      22,
      { inChannels: 4, outChannels: 4, kernelSize: 5, stride: 2, padding: "same", groups: 4 },
      [2, 14, 14],
      "depthwise",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: depthwise multiplier 2, replicate, per-expert bias",
  ignore,
  fn: () =>
    assertAgrees(
      23,
      { ...small, groups: 4, paddingMode: "replicate", padding: 2, bias: "perExpert" },
      [1, 7, 10],
      "depthwise",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: depthwise dilation 2, circular, supplied routing, 3 tiles",
  ignore,
  fn: () =>
    assertAgrees(
      24,
      {
        inChannels: 3,
        outChannels: 3,
        kernelSize: [3, 2],
        dilation: 2,
        padding: [2, 1],
        paddingMode: "circular",
        groups: 3,
        routing: { kind: "supplied" },
      },
      [2, 20, 5],
      "depthwise",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: depthwise too large for workgroup memory goes general",
  ignore,
  fn: () =>
    // one output's patch is 81x81 floats, over 16 KiB
    assertAgrees(
      25,
      { inChannels: 2, outChannels: 2, kernelSize: 3, dilation: 40, groups: 2 },
      [1, 84, 84],
      "general",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: general, groups 2, dilation 2, reflect, per-expert",
  ignore,
  fn: () =>
    assertAgrees(
      31,
      {
        inChannels: 4,
        outChannels: 6,
        kernelSize: [3, 5],
        padding: [2, 4],
        dilation: 2,
        groups: 2,
        paddingMode: "reflect",
        bias: "perExpert",
        routing: { kind: "softmax", temperature: 2 },
      },
      [2, 9, 12],
      "general",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: general, circular same stride 2, supplied routing",
  ignore,
  fn: () =>
    assertAgrees(
      32,
      {
        ...small,
        kernelSize: 4,
        stride: 2,
        padding: "same",
        paddingMode: "circular",
        routing: { kind: "supplied" },
      },
      [2, 10, 11],
      "general",
    ),
});

// Extents that are not powers of two: wgpu's GL backend passed WGSL's i32 `%` through to
// GLSL, where it is undefined for negative operands (-1 % 6 came out as 3), so circular
// padding read the wrong row on 6, 10 and 14 but happened to be right on 4, 8 and 16.
for (const paddingMode of ["circular", "reflect", "replicate"] as const) {
  Deno.test({
    name: `wgsl agrees with reference: ${paddingMode} padding on extents 6, 10 and 14`,
    ignore,
    fn: async (t) => {
      const sizes: [number, number][] = [[6, 6], [10, 10], [14, 14], [6, 14], [10, 6]];
      for (const [n, [h, w]] of sizes.entries()) {
        await t.step(`general ${h}x${w}, kernel 5, padding 2`, () =>
          assertAgrees(
            60 + n,
            { ...small, kernelSize: 5, padding: 2, paddingMode },
            [1, h, w],
            "general",
          ));
        await t.step(`depthwise ${h}x${w}, kernel 5, padding 2, stride 2`, () =>
          assertAgrees(
            70 + n,
            {
              inChannels: 4,
              outChannels: 4,
              groups: 4,
              kernelSize: 5,
              stride: 2,
              padding: 2,
              paddingMode,
            },
            [2, h, w],
            "depthwise",
          ));
      }
    },
  });
}

Deno.test({
  name: "wgsl agrees with reference: general, stride [1, 2], zeros, 16 experts, wide",
  ignore,
  fn: () =>
    assertAgrees(
      33,
      {
        inChannels: 20,
        outChannels: 36,
        kernelSize: 3,
        padding: 1,
        stride: [1, 2],
        numExperts: 16,
      },
      [1, 6, 13],
      "general",
    ),
});

Deno.test({
  name: "wgsl agrees with reference: 1x1 with stride 2 is general",
  ignore,
  fn: () =>
    assertAgrees(34, { ...small, kernelSize: 1, stride: 2, padding: 0 }, [2, 7, 7], "general"),
});

Deno.test({
  name: "wgsl: dispose returns every buffer, query set and device",
  ignore,
  async fn() {
    const before = wgslAdapter.resourceCounts();
    assert.deepEqual(before, { gpuBuffers: 0, gpuQuerySets: 0, gpuDevices: 0 });
    const c = seededCase(41, small, [2, 6, 6]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    await prepared.run(c.input);
    const other = seededCase(41, small, [3, 5, 5]);
    await prepared.run(other.input);
    const during = wgslAdapter.resourceCounts();
    assert.ok(during.gpuBuffers > 0);
    assert.equal(during.gpuDevices, 1);
    await prepared.dispose();
    await prepared.dispose(); // twice is harmless
    assert.deepEqual(wgslAdapter.resourceCounts(), before);
    await assert.rejects(prepared.run(c.input), /it was disposed/);
  },
});

Deno.test({
  name: "wgsl: resources flat and outputs identical over 100 runs",
  ignore,
  async fn() {
    const c = seededCase(42, small, [1, 6, 6]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      const first = await prepared.run(c.input);
      const counts = wgslAdapter.resourceCounts();
      for (let i = 0; i < 100; i++) {
        const output = await prepared.run(c.input);
        assert.deepEqual(output.data, first.data);
      }
      assert.deepEqual(wgslAdapter.resourceCounts(), counts);
    } finally {
      await prepared.dispose();
    }
  },
});

Deno.test({
  name: "wgsl: shapes are cached by shape, the least recently used dropped",
  ignore,
  async fn() {
    const prepared = await wgslAdapter.prepare(...(() => {
      const c = seededCase(43, small, [1, 5, 5]);
      return [c.spec, c.weights] as const;
    })());
    try {
      const perShape: number[] = [];
      for (let batch = 1; batch <= SHAPE_CACHE_SIZE + 2; batch++) {
        const c = seededCase(43, small, [batch, 5, 5]);
        const before = wgslAdapter.resourceCounts().gpuBuffers;
        await prepared.run(c.input);
        perShape.push(wgslAdapter.resourceCounts().gpuBuffers - before);
      }
      // each new shape adds buffers until the cache is full, then replaces the oldest
      assert.ok(perShape.slice(0, SHAPE_CACHE_SIZE).every((n) => n > 0));
      assert.deepEqual(perShape.slice(SHAPE_CACHE_SIZE), [0, 0]);
      // a cached shape adds nothing
      const again = wgslAdapter.resourceCounts().gpuBuffers;
      await prepared.run(seededCase(43, small, [SHAPE_CACHE_SIZE + 2, 5, 5]).input);
      assert.equal(wgslAdapter.resourceCounts().gpuBuffers, again);
    } finally {
      await prepared.dispose();
    }
    assert.equal(wgslAdapter.resourceCounts().gpuBuffers, 0);
  },
});

Deno.test({
  name: "wgsl: timestamp queries give a positive GPU time per stage",
  ignore,
  async fn() {
    const c = seededCase(44, small, [2, 8, 8]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      assert.equal(prepared.lastGpuTimeMs, undefined);
      await prepared.run(c.input);
      await prepared.run(c.input);
      if (!prepared.device.features.has("timestamp-query")) {
        console.warn("no timestamp-query: lastGpuTimeMs stays undefined");
        assert.equal(prepared.timestamps, false);
        assert.equal(prepared.lastGpuTimeMs, undefined);
        return;
      }
      assert.equal(prepared.timestamps, true);
      const total = prepared.lastGpuTimeMs!;
      assert.ok(total > 0 && Number.isFinite(total), `GPU time ${total}`);
      const stages = prepared.lastGpuStageMs!;
      assert.deepEqual(Object.keys(stages), ["pool", "route", "mix", "conv"]);
      const sum = Object.values(stages).reduce((a, b) => a + b, 0);
      assert.ok(Object.values(stages).every((ms) => ms >= 0));
      assert.ok(sum <= total * 1.0001, `stages ${sum} ms over the total ${total} ms`);
    } finally {
      await prepared.dispose();
    }
  },
});

Deno.test({
  name: "wgsl: concurrent runs on one layer each get their own output",
  ignore,
  async fn() {
    const c = seededCase(45, small, [1, 6, 6]);
    const other = seededCase(46, small, [1, 6, 6]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      const a = await prepared.run(c.input);
      const b = await prepared.run(other.input);
      const [a2, b2, a3] = await Promise.all([
        prepared.run(c.input),
        prepared.run(other.input),
        prepared.run(c.input),
      ]);
      assert.deepEqual(a2.data, a.data);
      assert.deepEqual(b2.data, b.data);
      assert.deepEqual(a3.data, a.data);
      assert.notDeepEqual(a.data, b.data);
    } finally {
      await prepared.dispose();
    }
  },
});

Deno.test({
  name: "wgsl: bad inputs throw before touching the GPU",
  ignore,
  async fn() {
    const c = seededCase(47, { ...small, routing: { kind: "supplied" } }, [2, 5, 5]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      await assert.rejects(prepared.run(c.input), TypeError);
      await assert.rejects(
        prepared.run({ shape: [2, 3, 5, 5], data: new Float32Array(150) }, c.routingWeights),
        RangeError,
      );
      await assert.rejects(prepared.run(c.input, new Float32Array(5)), RangeError);
      // and the layer still works
      await prepared.run(c.input, c.routingWeights);
    } finally {
      await prepared.dispose();
    }
    await assert.rejects(
      wgslAdapter.prepare(c.spec, { ...c.weights, expertKernels: new Float32Array(3) }),
      TypeError,
    );
    assert.deepEqual(wgslAdapter.resourceCounts().gpuBuffers, 0);
  },
});

Deno.test({
  name: "wgsl: a lost device makes runs reject clearly, and prepare gets a new one",
  ignore,
  async fn() {
    const c = seededCase(48, small, [1, 6, 6]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    const expected = await prepared.run(c.input);
    const pending = prepared.run(c.input);
    prepared.device.destroy();
    // the run in flight either finished before the loss or reports it; none hangs
    await pending.catch((error) => assert.match(error.message, /GPU device was lost/));
    await assert.rejects(prepared.run(c.input), /GPU device was lost \(reason "destroyed"/);
    await assert.rejects(prepared.run(c.input), /prepare the layer again/);
    await prepared.dispose();
    assert.deepEqual(wgslAdapter.resourceCounts(), {
      gpuBuffers: 0,
      gpuQuerySets: 0,
      gpuDevices: 0,
    });
    const again = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      assert.deepEqual((await again.run(c.input)).data, expected.data);
    } finally {
      await again.dispose();
    }
  },
});

Deno.test({
  name: "wgsl: a batch over maxStorageBufferBindingSize throws a RangeError naming the limit",
  ignore,
  async fn() {
    const spec = { inChannels: 16, outChannels: 256, kernelSize: 1, numExperts: 2 };
    const c = seededCase(49, spec, [1, 2, 2]);
    const prepared = await wgslAdapter.prepare(c.spec, c.weights);
    try {
      // mixed kernels are 16 * 256 floats an example
      const batch = Math.floor(prepared.device.limits.maxStorageBufferBindingSize / 16384) + 1;
      const input = { shape: [batch, 16, 2, 2], data: new Float32Array(batch * 64) };
      await assert.rejects(prepared.run(input), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /"mixed" buffer needs .* maxStorageBufferBindingSize/);
        return true;
      });
      assert.equal((await prepared.run(c.input)).data.length, 256 * 4);
    } finally {
      await prepared.dispose();
    }
  },
});

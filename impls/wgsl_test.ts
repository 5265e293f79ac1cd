/**
 * The wgsl adapter's availability and resources: what it reports, what it holds and returns,
 * its shape cache, timestamps, concurrency, bad inputs and device loss. Its agreement with the
 * reference is in `wgsl_agreement_test.ts`.
 * @module
 */
import assert from "node:assert/strict";
import { SHAPE_CACHE_SIZE, WGSL_BACKEND, wgslAdapter } from "./wgsl.ts";
import { availability, gpuTest, seededCase, small, withLayer } from "./_wgsl/testing.ts";

const NO_RESOURCES = { gpuBuffers: 0, gpuQuerySets: 0, gpuDevices: 0 };

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
    const c = seededCase(1, small, [1, 4, 4]);
    await assert.rejects(wgslAdapter.prepare(c.spec, c.weights), /navigator\.gpu is missing/);
  } finally {
    delete (navigator as { gpu?: unknown }).gpu;
  }
  assert.ok("gpu" in navigator);
});

gpuTest("wgsl: dispose returns every buffer, query set and device", async () => {
  const before = wgslAdapter.resourceCounts();
  assert.deepEqual(before, NO_RESOURCES);
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
});

gpuTest("wgsl: resources flat and outputs identical over 100 runs", async () => {
  const c = seededCase(42, small, [1, 6, 6]);
  await withLayer(c, async (prepared) => {
    const first = await prepared.run(c.input);
    const counts = wgslAdapter.resourceCounts();
    for (let i = 0; i < 100; i++) {
      const output = await prepared.run(c.input);
      assert.deepEqual(output.data, first.data);
    }
    assert.deepEqual(wgslAdapter.resourceCounts(), counts);
  });
});

gpuTest("wgsl: shapes are cached by shape, the least recently used dropped", async () => {
  await withLayer(seededCase(43, small, [1, 5, 5]), async (prepared) => {
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
  });
  assert.equal(wgslAdapter.resourceCounts().gpuBuffers, 0);
});

gpuTest("wgsl: timestamp queries give a positive GPU time per stage", async () => {
  const c = seededCase(44, small, [2, 8, 8]);
  await withLayer(c, async (prepared) => {
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
  });
});

gpuTest("wgsl: concurrent runs on one layer each get their own output", async () => {
  const c = seededCase(45, small, [1, 6, 6]);
  const other = seededCase(46, small, [1, 6, 6]);
  await withLayer(c, async (prepared) => {
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
  });
});

gpuTest("wgsl: bad inputs throw before touching the GPU", async () => {
  const c = seededCase(47, { ...small, routing: { kind: "supplied" } }, [2, 5, 5]);
  await withLayer(c, async (prepared) => {
    await assert.rejects(prepared.run(c.input), TypeError);
    await assert.rejects(
      prepared.run({ shape: [2, 3, 5, 5], data: new Float32Array(150) }, c.routingWeights),
      RangeError,
    );
    await assert.rejects(prepared.run(c.input, new Float32Array(5)), RangeError);
    // and the layer still works
    await prepared.run(c.input, c.routingWeights);
  });
  await assert.rejects(
    wgslAdapter.prepare(c.spec, { ...c.weights, expertKernels: new Float32Array(3) }),
    TypeError,
  );
  assert.deepEqual(wgslAdapter.resourceCounts().gpuBuffers, 0);
});

gpuTest("wgsl: a lost device makes runs reject clearly, and prepare gets a new one", async () => {
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
  assert.deepEqual(wgslAdapter.resourceCounts(), NO_RESOURCES);
  await withLayer(c, async (again) => {
    assert.deepEqual((await again.run(c.input)).data, expected.data);
  });
});

gpuTest(
  "wgsl: a batch over maxStorageBufferBindingSize throws a RangeError naming the limit",
  async () => {
    const spec = { inChannels: 16, outChannels: 256, kernelSize: 1, numExperts: 2 };
    const c = seededCase(49, spec, [1, 2, 2]);
    await withLayer(c, async (prepared) => {
      // mixed kernels are 16 * 256 floats an example
      const batch = Math.floor(prepared.device.limits.maxStorageBufferBindingSize / 16384) + 1;
      const input = { shape: [batch, 16, 2, 2], data: new Float32Array(batch * 64) };
      await assert.rejects(prepared.run(input), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /"mixed" buffer needs .* maxStorageBufferBindingSize/);
        return true;
      });
      assert.equal((await prepared.run(c.input)).data.length, 256 * 4);
    });
  },
);

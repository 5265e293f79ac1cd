import assert from "node:assert/strict";
import { CondConvSpec } from "../../condconv/spec.ts";
import {
  DEFAULT_FMA_SHAPE,
  type FmaKernelShape,
  instantiateProbe,
  probeModuleBytes,
  supportsRelaxedSimd,
} from "./_roofline_wasm.ts";
import { knownLimits } from "./_roofline_testing.ts";
import {
  condConvBytes,
  disturbances,
  DISTURBED_SPREAD_PERCENT,
  MachineLimits,
  measureMachineLimits,
  RooflinePoint,
  rooflinePoint,
} from "./roofline.ts";

/** What `fma` computes, in float32 step by step: chain j from j, `unroll` steps a turn. */
function expectedFma(shape: FmaKernelShape, iterations: number, m: number, a: number) {
  const f = Math.fround;
  let sum = 0;
  for (let j = 0; j < shape.chains; j++) {
    let x = j;
    for (let step = 0; step < iterations * shape.unroll; step++) x = f(f(x * f(m)) + f(a));
    for (let lane = 0; lane < 4; lane++) sum = f(sum + x);
  }
  return sum;
}

Deno.test("probeModuleBytes() builds a module WebAssembly.validate accepts", async (t) => {
  await t.step(
    "mul + add",
    () => assert.ok(WebAssembly.validate(probeModuleBytes(DEFAULT_FMA_SHAPE))),
  );
  await t.step("relaxed_madd, where the runtime has relaxed SIMD", () => {
    const relaxed = probeModuleBytes({ ...DEFAULT_FMA_SHAPE, relaxed: true });
    assert.equal(WebAssembly.validate(relaxed), supportsRelaxedSimd());
  });
  await t.step("one chain, one step", () => {
    assert.ok(WebAssembly.validate(probeModuleBytes({ chains: 1, unroll: 1, relaxed: false })));
  });
});

Deno.test("probeModuleBytes() refuses a bad shape naming the field", () => {
  assert.throws(() => probeModuleBytes({ ...DEFAULT_FMA_SHAPE, chains: 15 }), {
    name: "RangeError",
    message: /chains/,
  });
  assert.throws(() => probeModuleBytes({ ...DEFAULT_FMA_SHAPE, unroll: 0 }), {
    name: "RangeError",
    message: /unroll/,
  });
});

Deno.test("fma sums its accumulator chains after iterations x unroll multiply-adds", async (t) => {
  const cases: [string, FmaKernelShape, number, number, number][] = [
    ["mul + add, rounding every step", DEFAULT_FMA_SHAPE, 3, 0.75, 0.3],
    ["mul + add, 3 chains x 5", { chains: 3, unroll: 5, relaxed: false }, 2, 1.5, -0.25],
    ["no iterations leaves the start values", DEFAULT_FMA_SHAPE, 0, 2, 1],
  ];
  if (supportsRelaxedSimd()) {
    // exact integers: a fused and an unfused multiply-add agree
    cases.push(["relaxed_madd on exact values", { ...DEFAULT_FMA_SHAPE, relaxed: true }, 2, 2, 1]);
  }
  for (const [name, shape, iterations, m, a] of cases) {
    await t.step(name, async () => {
      const probe = await instantiateProbe(shape);
      assert.equal(probe.fma(iterations, m, a), expectedFma(shape, iterations, m, a));
    });
  }
});

Deno.test("triad writes a[i] = b[i] + s * c[i] and nothing past n", async () => {
  const probe = await instantiateProbe(DEFAULT_FMA_SHAPE);
  const n = 32, guard = 16;
  const floats = new Float32Array(probe.memory.buffer);
  const a = 0, b = n + guard, c = 2 * (n + guard);
  for (let i = 0; i < n + guard; i++) {
    floats[a + i] = -1;
    floats[b + i] = i * 0.37;
    floats[c + i] = 5 - i * 1.1;
  }
  probe.triad(4 * a, 4 * b, 4 * c, n, 1.7);
  const f = Math.fround;
  for (let i = 0; i < n; i++) {
    assert.equal(floats[a + i], f(floats[b + i] + f(f(1.7) * floats[c + i])), `a[${i}]`);
  }
  for (let i = n; i < n + guard; i++) assert.equal(floats[a + i], -1, `a[${i}] past n`);
});

Deno.test("measureMachineLimits() returns positive finite figures that parse", async () => {
  const limits = await measureMachineLimits({
    threads: 2,
    blockMs: 1,
    repetitions: 3,
    maxRepetitions: 5,
    settleRounds: 1,
    triadFloats: 1 << 16,
  });
  MachineLimits.parse(limits);
  assert.equal(limits.threads, 2);
  // at least 3 rounds, at most 5; stops once a round raises no best by 1%
  assert.ok(limits.method.repetitions >= 3 && limits.method.repetitions <= 5);
  for (const figure of [limits.wasmSimdGflops, limits.scalarJsGflops, limits.bandwidthGBps]) {
    for (const f of [figure.oneThread, figure.allThreads]) {
      assert.ok(f.worst <= f.median && f.median <= f.best, JSON.stringify(f));
      assert.ok(Number.isFinite(f.best) && f.worst > 0);
    }
  }
});

Deno.test("measureMachineLimits() refuses bad options naming the field", async () => {
  await assert.rejects(() => measureMachineLimits({ threads: 0 }), {
    name: "RangeError",
    message: /threads/,
  });
  await assert.rejects(() => measureMachineLimits({ repetitions: 9, maxRepetitions: 8 }), {
    name: "RangeError",
    message: /maxRepetitions/,
  });
  await assert.rejects(() => measureMachineLimits({ blockMs: -1 }), {
    name: "RangeError",
    message: /blockMs/,
  });
  await assert.rejects(() => measureMachineLimits({ triadFloats: 10 } as never), {
    name: "RangeError",
    message: /triadFloats/,
  });
});

/** 4 threads: wasm 50 -> 170 GFLOP/s, scalar 2 -> 8, bandwidth 20 -> 50 GB/s. */
const LIMITS = knownLimits(4, [50, 170], [2, 8], [20, 50]);

Deno.test("disturbances() warns of each figure whose median fell far below its best", () => {
  assert.deepEqual(disturbances(LIMITS), []);
  const busy = { best: 30, median: 12, worst: 1, spreadPercent: 60 };
  const atLimit = { ...busy, spreadPercent: DISTURBED_SPREAD_PERCENT };
  const warnings = disturbances({
    ...LIMITS,
    bandwidthGBps: { oneThread: atLimit, allThreads: busy },
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^bandwidthGBps\.allThreads: the median is 60% below the best/);
});

Deno.test("rooflinePoint() places a run under min(peak, intensity x bandwidth)", async (t) => {
  await t.step("compute-bound on one thread", () => {
    // 100 MFLOP, 10 MB: 10 FLOP/byte x 20 GB/s = 200 > 50; 100e6 / 10 ms = 10 GFLOP/s
    const point = RooflinePoint.parse(rooflinePoint(100e6, 10e6, 10, 1, LIMITS));
    assert.equal(point.arithmeticIntensity, 10);
    assert.equal(point.gflops, 10);
    assert.equal(point.ceilingGflops, 50);
    assert.equal(point.boundBy, "compute");
    assert.equal(point.percentOfCeiling, 20);
    assert.equal(point.percentOfPeak, 20);
  });
  await t.step("memory-bound on all threads", () => {
    // 1 FLOP/byte x 50 GB/s = 50 < 170; 40e6 FLOP in 2 ms = 20 GFLOP/s = 40% of 50
    const point = rooflinePoint(40e6, 40e6, 2, 4, LIMITS);
    assert.equal(point.bandwidthGBps, 50);
    assert.equal(point.peakGflops, 170);
    assert.equal(point.ceilingGflops, 50);
    assert.equal(point.boundBy, "memory");
    assert.equal(point.percentOfCeiling, 40);
    assert.ok(Math.abs(point.percentOfPeak - (100 * 20) / 170) < 1e-12);
  });
  await t.step("threads between 1 and all interpolate; more than all take the all figure", () => {
    // 2 of 4 threads: 50 + (170 - 50) / 3 = 90 GFLOP/s, 20 + 30 / 3 = 30 GB/s
    const two = rooflinePoint(1e9, 1e6, 100, 2, LIMITS);
    assert.equal(two.peakGflops, 90);
    assert.equal(two.bandwidthGBps, 30);
    assert.equal(rooflinePoint(1e9, 1e6, 100, 16, LIMITS).peakGflops, 170);
  });
  await t.step("the scalar JavaScript peak on request", () => {
    const point = rooflinePoint(4e6, 1e5, 1, 1, LIMITS, "scalarJs");
    assert.equal(point.peakGflops, 2);
    assert.equal(point.ceilingGflops, 2);
    assert.equal(point.percentOfCeiling, 200);
    assert.equal(point.compute, "scalarJs");
  });
  await t.step("bad arguments name themselves", () => {
    assert.throws(() => rooflinePoint(0, 1, 1, 1, LIMITS), {
      name: "RangeError",
      message: /flops/,
    });
    assert.throws(() => rooflinePoint(1, NaN, 1, 1, LIMITS), {
      name: "RangeError",
      message: /bytes/,
    });
    assert.throws(() => rooflinePoint(1, 1, -2, 1, LIMITS), { name: "RangeError", message: /ms/ });
    assert.throws(() => rooflinePoint(1, 1, 1, 1.5, LIMITS), {
      name: "RangeError",
      message: /threads/,
    });
    assert.throws(() => rooflinePoint(1, 1, 1, 1, LIMITS, "gpu" as never), {
      name: "RangeError",
      message: /compute/,
    });
  });
});

Deno.test("condConvBytes() counts input, output and every weight once, as float32", async (t) => {
  await t.step("3x3 stride 2 'same', per-expert bias, sigmoid routing", () => {
    const spec = CondConvSpec.parse({
      inChannels: 16,
      outChannels: 24,
      kernelSize: 3,
      stride: 2,
      padding: "same",
      numExperts: 4,
      bias: "perExpert",
    });
    const bytes = condConvBytes(spec, [8, 16, 14, 14]);
    assert.equal(bytes.input, 4 * 8 * 16 * 14 * 14);
    assert.equal(bytes.output, 4 * 8 * 24 * 7 * 7);
    assert.equal(bytes.expertKernels, 4 * 4 * 24 * 16 * 3 * 3);
    assert.equal(bytes.bias, 4 * 4 * 24);
    assert.equal(bytes.routing, 4 * (4 * 16 + 4));
    assert.equal(
      bytes.total,
      bytes.input + bytes.output + bytes.expertKernels + bytes.bias + bytes.routing,
    );
    assert.equal(bytes.staticConvTotal, bytes.input + bytes.output + 4 * (24 * 16 * 3 * 3 + 24));
  });
  await t.step("depthwise 5x5, no bias, supplied routing (B x E)", () => {
    const spec = CondConvSpec.parse({
      inChannels: 8,
      outChannels: 8,
      groups: 8,
      kernelSize: 5,
      padding: 2,
      numExperts: 8,
      bias: "none",
      routing: { kind: "supplied" },
    });
    const bytes = condConvBytes(spec, [2, 8, 10, 10]);
    assert.equal(bytes.expertKernels, 4 * 8 * 8 * 1 * 5 * 5);
    assert.equal(bytes.bias, 0);
    assert.equal(bytes.routing, 4 * 2 * 8);
    assert.equal(bytes.output, bytes.input);
    assert.equal(bytes.staticConvTotal, 2 * bytes.input + 4 * 8 * 5 * 5);
  });
  await t.step("a shape the spec cannot apply to is a RangeError", () => {
    const spec = CondConvSpec.parse({ inChannels: 8, outChannels: 8, kernelSize: 1 });
    assert.throws(() => condConvBytes(spec, [1, 4, 2, 2]), {
      name: "RangeError",
      message: /channels/,
    });
  });
});

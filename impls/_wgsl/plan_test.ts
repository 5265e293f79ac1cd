// Plan and WGSL-generation tests: no GPU needed (the GPU runs are in wgsl_test.ts).
import assert from "node:assert/strict";
import { CondConvSpec, type CondConvSpecInput } from "../../condconv/spec.ts";
import { resolveGeometry } from "../../condconv/geometry.ts";
import { chooseConvPath, flatDispatch, planLayer, WORKGROUP_BYTES_BUDGET } from "./plan.ts";
import { DEPTHWISE_MAX_UNROLLED, depthwisePatch, depthwiseTile } from "./depthwise.ts";
import { GEMM_TILES } from "./gemm.ts";
import { poolLanes, REDUCE_WORKGROUP } from "./pool.ts";
import { floatLiteral } from "./stage.ts";

const LIMITS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };

function geometry(spec: CondConvSpecInput, shape: number[]) {
  const parsed = CondConvSpec.parse(spec);
  return { spec: parsed, g: resolveGeometry(parsed, shape) };
}

/** The 13 CondConv-EfficientNet-B0 layers of fixtures/cases.json, as `[spec, H]`. */
const EFFNET: [CondConvSpecInput, number][] = [
  ...([
    [80, 480, 14],
    [112, 672, 14],
    [192, 1152, 7],
    [480, 112, 14],
    [672, 112, 14],
    [
      672,
      192,
      7,
    ],
    [1152, 192, 7],
    [1152, 320, 7],
  ] as const).map(([c, o, h]): [CondConvSpecInput, number] => [
    { inChannels: c, outChannels: o, kernelSize: 1, numExperts: 8, bias: "none" },
    h,
  ]),
  ...([[480, 5, 1, 14], [672, 5, 1, 14], [672, 5, 2, 14], [1152, 5, 1, 7], [
    1152,
    3,
    1,
    7,
  ]] as const)
    .map(([c, k, s, h]): [CondConvSpecInput, number] => [
      {
        inChannels: c,
        outChannels: c,
        kernelSize: k,
        stride: s,
        groups: c,
        padding: "same",
        numExperts: 8,
        bias: "none",
      },
      h,
    ]),
];

Deno.test("flatDispatch spreads workgroups over x and y within the limit", () => {
  assert.deepEqual(flatDispatch(1, 65535), [1, 1]);
  assert.deepEqual(flatDispatch(65535, 65535), [65535, 1]);
  assert.deepEqual(flatDispatch(65536, 65535), [65535, 2]);
  assert.deepEqual(flatDispatch(10, 4), [4, 3]);
  assert.throws(() => flatDispatch(17, 4), /more than "4" squared/);
  assert.throws(() => flatDispatch(0, 4), RangeError);
});

Deno.test("chooseConvPath: depthwise, 1x1 GEMM, or general", () => {
  const path = (spec: CondConvSpecInput, shape = [1, 8, 7, 7]) =>
    chooseConvPath(geometry(spec, shape).g);
  const base = { inChannels: 8, outChannels: 8 };
  assert.equal(path({ ...base, kernelSize: 1 }), "gemm-1x1");
  assert.equal(path({ ...base, kernelSize: 1, groups: 2 }), "gemm-1x1");
  assert.equal(path({ ...base, kernelSize: 1, padding: "same" }), "gemm-1x1");
  assert.equal(path({ ...base, kernelSize: 1, stride: 2 }), "general");
  assert.equal(path({ ...base, kernelSize: 1, padding: 1 }), "general");
  assert.equal(path({ ...base, kernelSize: 3, padding: 1 }), "general");
  assert.equal(path({ ...base, kernelSize: 3, groups: 8 }), "depthwise");
  assert.equal(path({ ...base, outChannels: 16, kernelSize: 1, groups: 8 }), "depthwise");
});

Deno.test("depthwiseTile: 2x2 blocks that fit, smaller blocks for large kernels", () => {
  const { g } = geometry(EFFNET[11][0], [1, 1152, 7, 7]);
  const tile = depthwiseTile(g, WORKGROUP_BYTES_BUDGET)!;
  assert.deepEqual(tile, { threadsY: 4, threadsX: 4, blockY: 2, blockX: 2 });
  const stride2 = geometry(EFFNET[10][0], [1, 672, 14, 14]).g;
  assert.deepEqual(depthwiseTile(stride2, WORKGROUP_BYTES_BUDGET), {
    threadsY: 4,
    threadsX: 4,
    blockY: 2,
    blockX: 2,
  });
  const big = geometry({ inChannels: 2, outChannels: 2, kernelSize: 7, groups: 2 }, [
    1,
    2,
    64,
    64,
  ]).g;
  const bigTile = depthwiseTile(big, WORKGROUP_BYTES_BUDGET)!;
  assert.ok(bigTile.blockY * bigTile.blockX * 49 <= DEPTHWISE_MAX_UNROLLED);
  const [ph, pw] = depthwisePatch(
    big,
    bigTile.threadsY * bigTile.blockY,
    bigTile.threadsX * bigTile.blockX,
  );
  assert.ok(4 * (ph * pw + 49) <= WORKGROUP_BYTES_BUDGET);
  const huge = geometry({ inChannels: 2, outChannels: 2, kernelSize: 3, dilation: 40, groups: 2 }, [
    1,
    2,
    84,
    84,
  ]).g;
  assert.equal(depthwiseTile(huge, WORKGROUP_BYTES_BUDGET), undefined);
});

Deno.test("poolLanes: about eight elements a lane, up to the workgroup", () => {
  assert.equal(poolLanes(1), 1);
  assert.equal(poolLanes(8), 1);
  assert.equal(poolLanes(49), 8);
  assert.equal(poolLanes(196), 32);
  assert.equal(poolLanes(112 * 112), REDUCE_WORKGROUP);
});

Deno.test("floatLiteral never reads as an integer", () => {
  assert.equal(floatLiteral(1), "1.0f");
  assert.equal(floatLiteral(0.25), "0.25f");
  assert.equal(floatLiteral(30), "30.0f");
  assert.equal(floatLiteral(1e21), "1e+21f");
  assert.equal(floatLiteral(1e-7), "1e-7f");
});

Deno.test("GEMM_TILES: register tiles of vec4 columns, at most 64 invocations", () => {
  for (const t of Object.values(GEMM_TILES)) {
    assert.ok(t.threads >= 1 && t.threads <= 64, `${t.threads}`);
    assert.equal(t.threads, (t.TM / t.RM) * (t.TN / 4));
    assert.equal(t.TM % t.RM, 0);
    assert.equal(t.RM % 4, 0);
    assert.equal(t.TN % 4, 0);
  }
});

Deno.test("planLayer: every EfficientNet-B0 layer fits the default limits at batch 1 and 64", () => {
  for (const [spec, h] of EFFNET) {
    for (const batch of [1, 64]) {
      const { spec: parsed, g } = geometry(spec, [batch, spec.inChannels, h, h]);
      const plan = planLayer(parsed, g, LIMITS);
      assert.equal(plan.convPath, parsed.groups > 1 ? "depthwise" : "gemm-1x1");
      assert.deepEqual(plan.stages.map((s) => s.name), ["pool", "route", "mix", "conv"]);
      assert.ok(plan.convWorkgroupBytes <= 16384);
      for (const stage of plan.stages) {
        assert.ok(stage.workgroups >= 1);
        assert.ok(flatDispatch(stage.workgroups, 65535));
        const bindings = stage.code.match(/@binding\(/g)?.length;
        // the storage buffers, then the uniform parameters
        assert.equal(bindings, stage.bindings.length + 1, `${stage.name} bindings`);
        assert.match(stage.code, /@compute @workgroup_size\(\d+\)/);
      }
      assert.equal(
        plan.floats.mixed,
        batch * parsed.outChannels * g.channelsPerGroup * g.kernelHeight ** 2,
      );
    }
  }
});

Deno.test("planLayer: supplied routing skips pool and route; per-expert bias rides in mixed", () => {
  const { spec, g } = geometry({
    inChannels: 4,
    outChannels: 6,
    kernelSize: 3,
    routing: { kind: "supplied" },
    bias: "perExpert",
  }, [2, 4, 5, 5]);
  const plan = planLayer(spec, g, LIMITS);
  assert.deepEqual(plan.stages.map((s) => s.name), ["mix", "conv"]);
  assert.equal(plan.mixedStride, 6 * 4 * 9 + 6);
  // every conv binds a bias buffer (a placeholder unless shared): one pipeline for all kinds
  assert.deepEqual(plan.stages[1].bindings, ["input", "mixed", "bias", "output"]);
  const shared = geometry({ inChannels: 4, outChannels: 6, kernelSize: 3 }, [2, 4, 5, 5]);
  const sharedPlan = planLayer(shared.spec, shared.g, LIMITS);
  assert.deepEqual(sharedPlan.stages[3].bindings, ["input", "mixed", "bias", "output"]);
  // 6 * 4 * 9 = 216 floats a row: vec4 mixing
  assert.match(sharedPlan.stages[2].code, /array<vec4f>/);
});

Deno.test("planLayer: refuses a conv the device cannot run", () => {
  const { spec, g } = geometry({ inChannels: 64, outChannels: 64, kernelSize: 1 }, [1, 64, 8, 8]);
  assert.throws(
    () => planLayer(spec, g, { ...LIMITS, maxComputeInvocationsPerWorkgroup: 16 }),
    /Cannot plan the "gemm-1x1" convolution: it needs 64 invocations/,
  );
});

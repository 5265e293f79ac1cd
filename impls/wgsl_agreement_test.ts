/**
 * The wgsl adapter against the reference adapter, one case per convolution path and feature,
 * each checking the path the layer takes. Ignored (with the reason) where no GPU adapter is.
 * @module
 */
import type { CondConvSpecInput } from "../condconv/spec.ts";
import type { ConvPath } from "./_wgsl/plan.ts";
import { assertAgrees, gpuTest, type InputSize, small } from "./_wgsl/testing.ts";

/** One agreement case: a seeded layer, its input size and the path it must take. */
interface AgreementCase {
  name: string;
  seed: number;
  spec: CondConvSpecInput;
  size: InputSize;
  path: ConvPath;
}

const supplied = { kind: "supplied" } as const;

const CASES: AgreementCase[] = [
  {
    name: "1x1 GEMM, shared bias, odd sizes",
    seed: 11,
    spec: { inChannels: 12, outChannels: 20, kernelSize: 1 },
    size: [2, 5, 7],
    path: "gemm-1x1",
  },
  {
    name: "1x1 GEMM with groups, per-expert bias, softmax",
    seed: 12,
    spec: {
      inChannels: 8,
      outChannels: 12,
      kernelSize: 1,
      groups: 2,
      bias: "perExpert",
      numExperts: 5,
      routing: { kind: "softmax", temperature: 0.5 },
    },
    size: [2, 6, 6],
    path: "gemm-1x1",
  },
  {
    name: "1x1 GEMM over more than one tile each way",
    seed: 13,
    spec: { inChannels: 40, outChannels: 72, kernelSize: 1, bias: "none" },
    size: [1, 7, 9],
    path: "gemm-1x1",
  },
  {
    name: "depthwise 3x3",
    seed: 21,
    spec: { ...small, inChannels: 6, outChannels: 6, groups: 6 },
    size: [2, 9, 9],
    path: "depthwise",
  },
  {
    name: "depthwise 5x5 stride 2 TensorFlow same (asymmetric)",
    seed: 22,
    spec: { inChannels: 4, outChannels: 4, kernelSize: 5, stride: 2, padding: "same", groups: 4 },
    size: [2, 14, 14],
    path: "depthwise",
  },
  {
    name: "depthwise multiplier 2, replicate, per-expert bias",
    seed: 23,
    spec: { ...small, groups: 4, paddingMode: "replicate", padding: 2, bias: "perExpert" },
    size: [1, 7, 10],
    path: "depthwise",
  },
  {
    name: "depthwise dilation 2, circular, supplied routing, 3 tiles",
    seed: 24,
    spec: {
      inChannels: 3,
      outChannels: 3,
      kernelSize: [3, 2],
      dilation: 2,
      padding: [2, 1],
      paddingMode: "circular",
      groups: 3,
      routing: supplied,
    },
    size: [2, 20, 5],
    path: "depthwise",
  },
  {
    // one output's patch is 81x81 floats, over 16 KiB
    name: "depthwise too large for workgroup memory goes general",
    seed: 25,
    spec: { inChannels: 2, outChannels: 2, kernelSize: 3, dilation: 40, groups: 2 },
    size: [1, 84, 84],
    path: "general",
  },
  {
    name: "general, groups 2, dilation 2, reflect, per-expert",
    seed: 31,
    spec: {
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
    size: [2, 9, 12],
    path: "general",
  },
  {
    name: "general, circular same stride 2, supplied routing",
    seed: 32,
    spec: {
      ...small,
      kernelSize: 4,
      stride: 2,
      padding: "same",
      paddingMode: "circular",
      routing: supplied,
    },
    size: [2, 10, 11],
    path: "general",
  },
  {
    name: "general, stride [1, 2], zeros, 16 experts, wide",
    seed: 33,
    spec: { ...small, inChannels: 20, outChannels: 36, stride: [1, 2], numExperts: 16 },
    size: [1, 6, 13],
    path: "general",
  },
  {
    name: "1x1 with stride 2 is general",
    seed: 34,
    spec: { ...small, kernelSize: 1, stride: 2, padding: 0 },
    size: [2, 7, 7],
    path: "general",
  },
];

for (const c of CASES) {
  gpuTest(
    `wgsl agrees with reference: ${c.name}`,
    () => assertAgrees(c.seed, c.spec, c.size, c.path),
  );
}

// Extents that are not powers of two: wgpu's GL backend passed WGSL's i32 `%` through to
// GLSL, where it is undefined for negative operands (-1 % 6 came out as 3), so circular
// padding read the wrong row on 6, 10 and 14 but happened to be right on 4, 8 and 16.
for (const paddingMode of ["circular", "reflect", "replicate"] as const) {
  gpuTest(
    `wgsl agrees with reference: ${paddingMode} padding on extents 6, 10 and 14`,
    async (t) => {
      const sizes: [number, number][] = [[6, 6], [10, 10], [14, 14], [6, 14], [10, 6]];
      const depthwise = { inChannels: 4, outChannels: 4, groups: 4, kernelSize: 5, stride: 2 };
      for (const [n, [h, w]] of sizes.entries()) {
        await t.step(`general ${h}x${w}, kernel 5, padding 2`, () =>
          assertAgrees(
            60 + n,
            { ...small, kernelSize: 5, padding: 2, paddingMode },
            [1, h, w],
            "general",
          ));
        await t.step(
          `depthwise ${h}x${w}, kernel 5, padding 2, stride 2`,
          () =>
            assertAgrees(70 + n, { ...depthwise, padding: 2, paddingMode }, [2, h, w], "depthwise"),
        );
      }
    },
  );
}

/**
 * The CondConv formulations tfjs can express: how the per-example convolution is written
 * with the ops tfjs has. The names are the project's formulation axis (issue 18), shared with
 * the ONNX adapters where they describe the same thing.
 *
 * - `"batched-matmul"` (im2col): the padded NCHW input is cut into `kh * kw` strided slices,
 *   stacked into patches `(B * groups, C/groups * kh * kw, outH * outW)`, and multiplied by
 *   the mixed kernels `(B * groups, O/groups, C/groups * kh * kw)` in one batched matMul,
 *   whose result is already NCHW. A 1x1 kernel with stride 1 and no padding needs no slicing
 *   at all: the input reshaped is the patch matrix (the EfficientNet expand/project layers).
 * - `"depthwise-folded"` (groups == inChannels): the batch is folded into the channels, input
 *   `(1, H, W, B * C)` and per-example kernels `(kh, kw, B * C, multiplier)`, one
 *   `depthwiseConv2d` for the whole batch.
 * - `"per-example"`: one `conv2d` per example and group, with that example's mixed kernel, a
 *   JS loop over the batch.
 * - `"expert-sum"`: no kernel mixing; the `E` expert kernels stay static, as one convolution
 *   with `E x O` output channels over the whole batch (`depthwiseConv2d` with multiplier
 *   `E x O/C` when depthwise), whose outputs are then mixed per example with the routing
 *   weights (`mixOutputs`). `E` times the convolution FLOPs, but the weights never change.
 *
 * `"grouped"` (the batch folded into the groups of one grouped convolution) is not
 * expressible: tfjs's `conv2d` has no groups, and its only grouped convolution,
 * `depthwiseConv2d`, is `"depthwise-folded"`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { convInput, groupedConv, pads, padSpatial } from "./conv.ts";
import { type KernelMixing, mixOutputs } from "./kernel_mixing.ts";

/** How a prepared layer computes its convolution (see the module doc). */
export type TfjsFormulation = "batched-matmul" | "depthwise-folded" | "per-example" | "expert-sum";

/** Every formulation tfjs expresses, for tests and measurements that force one. */
export const TFJS_FORMULATIONS: readonly TfjsFormulation[] = [
  "batched-matmul",
  "depthwise-folded",
  "per-example",
  "expert-sum",
];

/** Formulations of the project's axis that tfjs cannot express, with the reason. */
export const INEXPRESSIBLE_FORMULATIONS: Readonly<Record<string, string>> = {
  grouped: "tfjs has no grouped convolution: conv2d takes no groups, and depthwiseConv2d " +
    "(groups == inChannels) is the depthwise-folded formulation",
};

/**
 * Why `formulation` cannot compute `spec` on tfjs, or `undefined` when it can. Only
 * `"depthwise-folded"` is restricted (to groups == inChannels); an unknown name is named.
 */
export function formulationProblem(spec: CondConvSpec, formulation: string): string | undefined {
  if (Object.hasOwn(INEXPRESSIBLE_FORMULATIONS, formulation)) {
    return `the formulation "${formulation}" is not expressible on tfjs: ` +
      INEXPRESSIBLE_FORMULATIONS[formulation];
  }
  if (!(TFJS_FORMULATIONS as readonly string[]).includes(formulation)) {
    return `unknown formulation "${formulation}" (formulations: ${TFJS_FORMULATIONS.join(", ")})`;
  }
  if (formulation === "depthwise-folded" && spec.groups !== spec.inChannels) {
    return `the formulation "depthwise-folded" needs groups == inChannels, got groups ` +
      `${spec.groups} and inChannels ${spec.inChannels}`;
  }
  return undefined;
}

/** The kernel shape of a layer: `O`, `C/groups`, `kh`, `kw`. */
export interface KernelShape {
  outChannels: number;
  channelsPerGroup: number;
  kernelHeight: number;
  kernelWidth: number;
}

/**
 * The expert kernels `(E, O * C/g * kh * kw)` as rows to mix, in the layout the mixed-kernel
 * formulations want: `(O, C/g, kh, kw)` for `"batched-matmul"` (as given), `(kh, kw, C/g, O)`
 * (HWIO) for the conv2d-based ones.
 */
export function mixedKernelLayout(
  raw: tf.Tensor2D,
  k: KernelShape,
  formulation: Exclude<TfjsFormulation, "expert-sum">,
): tf.Tensor2D {
  if (formulation === "batched-matmul") return raw;
  const { outChannels: o, channelsPerGroup: cg, kernelHeight: kh, kernelWidth: kw } = k;
  const e = raw.shape[0];
  const experts = tf.reshape(raw, [e, o, cg, kh, kw]);
  return tf.reshape(tf.transpose(experts, [0, 3, 4, 2, 1]), [e, kh * kw * cg * o]);
}

/**
 * The `"expert-sum"` formulation's static filter from the expert kernels
 * `(E, O * C/g * kh * kw)`: `(kh, kw, C/g, O * E)`, whose output channel `o * E + e` is expert
 * `e`'s channel `o`; for a depthwise layer the same values as `(kh, kw, C, multiplier * E)`,
 * whose channel `c * multiplier * E + j * E + e` is again `o * E + e`.
 */
export function expertSumFilter(
  raw: tf.Tensor2D,
  k: KernelShape,
  depthwiseChannels?: number,
): tf.Tensor4D {
  const { outChannels: o, channelsPerGroup: cg, kernelHeight: kh, kernelWidth: kw } = k;
  const e = raw.shape[0];
  const hwioe = tf.transpose(tf.reshape(raw, [e, o, cg, kh, kw]), [3, 4, 2, 1, 0]);
  return depthwiseChannels === undefined
    ? tf.reshape(hwioe, [kh, kw, cg, o * e])
    : tf.reshape(hwioe, [kh, kw, depthwiseChannels, (o / depthwiseChannels) * e]);
}

/** im2col + one batched matMul, NCHW throughout. */
export function batchedMatmulConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, groups, channelsPerGroup: cg, outChannelsPerGroup: og } = g;
  const { kernelHeight: kh, kernelWidth: kw, outHeight: oh, outWidth: ow } = g;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = g;
  const xp = padSpatial(x, 2, pads(g), mode);
  let patches: tf.Tensor;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
    patches = xp;
  } else {
    const slices: tf.Tensor4D[] = [];
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        const begin = [0, 0, u * dh, v * dw];
        slices.push(
          sh === 1 && sw === 1 ? tf.slice(xp, begin, [b, g.inChannels, oh, ow]) : tf.stridedSlice(
            xp,
            begin,
            [b, g.inChannels, u * dh + (oh - 1) * sh + 1, v * dw + (ow - 1) * sw + 1],
            [1, 1, sh, sw],
          ) as tf.Tensor4D,
        );
      }
    }
    // (B, C, kh * kw, oh, ow): row (c, u, v) of each group's patch matrix
    patches = slices.length === 1 ? slices[0] : tf.stack(slices, 2);
  }
  const columns = tf.reshape(patches, [b * groups, cg * kh * kw, oh * ow]);
  const filters = tf.reshape(kernels, [b * groups, og, cg * kh * kw]);
  return tf.reshape(tf.matMul(filters, columns), [b, g.outChannels, oh, ow]);
}

/** One depthwiseConv2d for the whole batch, folded into the channels. */
export function depthwiseFoldedConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, inChannels: c, kernelHeight: kh, kernelWidth: kw } = g;
  const multiplier = g.outChannelsPerGroup;
  // (B, C, H, W) -> (H, W, B, C) -> (1, H, W, B * C)
  const folded = tf.reshape<tf.Rank.R4>(tf.transpose(x, [2, 3, 0, 1]), [
    1,
    g.inHeight,
    g.inWidth,
    b * c,
  ]);
  // (B, kh * kw * C * m) -> (kh * kw, B, C * m) -> (kh, kw, B * C, m)
  const perTap = b === 1
    ? kernels
    : tf.transpose(tf.reshape(kernels, [b, kh * kw, c * multiplier]), [1, 0, 2]);
  const filter = tf.reshape(perTap, [kh, kw, b * c, multiplier]) as tf.Tensor4D;
  const { input, pad } = convInput(folded, g, mode);
  const y = groupedConv(input, pad, filter, g, true);
  // (1, oh, ow, B * O): channel (b * C + c) * m + j = b * O + o -> (B, O, oh, ow)
  return tf.transpose(tf.reshape(y, [g.outHeight, g.outWidth, b, g.outChannels]), [2, 3, 0, 1]);
}

/** One conv2d per example and group, each with that example's mixed kernel. */
export function perExampleConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { kernelHeight: kh, kernelWidth: kw } = g;
  const { input, pad } = convInput(tf.transpose(x, [0, 2, 3, 1]), g, mode);
  const [, hp, wp] = input.shape;
  const outputs: tf.Tensor4D[] = [];
  for (let i = 0; i < g.batch; i++) {
    // (kh, kw, C/g, O) for example i
    const filter = tf.reshape<tf.Rank.R4>(tf.slice(kernels, [i, 0], [1, -1]), [
      kh,
      kw,
      g.channelsPerGroup,
      g.outChannels,
    ]);
    const example = tf.slice(input, [i, 0, 0, 0], [1, hp, wp, g.inChannels]);
    outputs.push(groupedConv(example, pad, filter, g, false));
  }
  const y = outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
  return tf.transpose(y, [0, 3, 1, 2]);
}

/**
 * The static expert filter `(kh, kw, C/g, O * E)` over the whole batch, then
 * `y[b, o] = sum_e r[b, e] * y_e[b, o]` at every output position.
 */
export function expertSumConv(
  x: tf.Tensor4D,
  expertFilter: tf.Tensor4D,
  r: tf.Tensor2D,
  kernelMixing: KernelMixing,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, outChannels: o, numExperts: e, outHeight: oh, outWidth: ow } = g;
  const { input, pad } = convInput(tf.transpose(x, [0, 2, 3, 1]), g, mode);
  const depthwise = g.groups === g.inChannels;
  // (B, oh, ow, O * E) -> (B, oh * ow * O, E), channel o * E + e
  const y = tf.reshape<tf.Rank.R3>(groupedConv(input, pad, expertFilter, g, depthwise), [
    b,
    oh * ow * o,
    e,
  ]);
  const mixed = tf.reshape<tf.Rank.R4>(mixOutputs(y, r, kernelMixing), [b, oh, ow, o]);
  return tf.transpose(mixed, [0, 3, 1, 2]);
}

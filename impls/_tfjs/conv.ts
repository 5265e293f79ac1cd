/**
 * Convolution building blocks on tfjs shared by the formulations and the static convolution:
 * PyTorch's padding modes, the stride and dilation tfjs accepts, and a grouped NHWC
 * convolution (tfjs has no `groups` argument).
 *
 * Strides and dilations both above 1 are not accepted by tfjs's `conv2d` and
 * `depthwiseConv2d`; `groupedConv` then convolves with stride 1 and keeps every stride-th
 * output (`stridedSlice`).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";

/** Spatial padding: top, bottom, left, right. */
export type Pads = readonly [top: number, bottom: number, left: number, right: number];

/** The geometry's spatial padding. */
export function pads(g: Geometry): Pads {
  return [g.padTop, g.padBottom, g.padLeft, g.padRight];
}

/**
 * Pads the two spatial axes `[hAxis, hAxis + 1]` of a rank-4 tensor as PyTorch's `F.pad`
 * modes do. Every mode is a separable index map, so padding one axis after the other gives
 * the same corners as padding both at once.
 */
export function padSpatial(
  x: tf.Tensor4D,
  hAxis: 1 | 2,
  pads: Pads,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const [top, bottom, left, right] = pads;
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return x;
  if (mode === "zeros" || mode === "reflect") {
    const paddings: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    paddings[hAxis] = [top, bottom];
    paddings[hAxis + 1] = [left, right];
    return mode === "zeros" ? tf.pad(x, paddings) : tf.mirrorPad(x, paddings, "reflect");
  }
  let out = x;
  for (const [axis, before, after] of [[hAxis, top, bottom], [hAxis + 1, left, right]]) {
    if (before === 0 && after === 0) continue;
    const size = out.shape[axis];
    const take = (start: number, length: number): tf.Tensor4D => {
      const begin = [0, 0, 0, 0], extent = [-1, -1, -1, -1];
      begin[axis] = start;
      extent[axis] = length;
      return tf.slice(out, begin, extent);
    };
    const parts: tf.Tensor4D[] = [];
    if (mode === "replicate") {
      const repeat = (edge: tf.Tensor4D, times: number): tf.Tensor4D => {
        const reps = [1, 1, 1, 1];
        reps[axis] = times;
        return tf.tile(edge, reps);
      };
      if (before > 0) parts.push(repeat(take(0, 1), before));
      parts.push(out);
      if (after > 0) parts.push(repeat(take(size - 1, 1), after));
    } else {
      // circular: the last `before` rows wrap to the front, the first `after` to the back
      if (before > 0) parts.push(take(size - before, before));
      parts.push(out);
      if (after > 0) parts.push(take(0, after));
    }
    out = tf.concat(parts, axis);
  }
  return out;
}

/** The padding argument of a tfjs NHWC convolution. */
export type ConvPadding = [[0, 0], [number, number], [number, number], [0, 0]] | "valid";

/**
 * An NHWC input ready for `groupedConv`: zero padding is left to the convolution (explicit
 * padding), the other modes are applied beforehand.
 */
export function convInput(
  xNhwc: tf.Tensor4D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): { input: tf.Tensor4D; pad: ConvPadding } {
  const p = pads(g);
  if (mode === "zeros") return { input: xNhwc, pad: [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]] };
  return { input: padSpatial(xNhwc, 1, p, mode), pad: "valid" };
}

/** Stride and dilation for tfjs convolutions, which reject both above 1 at once. */
function convSteps(g: Geometry): { strides: [number, number]; subsample: boolean } {
  const strided = g.strideHeight > 1 || g.strideWidth > 1;
  const dilated = g.dilationHeight > 1 || g.dilationWidth > 1;
  const subsample = strided && dilated;
  return { strides: subsample ? [1, 1] : [g.strideHeight, g.strideWidth], subsample };
}

/** Keeps every stride-th output of a stride-1 NHWC convolution. */
export function subsampleNhwc(y: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  const [n, , , c] = y.shape;
  return tf.stridedSlice(
    y,
    [0, 0, 0, 0],
    [n, (g.outHeight - 1) * g.strideHeight + 1, (g.outWidth - 1) * g.strideWidth + 1, c],
    [1, g.strideHeight, g.strideWidth, 1],
  ) as tf.Tensor4D;
}

/**
 * The convolution of `spec`'s geometry on an input from `convInput`, NHWC in and out, with
 * any number of output channels per group (the filter's last axis divided by `groups`):
 * - `depthwise` (needs groups == inChannels): one `depthwiseConv2d`, filter
 *   `(kh, kw, C, multiplier)`, output channel `c * multiplier + j`;
 * - else one `conv2d` when `groups` is 1, one per group otherwise, filter
 *   `(kh, kw, C/groups, outPerGroup * groups)`, group `j` owning the `j`-th block of outputs.
 */
export function groupedConv(
  input: tf.Tensor4D,
  pad: ConvPadding,
  filter: tf.Tensor4D,
  g: Geometry,
  depthwise: boolean,
): tf.Tensor4D {
  const { strides, subsample } = convSteps(g);
  const dilations: [number, number] = [g.dilationHeight, g.dilationWidth];
  let y: tf.Tensor4D;
  if (depthwise) {
    y = tf.depthwiseConv2d(input, filter, strides, pad, "NHWC", dilations);
  } else if (g.groups === 1) {
    y = tf.conv2d(input, filter, strides, pad, "NHWC", dilations);
  } else {
    const [n, hp, wp] = input.shape;
    const cg = g.channelsPerGroup, outPerGroup = filter.shape[3] / g.groups;
    const parts = Array.from({ length: g.groups }, (_, j) =>
      tf.conv2d(
        tf.slice(input, [0, 0, 0, j * cg], [n, hp, wp, cg]),
        tf.slice(filter, [0, 0, 0, j * outPerGroup], [-1, -1, cg, outPerGroup]),
        strides,
        pad,
        "NHWC",
        dilations,
      ));
    y = tf.concat(parts, 3);
  }
  return subsample ? subsampleNhwc(y, g) : y;
}

/**
 * The parts of the CondConv graph (`onnx_graph.ts`): padding, routing, kernel mixing, bias, and
 * the per-example convolution in its formulations. The one `Conv` node is emitted by
 * {@link addConv}, which can change it to avoid onnxruntime-web's WebGPU Conv bugs
 * (`onnx_graph_conv_bugs.ts`).
 * @module
 */
import type { CondConvSpec, CondConvWeights } from "../spec.ts";
import type { Geometry } from "../geometry.ts";
import {
  type GraphBuilder,
  INPUT_NAME,
  intAttribute,
  intsAttribute,
  type KernelMixing,
  ROUTING_INPUT_NAME,
} from "./onnx_graph_builder.ts";
import {
  applyConvWorkaround,
  avoidConvBug,
  type ConvNode,
  convNodeOutput,
  type ConvWorkaround,
  type OrtWebgpuConvBug,
  ortWebgpuConvBug,
} from "./onnx_graph_conv_bugs.ts";

/** Circular padding of one spatial axis (2 or 3) from `Slice` + `Concat`. */
function wrapAxis(
  b: GraphBuilder,
  x: string,
  axis: number,
  size: number,
  before: number,
  after: number,
) {
  if (before === 0 && after === 0) return x;
  const parts: string[] = [];
  if (before > 0) parts.push(b.slice(x, [size - before], [size], [axis], undefined, "wrap_before"));
  parts.push(x);
  if (after > 0) parts.push(b.slice(x, [0], [after], [axis], undefined, "wrap_after"));
  return b.op("Concat", parts, [intAttribute("axis", axis)], "wrap");
}

/**
 * Pads `x` (`(B, C, H, W)`) as the spec says. With `zerosInConv`, zero padding is left to
 * the convolution and `x` is returned as it is.
 */
export function addPadding(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  x: string,
  zerosInConv: boolean,
): string {
  const { padTop, padBottom, padLeft, padRight } = g;
  if (padTop + padBottom + padLeft + padRight === 0) return x;
  if (spec.paddingMode === "zeros" && zerosInConv) return x;
  if (spec.paddingMode === "circular") {
    const rows = wrapAxis(b, x, 2, g.inHeight, padTop, padBottom);
    return wrapAxis(b, rows, 3, g.inWidth, padLeft, padRight);
  }
  const mode = { zeros: "constant", reflect: "reflect", replicate: "edge" }[spec.paddingMode];
  return b.pad(x, [0, 0, padTop, padLeft, 0, 0, padBottom, padRight], mode);
}

/** Routing weights `(B, E)`: computed from the input, or the `"routing"` graph input. */
export function addRouting(
  b: GraphBuilder,
  spec: CondConvSpec,
  weights: CondConvWeights,
  g: Geometry,
): string {
  if (spec.routing.kind === "supplied") return ROUTING_INPUT_NAME;
  const pooled = b.op("GlobalAveragePool", [INPUT_NAME], [], "pooled");
  const flat = b.op("Flatten", [pooled], [intAttribute("axis", 1)], "pooled_flat");
  const fcWeight = b.floats("routing_weight", [g.numExperts, g.inChannels], weights.routingWeight!);
  const fcBias = b.floats("routing_bias", [g.numExperts], weights.routingBias!);
  const logits = b.op("Gemm", [flat, fcWeight, fcBias], [intAttribute("transB", 1)], "logits");
  if (spec.routing.kind === "sigmoid") return b.op("Sigmoid", [logits], [], "routing_weights");
  const temperature = b.floats("temperature", [], [spec.routing.temperature]);
  const scaled = b.op("Div", [logits, temperature], [], "logits_scaled");
  return b.op("Softmax", [scaled], [intAttribute("axis", 1)], "routing_weights");
}

/**
 * `sum_e r[b, e] * experts[e, :]`: routing `(B, E)` times experts `(E, N)`, as one `MatMul`
 * or as `Unsqueeze` + `Mul` (broadcast to `(B, E, N)`) + `ReduceSum` over the experts.
 */
export function mix(
  b: GraphBuilder,
  routing: string,
  experts: string,
  mixing: KernelMixing,
  base: string,
): string {
  if (mixing === "matmul") return b.op("MatMul", [routing, experts], [], base);
  const column = b.op("Unsqueeze", [routing, b.ints("axes", [2])], [], `${base}_routing`);
  const terms = b.op("Mul", [column, experts], [], `${base}_terms`);
  return b.op("ReduceSum", [terms, b.ints("axes", [1])], [intAttribute("keepdims", 0)], base);
}

/** The bias `(B|1, O, 1, 1)` to add to the convolution's output, if any. */
export function addBias(
  b: GraphBuilder,
  spec: CondConvSpec,
  weights: CondConvWeights,
  g: Geometry,
  routing: string,
  mixing: KernelMixing,
): string | undefined {
  if (spec.bias === "none") return undefined;
  if (spec.bias === "shared") return b.floats("bias", [g.outChannels, 1, 1], weights.bias!);
  const experts = b.floats("expert_bias", [g.numExperts, g.outChannels], weights.bias!);
  const mixed = mix(b, routing, experts, mixing, "mixed_bias");
  return b.reshape(mixed, [-1, g.outChannels, 1, 1], "mixed_bias_4d");
}

/** The `Conv` node of a layer with geometry `g`, its input `(batch, group * C/g, ., .)`. */
export function convNodeOf(
  spec: CondConvSpec,
  g: Geometry,
  batch: number,
  group: number,
): ConvNode {
  const zeros = spec.paddingMode === "zeros";
  const { padTop, padLeft, padBottom, padRight } = g;
  return {
    ...g, // channels per group, kernel, strides, dilations (the rest is not read)
    batch,
    group,
    // other padding modes are a Pad node before the Conv
    height: zeros ? g.inHeight : g.inHeight + padTop + padBottom,
    width: zeros ? g.inWidth : g.inWidth + padLeft + padRight,
    pads: zeros ? [padTop, padLeft, padBottom, padRight] : [0, 0, 0, 0],
  };
}

/** What {@link addConv} emitted: the output, and the WebGPU bug it found and avoided. */
export interface EmittedConv {
  output: string;
  /** the bug onnxruntime-web's WebGPU EP shows on the node as the spec asks for it */
  bug: OrtWebgpuConvBug | null;
  /** the change made to avoid it (only with workarounds on), or null */
  workaround: ConvWorkaround | null;
}

/**
 * Emits `Conv(x, kernel[, bias])` for `node`: `x` `(N, group * C/g, H, W)`, `kernel`
 * `(group * O/g, C/g, kh, kw)`, `bias` `(O)`. With `workarounds`, a node onnxruntime-web's
 * WebGPU EP would get wrong is changed (zero channels, or a zero kernel row on top) and its
 * output sliced back: the numbers are the same on every correct runtime.
 */
export function addConv(
  b: GraphBuilder,
  node: ConvNode,
  x: string,
  kernel: string,
  options: { workarounds: boolean; bias?: string },
): EmittedConv {
  const bug = ortWebgpuConvBug(node) ?? null;
  const workaround = options.workarounds ? avoidConvBug(node) ?? null : null;
  const n = workaround ? applyConvWorkaround(node, workaround) : node;
  const { group, channelsPerGroup: c, outChannelsPerGroup: o } = node;
  const [kh, kw] = [node.kernelHeight, node.kernelWidth];
  let input = x, weights = kernel, bias = options.bias;
  if (n.channelsPerGroup > c) {
    const extra = n.channelsPerGroup - c;
    const grouped = b.reshape(input, [0, group, c, -1], "input_groups");
    const padded = b.pad(grouped, [0, 0, 0, 0, 0, 0, extra, 0], "constant", "input_channels");
    input = b.reshape(padded, [0, group * n.channelsPerGroup, n.height, n.width], "input_padded");
    weights = b.pad(weights, [0, 0, 0, 0, 0, extra, 0, 0], "constant", "kernel_channels");
  }
  if (n.outChannelsPerGroup > o) {
    const extra = n.outChannelsPerGroup - o;
    const perGroup = b.reshape(weights, [group, o, -1], "kernel_groups");
    const padded = b.pad(perGroup, [0, 0, 0, 0, extra, 0], "constant", "kernel_outputs");
    weights = b.reshape(padded, [group * n.outChannelsPerGroup, n.channelsPerGroup, kh, kw]);
    if (bias) {
      const biasGroups = b.reshape(bias, [group, o], "bias_groups");
      const paddedBias = b.pad(biasGroups, [0, 0, 0, extra], "constant", "bias_outputs");
      bias = b.reshape(paddedBias, [-1], "bias_padded");
    }
  }
  if (workaround?.zeroRowOnTop) {
    // a Concat, not a Pad: ONNX Runtime's PadFusion (core/optimizer/pad_fusion.cc) does not
    // check which Conv input a constant Pad feeds; for a spatial Pad on the kernel it rewires
    // the Conv's input 0 and removes the Pad, and session creation fails ("... is not a graph
    // input, initializer, or output of a previous node"). A Pad of the kernel's channel axis
    // (above) is left alone: the fusion declines pads on the first two axes.
    const rowShape = [group * n.outChannelsPerGroup, n.channelsPerGroup, 1, kw];
    const zeros = b.floats(
      "zero_row",
      rowShape,
      new Float32Array(rowShape.reduce((a, d) => a * d)),
    );
    weights = b.op("Concat", [zeros, weights], [intAttribute("axis", 2)], "kernel_zero_row");
  }
  const conv = b.op("Conv", bias ? [input, weights, bias] : [input, weights], [
    intsAttribute("kernel_shape", [n.kernelHeight, n.kernelWidth]),
    intsAttribute("strides", [node.strideHeight, node.strideWidth]),
    intsAttribute("dilations", [node.dilationHeight, node.dilationWidth]),
    intsAttribute("pads", [...n.pads]),
    intAttribute("group", group),
  ], "conv");
  if (n.outChannelsPerGroup === o) return { output: conv, bug, workaround };
  const groups = b.reshape(conv, [0, group, n.outChannelsPerGroup, -1], "conv_groups");
  const sliced = b.slice(groups, [0], [o], [2], undefined, "conv_outputs");
  const [outH, outW] = convNodeOutput(n);
  return { output: b.reshape(sliced, [0, group * o, outH, outW], "conv_sliced"), bug, workaround };
}

/**
 * The `"grouped"` formulation (and `"depthwise-folded"`, the same graph for a depthwise
 * layer; and `"per-example"`, the same graph at batch 1): the batch folded into the channels
 * of one `Conv` with `group = batch x groups`; gives `(B, O, outH, outW)` and what `addConv`
 * found.
 */
export function groupedConv(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  kernels: string,
  workarounds: boolean,
): EmittedConv {
  const batch = g.batch;
  const padded = addPadding(b, spec, g, INPUT_NAME, true);
  const folded = b.reshape(padded, [1, -1, 0, 0], "batch_in_channels");
  const kernel4d = b.reshape(
    kernels,
    [batch * g.outChannels, g.channelsPerGroup, g.kernelHeight, g.kernelWidth],
    "conv_kernels",
  );
  const node = convNodeOf(spec, g, 1, batch * g.groups);
  const conv = addConv(b, node, folded, kernel4d, { workarounds });
  const output = b.reshape(
    conv.output,
    [batch, g.outChannels, g.outHeight, g.outWidth],
    "conv_out",
  );
  return { ...conv, output };
}

/** The `"batched-matmul"` formulation: strided taps, one batched `MatMul`; no `Conv`. */
export function im2colMatMul(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  kernels: string,
): string {
  const { kernelHeight: kh, kernelWidth: kw, outHeight: oh, outWidth: ow } = g;
  const padded = addPadding(b, spec, g, INPUT_NAME, false);
  const paddedHeight = g.inHeight + g.padTop + g.padBottom;
  const paddedWidth = g.inWidth + g.padLeft + g.padRight;
  const taps: string[] = [];
  for (let u = 0; u < kh; u++) {
    for (let v = 0; v < kw; v++) {
      const top = u * g.dilationHeight, left = v * g.dilationWidth;
      const bottom = top + (oh - 1) * g.strideHeight + 1;
      const right = left + (ow - 1) * g.strideWidth + 1;
      if (top === 0 && left === 0 && oh === paddedHeight && ow === paddedWidth) {
        // a tap that takes every pixel (1x1, stride 1) is the input itself; a strided tap
        // can end at the last pixel too (bottom === paddedHeight) yet skip the ones between
        taps.push(padded);
      } else {
        taps.push(
          b.slice(padded, [top, left], [bottom, right], [2, 3], [
            g.strideHeight,
            g.strideWidth,
          ], "tap"),
        );
      }
    }
  }
  // (B, C, kh*kw*oh, ow): per example and channel, the taps one after another
  const stacked = taps.length === 1 ? taps[0] : b.op(
    "Concat",
    taps,
    [intAttribute("axis", 2)],
    "taps",
  );
  const cols = g.channelsPerGroup * kh * kw;
  const patches = b.reshape(stacked, [-1, g.groups, cols, oh * ow], "patches");
  const kernel = b.reshape(
    kernels,
    [-1, g.groups, g.outChannelsPerGroup, cols],
    "group_kernels",
  );
  const product = b.op("MatMul", [kernel, patches], [], "conv");
  return b.reshape(product, [-1, g.outChannels, oh, ow], "conv_out");
}

/**
 * The `"expert-sum"` filter from the expert kernels `(E, O, C/g, kh, kw)`: `(g * E * O/g,
 * C/g, kh, kw)`, whose output channel `(j * E + e) * O/g + p` is expert `e`'s channel
 * `j * O/g + p` (each group's `E x O/g` outputs stay in that group).
 */
export function expertSumFilter(g: Geometry, expertKernels: Float32Array): Float32Array {
  const { numExperts: e, groups, outChannelsPerGroup: og, outChannels: o } = g;
  const size = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const filter = new Float32Array(expertKernels.length);
  for (let j = 0; j < groups; j++) {
    for (let x = 0; x < e; x++) {
      for (let p = 0; p < og; p++) {
        const from = (x * o + j * og + p) * size;
        filter.set(expertKernels.subarray(from, from + size), ((j * e + x) * og + p) * size);
      }
    }
  }
  return filter;
}

/**
 * The `"expert-sum"` formulation: no kernel mixing; one `Conv` with the static filter of
 * {@link expertSumFilter} (`E x O` output channels, `group = groups`, any batch) over the
 * whole input, then `y[b, o] = sum_e r[b, e] * y_e[b, o]` (a `MatMul` of `(B, 1, 1, E)` by
 * `(B, g, E, O/g * outH * outW)`, or `Mul` + `ReduceSum` with `"mul-reducesum"`).
 */
export function expertSumConv(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  expertKernels: Float32Array,
  routing: string,
  options: { mixing: KernelMixing; workarounds: boolean },
): EmittedConv {
  const { numExperts: e, groups, outChannelsPerGroup: og } = g;
  const padded = addPadding(b, spec, g, INPUT_NAME, true);
  const filter = b.floats(
    "expert_sum_filter",
    [groups * e * og, g.channelsPerGroup, g.kernelHeight, g.kernelWidth],
    expertSumFilter(g, expertKernels),
  );
  const node = { ...convNodeOf(spec, g, g.batch, groups), outChannelsPerGroup: e * og };
  const conv = addConv(b, node, padded, filter, { workarounds: options.workarounds });
  const n = og * g.outHeight * g.outWidth;
  const outputs = b.reshape(conv.output, [-1, groups, e, n], "expert_outputs");
  let mixed: string;
  if (options.mixing === "matmul") {
    const r = b.reshape(routing, [-1, 1, 1, e], "routing_row");
    mixed = b.op("MatMul", [r, outputs], [], "expert_sum");
  } else {
    const r = b.reshape(routing, [-1, 1, e, 1], "routing_column");
    const terms = b.op("Mul", [outputs, r], [], "expert_terms");
    mixed = b.op(
      "ReduceSum",
      [terms, b.ints("axes", [2])],
      [intAttribute("keepdims", 0)],
      "expert_sum",
    );
  }
  const output = b.reshape(mixed, [-1, g.outChannels, g.outHeight, g.outWidth], "conv_out");
  return { ...conv, output };
}

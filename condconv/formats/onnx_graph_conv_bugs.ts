/**
 * Which ONNX `Conv` nodes onnxruntime-web 1.30's WebGPU execution provider computes wrong, as
 * a predicate over the node's shape and attributes. The `ort-webgpu` adapter runs the native
 * C++ WebGPU EP (the `onnxruntime-web/webgpu` entry loads `ort-wasm-simd-threaded.asyncify`,
 * not the `.jsep` build); its Conv kernels live in `onnxruntime/core/providers/webgpu/nn/`.
 *
 * Three causes, each read from the EP's source and checked against ~1900 single-`Conv`
 * models on llvmpipe through wgpu's Vulkan and GL backends (every observed right and wrong
 * output predicted, no exception; the bug is in the generated WGSL, so it does not depend on
 * the WebGPU implementation):
 *
 * - `"grouped-vector-straddles-groups"`: the grouped program (`group > 1`) vectorises the
 *   NHWC output by `GetMaxComponents(O)` (4 when the total output channel count `O` is a
 *   multiple of 4, else 2 when even, else 1) once there are 4 or more output channels per
 *   group, and computes each vector from one group's input channels: a vector that straddles
 *   two groups (`O/group` not a multiple of the vector width) reads the wrong group's inputs.
 *   The CondConv graph's grouped formulation has `group = batch x groups`, so an ordinary
 *   layer with 5, 6, 7, 9, 10, ... output channels shows it from batch 2 on.
 * - `"conv2dmm-vec3-input"`: the ungrouped program (`group == 1`, not a MatMul shortcut) with
 *   `C % 3 == 0`, `C % 4 != 0`, `C > 3` input channels and `O % 4 == 0` output channels reads
 *   the input as `vec3` at channel index `xCh / 4` instead of `xCh`: every read of channels
 *   3 and up lands on channels 0..2 (upstream: microsoft/onnxruntime#29651).
 * - `"matmul-shortcut-ignores-end-pads"`: the two MatMul shortcuts of `group == 1` (a 1x1
 *   stride-1 kernel, or a kernel as large as the input, with zero top and left pads) look at
 *   the top and left pads only: bottom and right pads that make the output larger than the
 *   shortcut's are ignored (TensorFlow "same" padding makes such pads).
 *
 * An output that reads nothing but padding is zero either way, hence right.
 *
 * `avoidConvBug` gives the change to a node that avoids each cause: zero-padded output
 * channels per group up to a multiple of 4 (the output is sliced back), zero-padded input
 * channels up to a multiple of 4, or a zero kernel row on top with one more top pad (a
 * non-zero top pad takes the node off the shortcut). Moving the pads into a `Pad` node does
 * not work: ONNX Runtime's `PadFusion` folds a constant `Pad` back into the `Conv` (tried:
 * the output stays wrong).
 * @module
 */
import type { Geometry } from "../geometry.ts";

/**
 * One 2-D ONNX `Conv` node as the WebGPU EP sees it (NCHW input, OIHW weights): the layer's
 * channels per group, kernel, strides and dilations, and the node's own batch, group count,
 * input size (after any `Pad` node before the `Conv`) and pads (top, left, bottom, right).
 */
export type ConvNode =
  & Pick<
    Geometry,
    | "channelsPerGroup"
    | "outChannelsPerGroup"
    | "kernelHeight"
    | "kernelWidth"
    | "strideHeight"
    | "strideWidth"
    | "dilationHeight"
    | "dilationWidth"
  >
  & {
    batch: number;
    group: number;
    height: number;
    width: number;
    pads: readonly [number, number, number, number];
  };

/** Why the WebGPU EP gets a `Conv` node wrong (see the module doc). */
export type OrtWebgpuConvBug =
  | "grouped-vector-straddles-groups"
  | "conv2dmm-vec3-input"
  | "matmul-shortcut-ignores-end-pads";

/** The output height and width of `node`. */
export function convNodeOutput(node: ConvNode): [number, number] {
  const out = (n: number, k: number, s: number, d: number, before: number, after: number) =>
    Math.floor((n + before + after - d * (k - 1) - 1) / s) + 1;
  const [top, left, bottom, right] = node.pads;
  return [
    out(node.height, node.kernelHeight, node.strideHeight, node.dilationHeight, top, bottom),
    out(node.width, node.kernelWidth, node.strideWidth, node.dilationWidth, left, right),
  ];
}

/** The vector width the EP picks for `n` channels (its `GetMaxComponents`). */
export function vectorWidth(n: number): 1 | 2 | 4 {
  return n % 4 === 0 ? 4 : n % 2 === 0 ? 2 : 1;
}

/** Whether some output pixel of `node` reads at least one input pixel (not only padding). */
function readsInput(node: ConvNode): boolean {
  const [outH, outW] = convNodeOutput(node);
  const hits = (n: number, k: number, s: number, d: number, before: number, o: number) => {
    for (let i = 0; i < o; i++) {
      for (let u = 0; u < k; u++) {
        const y = i * s + u * d - before;
        if (y >= 0 && y < n) return true;
      }
    }
    return false;
  };
  // the taps form a product set: both axes must hit for some pixel
  return hits(
    node.height,
    node.kernelHeight,
    node.strideHeight,
    node.dilationHeight,
    node.pads[0],
    outH,
  ) &&
    hits(node.width, node.kernelWidth, node.strideWidth, node.dilationWidth, node.pads[1], outW);
}

/** The MatMul shortcut of an ungrouped node, if it takes one. */
function matmulShortcut(node: ConvNode): "1x1" | "whole-input" | undefined {
  const beginPadsZero = node.pads[0] === 0 && node.pads[1] === 0;
  if (!beginPadsZero) return undefined;
  if (
    node.kernelHeight === 1 && node.kernelWidth === 1 && node.strideHeight === 1 &&
    node.strideWidth === 1
  ) return "1x1";
  if (node.height === node.kernelHeight && node.width === node.kernelWidth) return "whole-input";
  return undefined;
}

/** Why onnxruntime-web 1.30's WebGPU EP computes `node` wrong, or `undefined` if it does not. */
export function ortWebgpuConvBug(node: ConvNode): OrtWebgpuConvBug | undefined {
  if (!readsInput(node)) return undefined;
  const opg = node.outChannelsPerGroup;
  if (node.group > 1) {
    return opg >= 4 && opg % vectorWidth(node.group * opg) !== 0
      ? "grouped-vector-straddles-groups"
      : undefined;
  }
  const [outH, outW] = convNodeOutput(node);
  const shortcut = matmulShortcut(node);
  if (shortcut === "1x1") {
    return outH === node.height && outW === node.width
      ? undefined
      : "matmul-shortcut-ignores-end-pads";
  }
  if (shortcut === "whole-input") {
    const right = outH === 1 && outW === 1 &&
      (node.kernelHeight === 1 || node.dilationHeight === 1) &&
      (node.kernelWidth === 1 || node.dilationWidth === 1);
    return right ? undefined : "matmul-shortcut-ignores-end-pads";
  }
  const c = node.channelsPerGroup;
  return c % 3 === 0 && c % 4 !== 0 && c > 3 && opg % 4 === 0 ? "conv2dmm-vec3-input" : undefined;
}

/** How to change a `Conv` node so that the WebGPU EP computes it right. */
export interface ConvWorkaround {
  /**
   * a zero kernel row on top, and the top pad grown by the dilation to match: the same
   * output, from a node with a non-zero top pad
   */
  zeroRowOnTop: boolean;
  /** input channels per group after zero padding (the kernels get zero input channels) */
  channelsPerGroup: number;
  /** output channels per group after zero padding (zero kernels; the output is sliced) */
  outChannelsPerGroup: number;
}

const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * The change that avoids the bug of `node`, or `undefined` where there is none to avoid.
 * Throws where the changed node would still be wrong (it never is for the causes known).
 */
export function avoidConvBug(node: ConvNode): ConvWorkaround | undefined {
  if (!ortWebgpuConvBug(node)) return undefined;
  const fix: ConvWorkaround = {
    zeroRowOnTop: false,
    channelsPerGroup: node.channelsPerGroup,
    outChannelsPerGroup: node.outChannelsPerGroup,
  };
  // one change per cause; a change can uncover another cause (pads moved out of a shortcut
  // make an ordinary node), so apply until none is left: at most one of each
  for (let step = 0; step < 3; step++) {
    const bug = ortWebgpuConvBug(applyConvWorkaround(node, fix));
    if (!bug) return fix;
    if (bug === "matmul-shortcut-ignores-end-pads") fix.zeroRowOnTop = true;
    if (bug === "grouped-vector-straddles-groups") {
      fix.outChannelsPerGroup = roundUp4(fix.outChannelsPerGroup);
    }
    if (bug === "conv2dmm-vec3-input") fix.channelsPerGroup = roundUp4(fix.channelsPerGroup);
  }
  const left = ortWebgpuConvBug(applyConvWorkaround(node, fix));
  if (left) throw new Error(`Cannot avoid the WebGPU Conv bug "${left}" by padding channels`);
  return fix;
}

/** `node` as it is after `fix`. */
export function applyConvWorkaround(node: ConvNode, fix: ConvWorkaround): ConvNode {
  const [top, left, bottom, right] = node.pads;
  const extra = fix.zeroRowOnTop ? 1 : 0;
  return {
    ...node,
    channelsPerGroup: fix.channelsPerGroup,
    outChannelsPerGroup: fix.outChannelsPerGroup,
    kernelHeight: node.kernelHeight + extra,
    pads: [top + extra * node.dilationHeight, left, bottom, right],
  };
}

/**
 * The least memory traffic of one CondConv call: every tensor it reads or writes, touched
 * once, as float32. A kernel that re-reads its input or spills the mixed kernels moves more;
 * the roofline's arithmetic intensity uses this lower bound (the usual convention).
 * @module
 */
import { outputShape, sizeOf, weightShapes } from "../../condconv/geometry.ts";
import type { CondConvSpec } from "../../condconv/spec.ts";

/** Bytes one CondConv call reads and writes at the least, by tensor. */
export interface CondConvBytes {
  /** the NCHW input, read once */
  input: number;
  /** the NCHW output, written once */
  output: number;
  /** every expert kernel `(E, O, C/groups, kh, kw)`, read once for the whole batch */
  expertKernels: number;
  /** the bias, `(O)` or `(E, O)`, 0 when there is none */
  bias: number;
  /** the routing linear layer `(E, C)` and `(E)` when computed, the supplied `(B, E)` else */
  routing: number;
  total: number;
  /**
   * A static convolution of the same shape (the baseline CondConv is compared with): input,
   * output, one `(O, C/groups, kh, kw)` kernel and an `(O)` bias when the spec has a bias
   */
  staticConvTotal: number;
}

/**
 * The float32 bytes of `spec` on an NCHW `inputShape`, each tensor read or written once.
 * Throws a `RangeError` naming the field when the spec cannot apply to the shape.
 *
 * @example A 1x1 layer, 8 -> 16 channels, 4 experts, on a 1x8x4x4 input
 * ```ts
 * import { CondConvSpec } from "../../condconv/spec.ts";
 * import { condConvBytes } from "./_roofline_bytes.ts";
 * const spec = CondConvSpec.parse({
 *   inChannels: 8, outChannels: 16, kernelSize: 1, numExperts: 4,
 * });
 * const bytes = condConvBytes(spec, [1, 8, 4, 4]);
 * // input 128 + output 256 + kernels 4*16*8 = 512 floats, plus bias and routing
 * if (bytes.input + bytes.output + bytes.expertKernels !== 4 * (128 + 256 + 512)) {
 *   throw new Error("wrong");
 * }
 * ```
 */
export function condConvBytes(spec: CondConvSpec, inputShape: readonly number[]): CondConvBytes {
  const output = outputShape(spec, inputShape);
  const shapes = weightShapes(spec);
  const floats = (shape: readonly number[] | undefined) => (shape ? sizeOf(shape) : 0);
  const routingFloats = spec.routing.kind === "supplied"
    ? inputShape[0] * spec.numExperts
    : floats(shapes.routingWeight) + floats(shapes.routingBias);
  const bytes = {
    input: 4 * sizeOf(inputShape),
    output: 4 * sizeOf(output),
    expertKernels: 4 * floats(shapes.expertKernels),
    bias: 4 * floats(shapes.bias),
    routing: 4 * routingFloats,
  };
  const staticKernel = bytes.expertKernels / spec.numExperts;
  const staticBias = spec.bias === "none" ? 0 : 4 * spec.outChannels;
  return {
    ...bytes,
    total: bytes.input + bytes.output + bytes.expertKernels + bytes.bias + bytes.routing,
    staticConvTotal: bytes.input + bytes.output + staticKernel + staticBias,
  };
}

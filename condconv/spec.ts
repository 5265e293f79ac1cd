/**
 * The CondConv layer, as one strict schema.
 *
 * ## The math (inference only)
 *
 * Layouts, all row-major float32:
 * - input `x`: NCHW, `(B, C, H, W)`
 * - expert kernels `W_e`: `(E, O, C/groups, kh, kw)`
 * - bias: `"shared"` is `(O)`, `"perExpert"` is `(E, O)`, `"none"` has no tensor
 * - routing linear layer (only when routing is computed): weight `(E, C)`, bias `(E)`
 * - routing weights supplied by the caller: `(B, E)`, already activated
 * - output `y`: NCHW, `(B, O, outH, outW)`
 *
 * For each example `b`:
 * ```
 * p[c]      = mean over (h, w) of x[b, c, h, w]             (the unpadded input)
 * z[e]      = sum_c fcWeight[e, c] * p[c] + fcBias[e]
 * r[e]      = sigmoid(z[e])                                  (routing "sigmoid", the paper's)
 *           | softmax(z / temperature)[e]                    (routing "softmax", DynamicConv)
 *           | supplied[b, e]                                 (routing "supplied", TF block-shared)
 * K_b       = sum_e r[e] * W_e                               (O, C/groups, kh, kw)
 * bias_b    = bias                                           ("shared", the reference's)
 *           | sum_e r[e] * bias[e]                           ("perExpert", TensorFlow's)
 * xp        = pad(x[b], paddingMode, top, bottom, left, right)
 * y[b,o,i,j] = bias_b[o] + sum_{c in group(o)} sum_{u,v}
 *              K_b[o, c - g0(o), u, v] * xp[c, i*sh + u*dh, j*sw + v*dw]
 * ```
 * where `group(o)` is the block of `C/groups` input channels that output channel `o` reads
 * (`o` belongs to group `floor(o / (O/groups))`, starting at channel `g0(o)`).
 *
 * Padding: a number or `[ph, pw]` pads both sides alike (PyTorch); `"valid"` pads nothing;
 * `"same"` follows TensorFlow: `outH = ceil(H / sh)`, the total padding is
 * `max((outH - 1) * sh + (kh - 1) * dh + 1 - H, 0)`, `floor(total / 2)` before and the rest
 * after (5x5 stride 2 on 14x14 pads 1 before and 2 after). `paddingMode` says what fills the
 * padding: zeros, or the input reflected, replicated or wrapped (circular), as PyTorch's
 * `F.pad` modes do.
 *
 * Non-finite values (NaN, +-infinity) are not errors: they flow through the formula read
 * literally in IEEE arithmetic, as PyTorch computes it in float64 (the goldens' truth, made with
 * `F.pad` then an unpadded `conv2d`):
 * - the mix `K_b = sum_e r[e] * W_e` runs over every expert and no other: an infinite tap in one
 *   expert gives an infinite mixed tap (NaN where `r[e]` is 0, since `0 * inf` is NaN, or where
 *   two experts give opposite infinities); an expert that does not exist contributes nothing;
 * - the zero padding is made of real zeros that the kernel multiplies: an infinite or NaN tap
 *   that lands on the zero border gives NaN (`0 * inf`), so every output whose window reaches
 *   the border through that tap is NaN; the other modes read real pixels;
 * - an infinite input pixel gives +-inf in the outputs whose window reaches it, NaN where the
 *   tap it meets is 0 or where opposite infinities meet; through the average pool it reaches the
 *   computed routing of its example (an infinite logit saturates the sigmoid to exactly 0 or 1;
 *   a softmax over it is NaN, `inf - inf`); a NaN anywhere in a sum makes that sum NaN.
 * PyTorch's own float32 CPU path does not follow one rule (oneDNN skips the padded taps of
 * depthwise and of some grouped convolutions; PyTorch 1.13, checked), so the float64 formula
 * is the yardstick.
 *
 * `dropoutRate` applies to the pooled vector in training only. This suite is inference-only:
 * the field is recorded so a spec describes the layer a user trained, and is never applied.
 *
 * @module
 */
import { z } from "zod";

const positiveInt = z.int().positive();
const nonNegativeInt = z.int().nonnegative();

/** A size given once for both spatial dimensions, or as `[height, width]`. */
export const SpatialPair = z.union([positiveInt, z.tuple([positiveInt, positiveInt])]);
/** `SpatialPair` after parsing. */
export type SpatialPair = z.infer<typeof SpatialPair>;

/** Padding: a number, `[ph, pw]`, `"valid"` or TensorFlow's `"same"`. */
export const Padding = z.union([
  nonNegativeInt,
  z.tuple([nonNegativeInt, nonNegativeInt]),
  z.literal("valid"),
  z.literal("same"),
]);
/** `Padding` after parsing. */
export type Padding = z.infer<typeof Padding>;

/** What fills the padded border, as in PyTorch's `padding_mode`. */
export const PaddingMode = z.enum(["zeros", "reflect", "replicate", "circular"]);
/** `PaddingMode` after parsing. */
export type PaddingMode = z.infer<typeof PaddingMode>;

/** Which bias the layer has: none, one `(O)` vector, or `(E, O)` mixed by the routing weights. */
export const BiasKind = z.enum(["none", "shared", "perExpert"]);
/** `BiasKind` after parsing. */
export type BiasKind = z.infer<typeof BiasKind>;

/**
 * How the routing weights are made: computed from the layer's input with a sigmoid (the
 * paper) or a softmax with a temperature (DynamicConv), or supplied by the caller per run.
 */
export const Routing = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("sigmoid") }),
  z.strictObject({ kind: z.literal("softmax"), temperature: z.number().positive().finite() }),
  z.strictObject({ kind: z.literal("supplied") }),
]);
/** `Routing` after parsing. */
export type Routing = z.infer<typeof Routing>;

/**
 * One CondConv layer. Defaults follow the user's PyTorch reference
 * (`stride 1, padding 0, dilation 1, groups 1, bias, zeros, 3 experts, dropout 0.2`).
 *
 * @example Parse a depthwise CondConv with TensorFlow "same" padding
 * ```ts
 * import { CondConvSpec } from "./spec.ts";
 * const spec = CondConvSpec.parse({
 *   inChannels: 8, outChannels: 8, kernelSize: 5, stride: 2, padding: "same", groups: 8,
 * });
 * if (spec.numExperts !== 3) throw new Error("default numExperts should be 3");
 * ```
 */
export const CondConvSpec = z.strictObject({
  inChannels: positiveInt,
  outChannels: positiveInt,
  kernelSize: SpatialPair,
  stride: SpatialPair.default(1),
  padding: Padding.default(0),
  dilation: SpatialPair.default(1),
  paddingMode: PaddingMode.default("zeros"),
  groups: positiveInt.default(1),
  bias: BiasKind.default("shared"),
  numExperts: positiveInt.default(3),
  routing: Routing.default({ kind: "sigmoid" }),
  dropoutRate: z.number().min(0).lt(1).default(0.2),
}).superRefine((spec, ctx) => {
  if (spec.inChannels % spec.groups !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["groups"],
      message: `groups (${spec.groups}) must divide inChannels (${spec.inChannels})`,
    });
  }
  if (spec.outChannels % spec.groups !== 0) {
    ctx.addIssue({
      code: "custom",
      path: ["groups"],
      message: `groups (${spec.groups}) must divide outChannels (${spec.outChannels})`,
    });
  }
});
/**
 * The issues of a failed `CondConvSpec` parse as one line, each with its field's path:
 * `spec.groups: groups (2) must divide inChannels (3)`.
 */
export function specIssueText(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${["spec", ...issue.path.map(String)].join(".")}: ${issue.message}`)
    .join("; ");
}

/** A parsed CondConv spec, defaults filled in. */
export type CondConvSpec = z.infer<typeof CondConvSpec>;
/** A CondConv spec as a user writes it, defaults optional. */
export type CondConvSpecInput = z.input<typeof CondConvSpec>;

/**
 * The tensors of one CondConv layer, in the layouts of the module doc.
 * `routingWeight` and `routingBias` are present exactly when routing is computed;
 * `bias` exactly when `spec.bias` is not `"none"`.
 */
export interface CondConvWeights {
  /** `(E, O, C/groups, kh, kw)` */
  expertKernels: Float32Array;
  /** `(O)` for `"shared"`, `(E, O)` for `"perExpert"` */
  bias?: Float32Array;
  /** `(E, C)` */
  routingWeight?: Float32Array;
  /** `(E)` */
  routingBias?: Float32Array;
}

/** A dense float32 tensor with its shape. */
export interface Tensor {
  shape: readonly number[];
  data: Float32Array;
}

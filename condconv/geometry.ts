/**
 * Shapes, padding and costs derived from a spec and an input shape.
 * @module
 */
import type { CondConvSpec, CondConvWeights, SpatialPair, Tensor } from "./spec.ts";

/** Everything about one layer applied to one input shape, as plain numbers. */
export interface Geometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  groups: number;
  numExperts: number;
  /** `C / groups`: input channels each output channel reads */
  channelsPerGroup: number;
  /** `O / groups` */
  outChannelsPerGroup: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  outHeight: number;
  outWidth: number;
}

/** A problem with a spec applied to an input shape, with the path of the field at fault. */
export interface ShapeIssue {
  path: (string | number)[];
  message: string;
}

/** `[height, width]` of a size given as one number or a pair. */
export function pair(value: SpatialPair): [number, number] {
  return typeof value === "number" ? [value, value] : [value[0], value[1]];
}

function samePadding(size: number, kernel: number, stride: number, dilation: number) {
  // TensorFlow's rule: out = ceil(in / stride); the smaller half goes before.
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before] as const;
}

function geometryOrIssues(
  spec: CondConvSpec,
  inputShape: readonly number[],
): { geometry?: Geometry; issues: ShapeIssue[] } {
  const issues: ShapeIssue[] = [];
  if (inputShape.length !== 4 || !inputShape.every((d) => Number.isInteger(d) && d >= 0)) {
    issues.push({
      path: ["input", "shape"],
      message: `expected [batch, channels, height, width] of integers, got [${inputShape}]`,
    });
    return { issues };
  }
  const [batch, inChannels, inHeight, inWidth] = inputShape;
  if (batch < 1) issues.push({ path: ["input", "batch"], message: "batch must be at least 1" });
  if (inChannels !== spec.inChannels) {
    issues.push({
      path: ["input", "channels"],
      message: `input has ${inChannels} channels but spec.inChannels is ${spec.inChannels}`,
    });
  }
  if (inHeight < 1 || inWidth < 1) {
    issues.push({
      path: ["input", inHeight < 1 ? "height" : "width"],
      message: `input height and width must be at least 1, got ${inHeight}x${inWidth}`,
    });
  }
  if (issues.length > 0) return { issues };

  const [kernelHeight, kernelWidth] = pair(spec.kernelSize);
  const [strideHeight, strideWidth] = pair(spec.stride);
  const [dilationHeight, dilationWidth] = pair(spec.dilation);
  let padTop: number, padBottom: number, padLeft: number, padRight: number;
  if (spec.padding === "same") {
    [padTop, padBottom] = samePadding(inHeight, kernelHeight, strideHeight, dilationHeight);
    [padLeft, padRight] = samePadding(inWidth, kernelWidth, strideWidth, dilationWidth);
  } else if (spec.padding === "valid") {
    padTop =
      padBottom =
      padLeft =
      padRight =
        0;
  } else {
    const [ph, pw] = typeof spec.padding === "number" ? [spec.padding, spec.padding] : spec.padding;
    padTop = padBottom = ph;
    padLeft = padRight = pw;
  }

  const dims = [
    ["height", inHeight, kernelHeight, dilationHeight, strideHeight, padTop, padBottom],
    ["width", inWidth, kernelWidth, dilationWidth, strideWidth, padLeft, padRight],
  ] as const;
  const out: number[] = [];
  for (const [name, size, kernel, dilation, stride, before, after] of dims) {
    const span = (kernel - 1) * dilation + 1;
    const padded = size + before + after;
    if (span > padded) {
      issues.push({
        path: ["kernelSize"],
        message: `kernel spans ${span} ${name} pixels (kernel ${kernel}, dilation ${dilation}) ` +
          `but the padded input has ${padded} (input ${size}, padding ${before}+${after}); ` +
          `the output ${name} would be below 1`,
      });
    }
    const largest = Math.max(before, after);
    if (spec.paddingMode === "reflect" && largest >= size) {
      issues.push({
        path: ["padding"],
        message: `reflect padding must be smaller than the input: pads ${largest} ${name} ` +
          `pixels of an input ${size} high/wide`,
      });
    }
    if (spec.paddingMode === "circular" && largest > size) {
      issues.push({
        path: ["padding"],
        message: `circular padding cannot exceed the input: pads ${largest} ${name} ` +
          `pixels of an input ${size} high/wide`,
      });
    }
    out.push(Math.floor((padded - span) / stride) + 1);
  }
  if (issues.length > 0) return { issues };

  return {
    issues,
    geometry: {
      batch,
      inChannels,
      inHeight,
      inWidth,
      outChannels: spec.outChannels,
      groups: spec.groups,
      numExperts: spec.numExperts,
      channelsPerGroup: spec.inChannels / spec.groups,
      outChannelsPerGroup: spec.outChannels / spec.groups,
      kernelHeight,
      kernelWidth,
      strideHeight,
      strideWidth,
      dilationHeight,
      dilationWidth,
      padTop,
      padBottom,
      padLeft,
      padRight,
      outHeight: out[0],
      outWidth: out[1],
    },
  };
}

/** The problems, if any, with applying `spec` to an input of `inputShape` (NCHW). */
export function geometryIssues(spec: CondConvSpec, inputShape: readonly number[]): ShapeIssue[] {
  return geometryOrIssues(spec, inputShape).issues;
}

/**
 * Resolves padding, kernel and output sizes for `spec` on an NCHW input shape.
 * Throws a `RangeError` naming the field at fault when the spec cannot apply.
 */
export function resolveGeometry(spec: CondConvSpec, inputShape: readonly number[]): Geometry {
  const { geometry, issues } = geometryOrIssues(spec, inputShape);
  if (!geometry) {
    const text = issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new RangeError(`Cannot apply the spec to input [${inputShape}]: ${text}`);
  }
  return geometry;
}

/**
 * The NCHW output shape of `spec` on an NCHW input shape.
 *
 * @example TensorFlow "same" with stride 2 halves 14 to 7
 * ```ts
 * import { CondConvSpec } from "./spec.ts";
 * import { outputShape } from "./geometry.ts";
 * const spec = CondConvSpec.parse({
 *   inChannels: 4, outChannels: 4, kernelSize: 5, stride: 2, padding: "same", groups: 4,
 * });
 * const shape = outputShape(spec, [1, 4, 14, 14]);
 * if (shape.join() !== "1,4,7,7") throw new Error(`unexpected ${shape}`);
 * ```
 */
export function outputShape(
  spec: CondConvSpec,
  inputShape: readonly number[],
): [number, number, number, number] {
  const g = resolveGeometry(spec, inputShape);
  return [g.batch, g.outChannels, g.outHeight, g.outWidth];
}

/** Floating-point operations (a multiply-add counts 2) of one CondConv call, by stage. */
export interface FlopCount {
  /** average pool, routing linear layer and activation (0 for supplied routing) */
  routing: number;
  /** `K_b = sum_e r_e W_e` and the per-expert bias mix, per example */
  mixing: number;
  /** the convolution with the mixed kernel, bias add included */
  conv: number;
  total: number;
  /** a static convolution of the same shape (the baseline CondConv is compared with) */
  staticConv: number;
}

/** The FLOP count of `spec` on an NCHW input shape. */
export function flops(spec: CondConvSpec, inputShape: readonly number[]): FlopCount {
  const g = resolveGeometry(spec, inputShape);
  const kernelSize = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const outputs = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const macsPerOutput = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const biasAdds = spec.bias === "none" ? 0 : outputs;
  const staticConv = 2 * outputs * macsPerOutput + biasAdds;
  let routing = 0;
  if (spec.routing.kind !== "supplied") {
    const pool = g.batch * g.inChannels * g.inHeight * g.inWidth;
    const linear = 2 * g.batch * g.numExperts * g.inChannels;
    const activation = 4 * g.batch * g.numExperts;
    routing = pool + linear + activation;
  }
  const biasMix = spec.bias === "perExpert" ? 2 * g.batch * g.numExperts * g.outChannels : 0;
  const mixing = 2 * g.batch * g.numExperts * kernelSize + biasMix;
  return { routing, mixing, conv: staticConv, total: routing + mixing + staticConv, staticConv };
}

/**
 * Bytes of float32 memory one call of `spec` on an NCHW input shape needs at least, by
 * tensor. An adapter that mixes the whole batch at once (tfjs, onnxruntime-web) holds one
 * mixed kernel per example; engines add their own scratch on top, so this is a floor: a
 * task refuses a batch whose floor already exceeds what it may allocate, before allocating.
 */
export interface MemoryEstimate {
  /** the input `(B, C, H, W)` */
  input: number;
  /** the output `(B, O, outH, outW)` */
  output: number;
  /** one mixed kernel `(O, C/groups, kh, kw)` per example */
  mixedKernels: number;
  /** the layer's weights: expert kernels, biases, routing layer */
  weights: number;
  total: number;
}

/**
 * The memory floor of one call (see `MemoryEstimate`). Throws a `RangeError` naming the
 * field when the spec cannot apply to the shape.
 *
 * @example A billion-example batch needs terabytes
 * ```ts
 * import { CondConvSpec } from "./spec.ts";
 * import { memoryEstimate } from "./geometry.ts";
 * const spec = CondConvSpec.parse({ inChannels: 16, outChannels: 16, kernelSize: 3, padding: 1 });
 * const bytes = memoryEstimate(spec, [1e9, 16, 14, 14]).total;
 * if (bytes < 1e13) throw new Error(`unexpected ${bytes}`);
 * ```
 */
export function memoryEstimate(spec: CondConvSpec, inputShape: readonly number[]): MemoryEstimate {
  const g = resolveGeometry(spec, inputShape);
  const kernel = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const weights = Object.values(weightShapes(spec))
    .reduce((n, shape) => n + (shape ? sizeOf(shape) : 0), 0);
  const bytes = {
    input: 4 * g.batch * g.inChannels * g.inHeight * g.inWidth,
    output: 4 * g.batch * g.outChannels * g.outHeight * g.outWidth,
    mixedKernels: 4 * g.batch * kernel,
    weights: 4 * weights,
  };
  return { ...bytes, total: bytes.input + bytes.output + bytes.mixedKernels + bytes.weights };
}

/**
 * The spec of a static convolution with the same geometry as `spec`: one expert whose
 * routing weight the caller supplies as 1, so `K = 1 * W` exactly.
 */
export function staticConvSpec(spec: CondConvSpec): CondConvSpec {
  return {
    ...spec,
    numExperts: 1,
    routing: { kind: "supplied" },
    bias: spec.bias === "none" ? "none" : "shared",
  };
}

/** The shape of every weight tensor `spec` has; absent tensors are `undefined`. */
export function weightShapes(
  spec: CondConvSpec,
): Record<keyof CondConvWeights, number[] | undefined> {
  const [kh, kw] = pair(spec.kernelSize);
  const e = spec.numExperts, o = spec.outChannels, c = spec.inChannels;
  const computed = spec.routing.kind !== "supplied";
  return {
    expertKernels: [e, o, c / spec.groups, kh, kw],
    bias: spec.bias === "none" ? undefined : spec.bias === "shared" ? [o] : [e, o],
    routingWeight: computed ? [e, c] : undefined,
    routingBias: computed ? [e] : undefined,
  };
}

/** The number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Checks that `weights` has exactly the tensors `spec` needs, with the right lengths.
 * Throws a `TypeError` naming the tensor at fault.
 */
export function checkWeights(spec: CondConvSpec, weights: CondConvWeights): void {
  const shapes = weightShapes(spec);
  for (const name of Object.keys(shapes) as (keyof CondConvWeights)[]) {
    const shape = shapes[name];
    if (shape?.some((d) => !Number.isInteger(d) || d < 1)) {
      // only a spec that skipped CondConvSpec.parse gets here (groups not dividing, say)
      throw new TypeError(
        `Cannot use weights."${name}": its shape [${shape}] is not whole numbers; ` +
          "check the spec with CondConvSpec.parse (groups must divide the channels)",
      );
    }
    const tensor = weights[name];
    if (shape === undefined) {
      if (tensor !== undefined) {
        throw new TypeError(
          `Cannot use weights."${name}": the spec (bias "${spec.bias}", routing ` +
            `"${spec.routing.kind}") has no such tensor`,
        );
      }
      continue;
    }
    if (!(tensor instanceof Float32Array)) {
      throw new TypeError(`Cannot use weights: "${name}" must be a Float32Array of [${shape}]`);
    }
    if (tensor.length !== sizeOf(shape)) {
      throw new TypeError(
        `Cannot use weights."${name}": expected ${sizeOf(shape)} floats for [${shape}], ` +
          `found ${tensor.length}`,
      );
    }
  }
}

/**
 * Checks an input tensor (and supplied routing weights) against `spec`; returns the geometry.
 * Throws a `RangeError` or `TypeError` naming the field at fault.
 */
export function checkRunInputs(
  spec: CondConvSpec,
  input: Tensor,
  routingWeights?: Float32Array,
): Geometry {
  if (!(input.data instanceof Float32Array)) {
    throw new TypeError("Cannot run: input.data must be a Float32Array");
  }
  const g = resolveGeometry(spec, input.shape);
  if (input.data.length !== sizeOf(input.shape)) {
    throw new RangeError(
      `Cannot run: input.data has ${input.data.length} floats but input.shape ` +
        `[${input.shape}] needs ${sizeOf(input.shape)}`,
    );
  }
  if (spec.routing.kind === "supplied") {
    if (!(routingWeights instanceof Float32Array)) {
      throw new TypeError(
        `Cannot run: routing is "supplied", so routingWeights (a Float32Array of ` +
          `[${g.batch}, ${g.numExperts}]) must be passed`,
      );
    }
    if (routingWeights.length !== g.batch * g.numExperts) {
      throw new RangeError(
        `Cannot run: routingWeights has ${routingWeights.length} floats, expected ` +
          `[${g.batch}, ${g.numExperts}] = ${g.batch * g.numExperts}`,
      );
    }
  } else if (routingWeights !== undefined) {
    throw new TypeError(
      `Cannot run: routing is "${spec.routing.kind}" (computed from the input), so ` +
        `routingWeights must not be passed`,
    );
  }
  return g;
}

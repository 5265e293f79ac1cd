/**
 * A second, independent float64 CondConv for the tests: straight from the formula in
 * `condconv/spec.ts`, written apart from `impls/reference.ts` (its own padding map, the
 * padded border multiplied like any other pixel, as an ungrouped PyTorch `conv2d` does), so
 * that the fuzz properties and the NaN/infinity checks do not judge the reference by itself.
 * Web APIs only.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import { resolveGeometry } from "../../condconv/geometry.ts";

/** A float64 NCHW tensor. */
export interface Tensor64 {
  shape: number[];
  data: Float64Array;
}

/**
 * The input coordinate that padded coordinate `p` (counted from the unpadded start, so
 * negative in the leading border) reads, or -1 for a zero.
 */
export function padSource(p: number, n: number, mode: CondConvSpec["paddingMode"]): number {
  if (p >= 0 && p < n) return p;
  if (mode === "zeros") return -1;
  if (mode === "replicate") return Math.min(Math.max(p, 0), n - 1);
  if (mode === "circular") return ((p % n) + n) % n;
  // reflect: 0 1 .. n-1 n-2 .. 1 repeats with period 2(n-1)
  const period = 2 * (n - 1);
  const m = ((p % period) + period) % period;
  return m < n ? m : period - m;
}

/**
 * A plain grouped convolution of example `b` (or every example when `perExample` is
 * undefined) with one kernel `(O, C/groups, kh, kw)` per example: `kernels(b)`, `bias(b)`.
 * Zero padding is multiplied in (0 * NaN is NaN, as in PyTorch's ungrouped `conv2d`).
 */
function convolve(
  spec: CondConvSpec,
  input: Tensor,
  kernels: (b: number) => ArrayLike<number>,
  biases: (b: number) => ArrayLike<number> | undefined,
): Tensor64 {
  const g = resolveGeometry(spec, input.shape);
  const [B, C, H, W] = input.shape;
  const O = spec.outChannels, cpg = g.channelsPerGroup, opg = g.outChannelsPerGroup;
  const { kernelHeight: kh, kernelWidth: kw, outHeight: oh, outWidth: ow } = g;
  const out = new Float64Array(B * O * oh * ow);
  for (let b = 0; b < B; b++) {
    const kernel = kernels(b);
    const bias = biases(b);
    for (let o = 0; o < O; o++) {
      const group = Math.floor(o / opg);
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let acc = bias ? bias[o] : 0;
          for (let ci = 0; ci < cpg; ci++) {
            const c = group * cpg + ci;
            for (let u = 0; u < kh; u++) {
              const y = padSource(
                i * g.strideHeight + u * g.dilationHeight - g.padTop,
                H,
                spec.paddingMode,
              );
              for (let v = 0; v < kw; v++) {
                const x = padSource(
                  j * g.strideWidth + v * g.dilationWidth - g.padLeft,
                  W,
                  spec.paddingMode,
                );
                const value = y < 0 || x < 0 ? 0 : input.data[((b * C + c) * H + y) * W + x];
                acc += kernel[((o * cpg + ci) * kh + u) * kw + v] * value;
              }
            }
          }
          out[((b * O + o) * oh + i) * ow + j] = acc;
        }
      }
    }
  }
  return { shape: [B, O, oh, ow], data: out };
}

/** A plain convolution with one kernel `(O, C/groups, kh, kw)` and an optional bias `(O)`. */
export function directConv(
  spec: CondConvSpec,
  input: Tensor,
  kernel: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
): Tensor64 {
  return convolve(spec, input, () => kernel, () => bias);
}

/** Routing weights `(B, E)` in float64: the supplied ones, or pool, linear, activation. */
export function directRouting(
  spec: CondConvSpec,
  weights: CondConvWeights,
  input: Tensor,
  supplied?: Float32Array,
): Float64Array {
  if (spec.routing.kind === "supplied") return Float64Array.from(supplied!);
  const [B, C, H, W] = input.shape;
  const E = spec.numExperts;
  const out = new Float64Array(B * E);
  for (let b = 0; b < B; b++) {
    const pooled: number[] = [];
    for (let c = 0; c < C; c++) {
      const plane = input.data.subarray((b * C + c) * H * W, (b * C + c + 1) * H * W);
      pooled.push(plane.reduce((s, v) => s + v, 0) / (H * W));
    }
    const logits = Array.from(
      { length: E },
      (_, e) =>
        pooled.reduce(
          (s, p, c) => s + weights.routingWeight![e * C + c] * p,
          weights.routingBias![e],
        ),
    );
    if (spec.routing.kind === "sigmoid") {
      logits.forEach((z, e) => out[b * E + e] = 1 / (1 + Math.exp(-z)));
    } else {
      const t = spec.routing.temperature;
      // as torch.softmax: exp(x - max) / sum, so an infinite logit makes every weight NaN
      const max = Math.max(...logits.map((z) => z / t));
      const exps = logits.map((z) => Math.exp(z / t - max));
      const total = exps.reduce((s, v) => s + v, 0);
      exps.forEach((v, e) => out[b * E + e] = v / total);
    }
  }
  return out;
}

/** The whole CondConv layer in float64, from the formula. */
export function directCondConv(
  spec: CondConvSpec,
  weights: CondConvWeights,
  input: Tensor,
  supplied?: Float32Array,
): Tensor64 {
  const r = directRouting(spec, weights, input, supplied);
  const E = spec.numExperts, O = spec.outChannels;
  const kernelLength = weights.expertKernels.length / E;
  const mixed = (b: number) => {
    const k = new Float64Array(kernelLength);
    for (let e = 0; e < E; e++) {
      for (let i = 0; i < kernelLength; i++) {
        k[i] += r[b * E + e] * weights.expertKernels[e * kernelLength + i];
      }
    }
    return k;
  };
  const bias = (b: number) => {
    if (spec.bias === "none") return undefined;
    if (spec.bias === "shared") return weights.bias!;
    const mixedBias = new Float64Array(O);
    for (let e = 0; e < E; e++) {
      for (let o = 0; o < O; o++) mixedBias[o] += r[b * E + e] * weights.bias![e * O + o];
    }
    return mixedBias;
  };
  return convolve(spec, input, mixed, bias);
}

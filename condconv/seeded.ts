/**
 * Deterministic tensors from a seed, computed bit-identically here and in
 * `scripts/make_goldens.py`, so fixtures store outputs and checksums instead of weights.
 *
 * Element `i` of stream `s` under seed `k`:
 * `h = fmix32(i * 0x9E3779B1 + key(k, s))` (uint32 arithmetic),
 * `u = (h >>> 8) * 2^-23 - 1` (exact, in [-1, 1)),
 * value `= float32(u * scale + offset)` (one rounding).
 * Scales are powers of two, so `u * scale` is exact.
 * @module
 */
import { CondConvSpec, type CondConvSpecInput, type CondConvWeights, type Tensor } from "./spec.ts";
import type { GoldenCase } from "./cases.ts";
import { resolveGeometry, sizeOf, weightShapes } from "./geometry.ts";

/** Names the algorithm below; the fixture manifest records it and the loader compares. */
export const SEEDED_ALGORITHM = "fmix32-counter-v1";

/** Stream ids: one independent sequence per tensor of a case. */
export const STREAMS = {
  input: 1,
  expertKernels: 2,
  bias: 3,
  routingWeight: 4,
  routingBias: 5,
  suppliedRouting: 6,
} as const;

/** MurmurHash3's 32-bit finaliser: a bijection on uint32 with full avalanche. */
export function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function streamKey(seed: number, stream: number): number {
  return fmix32((Math.imul(seed, 0x9e3779b1) + Math.imul(stream, 0x85ebca77)) >>> 0);
}

/**
 * `length` float32 values `u * scale + offset`, `u` uniform on [-1, 1) from `(seed, stream)`.
 *
 * @example
 * ```ts
 * import { seededUniform } from "./seeded.ts";
 * const a = seededUniform(7, 1, 4);
 * const b = seededUniform(7, 1, 4);
 * if (a.join() !== b.join()) throw new Error("not deterministic");
 * ```
 */
export function seededUniform(
  seed: number,
  stream: number,
  length: number,
  scale = 1,
  offset = 0,
): Float32Array {
  const key = streamKey(seed, stream);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const h = fmix32((Math.imul(i, 0x9e3779b1) + key) >>> 0);
    const u = (h >>> 8) * 2 ** -23 - 1;
    out[i] = u * scale + offset;
  }
  return out;
}

/** `2^-floor(log2(fanIn) / 2)`: a power of two near `1 / sqrt(fanIn)`. */
export function fanInScale(fanIn: number): number {
  return 2 ** -Math.floor(Math.log2(fanIn) / 2);
}

/** The input, weights and (for supplied routing) routing weights of a golden case. */
export interface CaseTensors {
  input: Tensor;
  weights: CondConvWeights;
  routingWeights?: Float32Array;
}

/** Builds a case's tensors from its seed, exactly as `scripts/make_goldens.py` does. */
export function caseTensors(goldenCase: GoldenCase): CaseTensors {
  const { spec, seed, data } = goldenCase;
  const { batch, height, width } = goldenCase.input;
  const inputShape = [batch, spec.inChannels, height, width];
  const g = resolveGeometry(spec, inputShape);
  const shapes = weightShapes(spec);
  const inputSize = sizeOf(inputShape);
  const input = data.input === "zeros"
    ? new Float32Array(inputSize)
    : seededUniform(seed, STREAMS.input, inputSize, data.inputScale, data.inputOffset);
  const fanIn = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const weights: CondConvWeights = {
    expertKernels: seededUniform(
      seed,
      STREAMS.expertKernels,
      sizeOf(shapes.expertKernels!),
      fanInScale(fanIn),
    ),
  };
  if (shapes.bias) weights.bias = seededUniform(seed, STREAMS.bias, sizeOf(shapes.bias), 0.5);
  if (shapes.routingWeight && shapes.routingBias) {
    weights.routingWeight = seededUniform(
      seed,
      STREAMS.routingWeight,
      sizeOf(shapes.routingWeight),
      2 * fanInScale(spec.inChannels),
    );
    weights.routingBias = seededUniform(
      seed,
      STREAMS.routingBias,
      sizeOf(shapes.routingBias),
      0.5,
      data.routingBiasShift,
    );
  }
  const result: CaseTensors = { input: { shape: inputShape, data: input }, weights };
  if (spec.routing.kind === "supplied") {
    result.routingWeights = seededUniform(
      seed,
      STREAMS.suppliedRouting,
      batch * spec.numExperts,
      0.5,
      0.5,
    );
  }
  return result;
}

/**
 * A layer with seeded tensors for any spec at an NCHW input shape, drawn exactly as a golden
 * case with default data draws its own (`caseTensors`).
 */
export function seededLayer(
  seed: number,
  specInput: CondConvSpecInput,
  shape: readonly number[],
): CaseTensors & { spec: CondConvSpec } {
  const spec = CondConvSpec.parse(specInput);
  if (shape.length !== 4 || shape[1] !== spec.inChannels) {
    throw new RangeError(
      `Cannot seed a layer: shape [${shape}] is not [batch, ${spec.inChannels}, height, width]`,
    );
  }
  const tensors = caseTensors({
    id: "seeded",
    about: "seeded layer",
    tags: [],
    seed,
    input: { batch: shape[0], height: shape[2], width: shape[3] },
    spec,
    data: { input: "uniform", inputScale: 1, inputOffset: 0, routingBiasShift: 0 },
  });
  return { spec, ...tensors };
}

/**
 * The catalogue's run inputs: wrong inputs and routing weights, run on every available
 * adapter, which must all reject them the same way before touching their backend. The small
 * layers here are also those of the weights table (`weights.ts`).
 * @module
 */
import type { CondConvWeights, Tensor } from "../../condconv/spec.ts";
import { CondConvSpec } from "../../condconv/spec.ts";
import type { Entry } from "./entry.ts";

/** A layer with computed (sigmoid) routing. */
export const COMPUTED = CondConvSpec.parse({
  inChannels: 2,
  outChannels: 2,
  kernelSize: 3,
  padding: 1,
  numExperts: 2,
});
/** `COMPUTED` with routing the caller supplies. */
export const SUPPLIED = CondConvSpec.parse({ ...COMPUTED, routing: { kind: "supplied" } });
/** `COMPUTED`'s weights. */
export const COMPUTED_WEIGHTS: CondConvWeights = {
  expertKernels: new Float32Array(2 * 2 * 2 * 9).fill(0.125),
  bias: new Float32Array(2),
  routingWeight: new Float32Array(4),
  routingBias: new Float32Array(2),
};
/** `SUPPLIED`'s weights. */
export const SUPPLIED_WEIGHTS: CondConvWeights = {
  expertKernels: COMPUTED_WEIGHTS.expertKernels,
  bias: COMPUTED_WEIGHTS.bias,
};

function input(shape: number[], data: ArrayLike<number> = new Float32Array(size(shape))): Tensor {
  return { shape, data: data as Float32Array };
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * Math.max(b, 0), 1);
}

/** An input (and routing weights) and its error, on one of the two layers. */
export interface RunEntry extends Entry {
  layer: "computed" | "supplied";
  input: Tensor;
  routing?: unknown;
}

/** An input both layers accept. */
export const GOOD = input([1, 2, 4, 4]);

/** The bad inputs and routing weights. */
export const RUN_INPUTS: RunEntry[] = [
  {
    name: "Float64Array input",
    layer: "computed",
    input: input([1, 2, 4, 4], new Float64Array(32)),
    error: TypeError,
    message: /^Cannot run: input\.data must be a Float32Array$/,
  },
  {
    name: "plain array input",
    layer: "computed",
    input: input([1, 2, 4, 4], new Array(32).fill(0)),
    error: TypeError,
    message: /^Cannot run: input\.data must be a Float32Array$/,
  },
  {
    name: "input one float short",
    layer: "computed",
    input: input([1, 2, 4, 4], new Float32Array(31)),
    error: RangeError,
    message: /^Cannot run: input\.data has 31 floats but input\.shape \[1,2,4,4\] needs 32$/,
  },
  {
    name: "3-D input shape",
    layer: "computed",
    input: input([2, 4, 4]),
    error: RangeError,
    message: /input\.shape: expected \[batch, channels, height, width\] of integers, got \[2,4,4\]/,
  },
  {
    name: "fractional input shape",
    layer: "computed",
    input: input([1, 2, 4.5, 4], new Float32Array(36)),
    error: RangeError,
    message: /input\.shape: expected .* of integers, got \[1,2,4\.5,4\]/,
  },
  {
    name: "wrong number of channels",
    layer: "computed",
    input: input([1, 3, 4, 4]),
    error: RangeError,
    message: /input\.channels: input has 3 channels but spec\.inChannels is 2/,
  },
  {
    name: "empty batch",
    layer: "computed",
    input: input([0, 2, 4, 4]),
    error: RangeError,
    message: /input\.batch: batch must be at least 1/,
  },
  {
    name: "zero-height input",
    layer: "computed",
    input: input([1, 2, 0, 4]),
    error: RangeError,
    message: /input\.height: input height and width must be at least 1, got 0x4/,
  },
  {
    name: "supplied routing missing",
    layer: "supplied",
    input: GOOD,
    error: TypeError,
    message: /routing is "supplied", so routingWeights \(a Float32Array of \[1, 2\]\) must be/,
  },
  {
    name: "supplied routing one weight short",
    layer: "supplied",
    input: GOOD,
    routing: new Float32Array(1),
    error: RangeError,
    message: /^Cannot run: routingWeights has 1 floats, expected \[1, 2\] = 2$/,
  },
  {
    name: "supplied routing for the whole batch of another size",
    layer: "supplied",
    input: input([3, 2, 4, 4]),
    routing: new Float32Array(4),
    error: RangeError,
    message: /routingWeights has 4 floats, expected \[3, 2\] = 6/,
  },
  {
    name: "supplied routing as a Float64Array",
    layer: "supplied",
    input: GOOD,
    routing: new Float64Array(2),
    error: TypeError,
    message: /routingWeights \(a Float32Array of \[1, 2\]\)/,
  },
  {
    name: "extra routing weights for computed routing",
    layer: "computed",
    input: GOOD,
    routing: new Float32Array(2),
    error: TypeError,
    message: /routing is "sigmoid" \(computed from the input\), so routingWeights must not be/,
  },
];

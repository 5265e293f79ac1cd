/**
 * The catalogue's weights that do not match their spec, refused by `checkWeights` and by every
 * available adapter's `prepare`.
 * @module
 */
import { CondConvSpec, type CondConvWeights } from "../../condconv/spec.ts";
import type { Entry } from "./entry.ts";
import { COMPUTED, COMPUTED_WEIGHTS, SUPPLIED } from "./run_inputs.ts";

/** A spec, weights that do not match it, and the error. */
export interface WeightsEntry extends Entry {
  spec: CondConvSpec;
  weights: CondConvWeights;
}

const PER_EXPERT = CondConvSpec.parse({ ...COMPUTED, bias: "perExpert" });

/** The weights that do not match their spec. */
export const WEIGHTS: WeightsEntry[] = [
  {
    name: "shared bias missing",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, bias: undefined },
    error: TypeError,
    message: /^Cannot use weights: "bias" must be a Float32Array of \[2\]$/,
  },
  {
    name: "bias given to a layer without one",
    spec: CondConvSpec.parse({ ...COMPUTED, bias: "none" }),
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /^Cannot use weights\."bias": the spec \(bias "none", routing "sigmoid"\) has no/,
  },
  {
    name: "per-expert bias of the shared bias's length",
    spec: PER_EXPERT,
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /^Cannot use weights\."bias": expected 4 floats for \[2,2\], found 2$/,
  },
  {
    name: "routing layer given with supplied routing",
    spec: SUPPLIED,
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /weights\."routingWeight": the spec \(bias "shared", routing "supplied"\) has no/,
  },
  {
    name: "routing bias missing",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, routingBias: undefined },
    error: TypeError,
    message: /^Cannot use weights: "routingBias" must be a Float32Array of \[2\]$/,
  },
  {
    name: "routing weight transposed to the wrong length",
    spec: CondConvSpec.parse({ ...COMPUTED, numExperts: 3 }),
    weights: {
      ...COMPUTED_WEIGHTS,
      expertKernels: new Float32Array(3 * 36),
      routingWeight: new Float32Array(2 * 2),
      routingBias: new Float32Array(3),
    },
    error: TypeError,
    message: /weights\."routingWeight": expected 6 floats for \[3,2\], found 4/,
  },
  {
    name: "expert kernels as a Float64Array",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, expertKernels: new Float64Array(72) as never },
    error: TypeError,
    message: /^Cannot use weights: "expertKernels" must be a Float32Array of \[2,2,2,3,3\]$/,
  },
  {
    name: "expert kernels one float short",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, expertKernels: new Float32Array(71) },
    error: TypeError,
    message: /weights\."expertKernels": expected 72 floats for \[2,2,2,3,3\], found 71/,
  },
];

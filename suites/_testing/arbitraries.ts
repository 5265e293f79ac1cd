/**
 * fast-check arbitraries for the fuzz tests: random valid CondConv layers, small enough for a
 * software GPU, written as entries of `fixtures/cases.json` so that a shrunk counterexample can
 * be pasted into the case list and turned into a PyTorch golden (`deno task goldens`).
 *
 * Tensors come from `condconv/seeded.ts` exactly as the goldens' do (`caseTensors`), so the seed
 * of a counterexample reproduces its input and weights bit for bit. Web APIs only.
 * @module
 */
import fc from "fast-check";
import { GoldenCase } from "../../condconv/cases.ts";
import { CondConvSpec, type CondConvSpecInput, type Tensor } from "../../condconv/spec.ts";
import { geometryIssues } from "../../condconv/geometry.ts";
import { type CaseTensors, caseTensors } from "../../condconv/seeded.ts";

/** A random layer as a `cases.json` entry (every spec field written out). */
export interface FuzzCase {
  id: string;
  about: string;
  seed: number;
  input: { batch: number; height: number; width: number };
  spec: CondConvSpecInput;
  data: { input: "uniform"; inputScale: number; inputOffset: number; routingBiasShift: number };
}

/** Bounds of the random layers; the defaults keep one layer well under a millisecond. */
export interface FuzzBounds {
  /** smallest and largest batch (at least 1) */
  minBatch: number;
  maxBatch: number;
  /** largest input height and width */
  maxSize: number;
  /**
   * largest groups, and largest input and output channels per group: past 4, a common
   * vector width, so that kernels vectorised by 4 channels meet a remainder
   */
  maxGroups: number;
  maxChannelsPerGroup: number;
  maxExperts: number;
  maxKernel: number;
  maxStride: number;
  maxDilation: number;
  maxPadding: number;
}

/** The bounds of the issue: batch 1..3, H and W 1..9, 1..6 experts. */
export const DEFAULT_FUZZ_BOUNDS: FuzzBounds = {
  minBatch: 1,
  maxBatch: 3,
  maxSize: 9,
  maxGroups: 4,
  maxChannelsPerGroup: 6,
  maxExperts: 6,
  maxKernel: 4,
  maxStride: 3,
  maxDilation: 3,
  maxPadding: 3,
};

/** `n` or `[h, w]`, each in `1..max`. */
function spatialPair(max: number): fc.Arbitrary<number | [number, number]> {
  const n = fc.integer({ min: 1, max });
  return fc.oneof(n, fc.tuple(n, n));
}

/** Every padding form: a number, a pair, `"valid"` or TensorFlow's `"same"`. */
function padding(max: number): fc.Arbitrary<CondConvSpecInput["padding"]> {
  const n = fc.integer({ min: 0, max });
  return fc.oneof(
    n,
    fc.tuple(n, n),
    fc.constant("valid" as const),
    fc.constant("same" as const),
  );
}

const routing: fc.Arbitrary<CondConvSpecInput["routing"]> = fc.oneof(
  fc.constant({ kind: "sigmoid" as const }),
  fc.record({
    kind: fc.constant("softmax" as const),
    temperature: fc.constantFrom(0.25, 0.5, 1, 2, 7.5, 30),
  }),
  fc.constant({ kind: "supplied" as const }),
);

/** Whether a case's spec applies to its input shape (the checks the case list makes). */
export function fuzzCaseIsValid(c: FuzzCase): boolean {
  const spec = CondConvSpec.parse(c.spec);
  const { batch, height, width } = c.input;
  return geometryIssues(spec, [batch, spec.inChannels, height, width]).length === 0;
}

/**
 * Random valid layers: kernel n or pair, stride, dilation, numeric/pair/valid/same padding,
 * all four padding modes (reflect smaller than the input, circular at most the input),
 * groups (1..4, 1..6 channels per group) with depthwise and channel multipliers, every bias
 * and routing kind, 1..6 experts, batch 1..3, H and W 1..9. Invalid draws (a kernel larger
 * than the padded input, ...) are filtered out; shrinking stays within valid layers.
 */
export function fuzzCase(bounds: FuzzBounds = DEFAULT_FUZZ_BOUNDS): fc.Arbitrary<FuzzCase> {
  const b = bounds;
  const perGroup = fc.integer({ min: 1, max: b.maxChannelsPerGroup });
  return fc.record({
    groups: fc.integer({ min: 1, max: b.maxGroups }),
    // 1 input channel per group is depthwise; more output channels per group a multiplier
    inPerGroup: perGroup,
    outPerGroup: perGroup,
    kernelSize: spatialPair(b.maxKernel),
    stride: spatialPair(b.maxStride),
    dilation: spatialPair(b.maxDilation),
    padding: padding(b.maxPadding),
    paddingMode: fc.constantFrom("zeros", "reflect", "replicate", "circular") as fc.Arbitrary<
      "zeros" | "reflect" | "replicate" | "circular"
    >,
    bias: fc.constantFrom("shared", "none", "perExpert") as fc.Arbitrary<
      "shared" | "none" | "perExpert"
    >,
    numExperts: fc.integer({ min: 1, max: b.maxExperts }),
    routing,
    dropoutRate: fc.constantFrom(0.2, 0, 0.5),
    batch: fc.integer({ min: b.minBatch, max: b.maxBatch }),
    height: fc.integer({ min: 1, max: b.maxSize }),
    width: fc.integer({ min: 1, max: b.maxSize }),
    seed: fc.nat({ max: 0xffffffff }),
    inputOffset: fc.constantFrom(0, 0.5, -0.25),
    routingBiasShift: fc.constantFrom(0, 3, -3),
  }).map((r): FuzzCase => ({
    id: "fuzz",
    about: "a fuzz counterexample",
    seed: r.seed,
    input: { batch: r.batch, height: r.height, width: r.width },
    spec: {
      inChannels: r.groups * r.inPerGroup,
      outChannels: r.groups * r.outPerGroup,
      kernelSize: r.kernelSize,
      stride: r.stride,
      padding: r.padding,
      dilation: r.dilation,
      paddingMode: r.paddingMode,
      groups: r.groups,
      bias: r.bias,
      numExperts: r.numExperts,
      routing: r.routing,
      dropoutRate: r.dropoutRate,
    },
    data: {
      input: "uniform",
      inputScale: 1,
      inputOffset: r.inputOffset,
      routingBiasShift: r.routingBiasShift,
    },
  })).filter(fuzzCaseIsValid);
}

/** A fuzz case's parsed spec and tensors, as the golden generator would make them. */
export interface FuzzLayer extends CaseTensors {
  spec: CondConvSpec;
  input: Tensor;
}

/** Parses a fuzz case as a golden case (so it is a valid `cases.json` entry) and seeds it. */
export function fuzzLayer(c: FuzzCase): FuzzLayer {
  const goldenCase = GoldenCase.parse(c);
  return { spec: goldenCase.spec, ...caseTensors(goldenCase) };
}

/** The case as one line of JSON, ready to paste into `fixtures/cases.json`. */
export function describeFuzzCase(c: FuzzCase): string {
  return JSON.stringify(c);
}

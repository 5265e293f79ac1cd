/**
 * The data of the bench cases, loaded once and shared by every adapter: a golden case at a
 * batch (its golden as the truth at its own batch, else the `reference` adapter's output), or a
 * user's layer with its PyTorch check tensors.
 * @module
 */
import { referenceAdapter } from "../../impls/reference.ts";
import type { CondConvSpec, CondConvWeights } from "../../condconv/spec.ts";
import { caseTensors } from "../../condconv/seeded.ts";
import { memoryEstimate } from "../../condconv/geometry.ts";
import { UsageError } from "../_shared/cli.ts";
import { type FixtureSet, loadCaseTensors, loadGolden } from "../_shared/fixtures.ts";
import type { CheckTarget } from "../_shared/verify.ts";
import { type UserLayer, userLayerTarget } from "../_shared/weights_file.ts";
import type { BenchCase } from "./cases.ts";

/** One bench case, loaded: what an adapter is checked on, and its static baseline. */
export interface LoadedBenchCase {
  /** `<golden id>@b<batch>` */
  id: string;
  /** the golden case id, or the user's layer id */
  goldenCase: string;
  batch: number;
  /** what the adapter is checked on before it is timed (`target.id` is `id`) */
  target: CheckTarget;
  checkedAgainst: "golden" | "reference" | "pytorch";
  /** the first expert's kernel and bias: the static convolution of the same shape */
  staticKernel: Float32Array;
  staticBias?: Float32Array;
  /** the reference's static output, computed on first use */
  staticTruth?: Float64Array;
}

function staticWeights(spec: CondConvSpec, weights: CondConvWeights) {
  const kernelLength = weights.expertKernels.length / spec.numExperts;
  return {
    staticKernel: weights.expertKernels.slice(0, kernelLength),
    staticBias: weights.bias?.slice(0, spec.outChannels),
  };
}

/**
 * The most memory one bench layer may need (its `memoryEstimate` floor: input, output, mixed
 * kernels and weights): 4 GiB, well under the memory of the machine the suite is developed on
 * (23 GiB), since bench also holds the truth, and the reference's output at a batch without a
 * golden.
 */
export const MAX_LAYER_BYTES = 4 * 1024 ** 3;

const GIB = 1024 ** 3;

/**
 * Refuses, before anything is allocated, a bench case whose layer needs more than
 * `MAX_LAYER_BYTES` (a `--batch` too large for this machine), with the figure.
 */
export function checkBenchMemory(benchCase: BenchCase): void {
  const { spec, input } = benchCase.goldenCase;
  const shape = [input.batch, spec.inChannels, input.height, input.width];
  const { total } = memoryEstimate(spec, shape);
  if (total > MAX_LAYER_BYTES) {
    throw new UsageError(
      `Cannot bench "${benchCase.id}" at --batch ${benchCase.batch}: its layer needs at least ` +
        `${(total / GIB).toFixed(1)} GiB (input, output, mixed kernels and weights), over ` +
        `the ${MAX_LAYER_BYTES / GIB} GiB a bench layer may use; choose a smaller --batch`,
    );
  }
}

/** Loads a golden case at its bench batch; at another batch, the reference gives the truth. */
export async function loadBenchCase(
  benchCase: BenchCase,
  set: FixtureSet,
): Promise<LoadedBenchCase> {
  checkBenchMemory(benchCase);
  const { goldenCase, fixture } = benchCase;
  const tensors = benchCase.hasGolden ? await loadCaseTensors(fixture) : caseTensors(goldenCase);
  let truth: Float64Array;
  let outputShape: readonly number[];
  if (benchCase.hasGolden) {
    truth = await loadGolden(set, fixture);
    outputShape = fixture.entry.outputShape;
  } else {
    const layer = await referenceAdapter.prepare(goldenCase.spec, tensors.weights);
    const output = await layer.run(tensors.input, tensors.routingWeights);
    await layer.dispose();
    truth = Float64Array.from(output.data);
    outputShape = output.shape;
  }
  return {
    id: benchCase.id,
    goldenCase: fixture.entry.id,
    batch: benchCase.batch,
    target: {
      id: benchCase.id,
      spec: goldenCase.spec,
      ...tensors,
      truth,
      outputShape,
      torchFloat32MaxAbsErr: fixture.entry.torchFloat32.maxAbsErr,
    },
    checkedAgainst: benchCase.hasGolden ? "golden" : "reference",
    ...staticWeights(goldenCase.spec, tensors.weights),
  };
}

/** A user's layer as a bench case, at the batch of its PyTorch check input. */
export function userLayerBenchCase(layer: UserLayer): LoadedBenchCase {
  const target = userLayerTarget(layer);
  const id = `${layer.id}@b${target.input.shape[0]}`;
  return {
    id,
    goldenCase: layer.id,
    batch: target.input.shape[0],
    target: { ...target, id },
    checkedAgainst: "pytorch",
    ...staticWeights(layer.spec, layer.weights),
  };
}

/** The reference's output of the static convolution of `loaded`, computed once. */
export async function staticTruth(loaded: LoadedBenchCase): Promise<Float64Array> {
  if (!loaded.staticTruth) {
    const { spec, input } = loaded.target;
    const layer = await referenceAdapter.prepareStatic!(
      spec,
      loaded.staticKernel,
      loaded.staticBias,
    );
    loaded.staticTruth = Float64Array.from((await layer.run(input)).data);
    await layer.dispose();
  }
  return loaded.staticTruth;
}

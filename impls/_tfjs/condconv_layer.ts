/**
 * A CondConv layer prepared on one tfjs backend. Everything after the input upload runs on
 * that backend: routing (mean, linear layer, sigmoid or softmax), kernel mixing
 * (`kernel_mixing.ts`), bias, padding and the convolution in the layer's formulation
 * (`formulations.ts`).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { checkRunInputs, checkWeights, pair } from "../../condconv/geometry.ts";
import type { PreparedCondConv } from "../adapter.ts";
import { computeAndRead, onBackend } from "./backend.ts";
import { chooseFormulation } from "./choose_formulation.ts";
import {
  batchedMatmulConv,
  depthwiseFoldedConv,
  expertSumConv,
  expertSumFilter,
  formulationProblem,
  mixedKernelLayout,
  perExampleConv,
  type TfjsFormulation,
} from "./formulations.ts";
import {
  type ExpertTensors,
  expertTensors,
  KERNEL_MIXINGS,
  type KernelMixing,
  mix,
} from "./kernel_mixing.ts";

/** Options of `prepareTfjsCondConv`. */
export interface TfjsPrepareOptions {
  /**
   * force a formulation instead of `chooseFormulation`'s; `"depthwise-folded"` needs
   * groups == inChannels
   */
  formulation?: TfjsFormulation;
  /** force a kernel mixing instead of the adapter's */
  kernelMixing?: KernelMixing;
}

/** The tensors a prepared layer owns. */
type LayerTensors = {
  /**
   * `L = O * C/g * kh * kw`: `(O, C/g, kh, kw)` per expert for `"batched-matmul"`,
   * `(kh, kw, C/g, O)` (HWIO) per expert for `"depthwise-folded"` and `"per-example"`
   */
  experts?: ExpertTensors;
  /** for `"expert-sum"`: `(kh, kw, C/g, O * E)` (see `expertSumFilter`) */
  expertFilter?: tf.Tensor4D;
  /** `(1, O, 1, 1)` for a shared bias */
  bias?: tf.Tensor4D;
  /** `L = O`, for a per-expert bias */
  expertBias?: ExpertTensors;
  /** `(E, C)` */
  routingWeight?: tf.Tensor2D;
  /** `(1, E)` */
  routingBias?: tf.Tensor2D;
};

/** A prepared CondConv layer on one tfjs backend. */
export class TfjsCondConv implements PreparedCondConv {
  /** `"tfjs:<backend>"` */
  readonly backend: string;
  /** the tfjs backend name, activated before every computation */
  readonly backendName: string;
  /** how this layer computes its convolution */
  readonly formulation: TfjsFormulation;
  /** how this layer mixes its kernels (for `"expert-sum"`: its expert outputs) */
  readonly kernelMixing: KernelMixing;
  readonly #spec: CondConvSpec;
  #tensors: LayerTensors | undefined;

  /** Use `prepareTfjsCondConv`, which validates and uploads. */
  constructor(
    backendName: string,
    spec: CondConvSpec,
    formulation: TfjsFormulation,
    kernelMixing: KernelMixing,
    tensors: LayerTensors,
  ) {
    this.backendName = backendName;
    this.backend = `tfjs:${backendName}`;
    this.#spec = spec;
    this.formulation = formulation;
    this.kernelMixing = kernelMixing;
    this.#tensors = tensors;
  }

  /** Runs the layer; reads the output back with `await tensor.data()` only. */
  async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    const g = checkRunInputs(this.#spec, input, routingWeights);
    return await computeAndRead(this.backendName, g, () => {
      const tensors = this.#tensors;
      if (tensors === undefined) {
        throw new Error(`Cannot run: this ${this.backend} layer was disposed`);
      }
      return this.#compute(tensors, g, input, routingWeights);
    });
  }

  /** Releases the weight tensors; later runs throw. */
  dispose(): Promise<void> {
    const tensors = this.#tensors;
    this.#tensors = undefined;
    if (tensors) tf.dispose(Object.values(tensors).flat());
    return Promise.resolve();
  }

  #compute(
    t: LayerTensors,
    g: Geometry,
    input: Tensor,
    supplied: Float32Array | undefined,
  ): tf.Tensor4D {
    const spec = this.#spec;
    const { batch: b, numExperts: e } = g;
    const x = tf.tensor4d(input.data, [b, g.inChannels, g.inHeight, g.inWidth]);

    // r: (B, E)
    let r: tf.Tensor2D;
    if (spec.routing.kind === "supplied") {
      r = tf.tensor2d(supplied!, [b, e]);
    } else {
      const pooled = tf.mean(x, [2, 3]) as tf.Tensor2D;
      const z = tf.add<tf.Tensor2D>(
        tf.matMul(pooled, t.routingWeight!, false, true),
        t.routingBias!,
      );
      r = spec.routing.kind === "softmax"
        ? tf.softmax(tf.div<tf.Tensor2D>(z, tf.scalar(spec.routing.temperature)))
        : tf.sigmoid(z);
    }

    const mode = spec.paddingMode;
    let y: tf.Tensor4D;
    if (this.formulation === "expert-sum") {
      y = expertSumConv(x, t.expertFilter!, r, this.kernelMixing, g, mode);
    } else {
      // K: (B, O * C/g * kh * kw), in the layout of t.experts
      const kernels = mix(r, t.experts!, this.kernelMixing);
      const conv = this.formulation === "batched-matmul"
        ? batchedMatmulConv
        : this.formulation === "depthwise-folded"
        ? depthwiseFoldedConv
        : perExampleConv;
      y = conv(x, kernels, g, mode);
    }
    if (spec.bias === "shared") {
      y = tf.add(y, t.bias!);
    } else if (spec.bias === "perExpert") {
      const mixed = mix(r, t.expertBias!, this.kernelMixing);
      y = tf.add(y, tf.reshape(mixed, [b, g.outChannels, 1, 1]));
    }
    return y;
  }
}

/**
 * Validates `weights` and uploads them to the tfjs backend `backendName` in the layout the
 * formulation needs. Throws a `TypeError` for bad weights, a `RangeError` for a formulation or
 * kernel mixing that is unknown or cannot compute `spec`, an `Error` when the backend cannot be
 * activated.
 */
export async function prepareTfjsCondConv(
  backendName: string,
  spec: CondConvSpec,
  weights: CondConvWeights,
  options: TfjsPrepareOptions = {},
): Promise<TfjsCondConv> {
  checkWeights(spec, weights);
  const formulation = options.formulation ?? chooseFormulation(spec, backendName);
  const problem = formulationProblem(spec, formulation);
  if (problem !== undefined) throw new RangeError(`Cannot prepare: ${problem}`);
  const kernelMixing = options.kernelMixing ?? "matmul";
  if (!KERNEL_MIXINGS.includes(kernelMixing)) {
    throw new RangeError(
      `Cannot prepare: unknown kernelMixing "${kernelMixing}" (kernel mixings: ` +
        `${KERNEL_MIXINGS.join(", ")})`,
    );
  }
  const [kh, kw] = pair(spec.kernelSize);
  const e = spec.numExperts, o = spec.outChannels, cg = spec.inChannels / spec.groups;
  const tensors = await onBackend(backendName, () =>
    tf.tidy(() => {
      const raw = tf.tensor2d(weights.expertKernels, [e, o * cg * kh * kw]);
      const shape = { outChannels: o, channelsPerGroup: cg, kernelHeight: kh, kernelWidth: kw };
      // tidy keeps what it returns and disposes the rest (the raw layout, when transposed)
      const depthwise = spec.groups === spec.inChannels ? spec.inChannels : undefined;
      const layer: LayerTensors = formulation === "expert-sum"
        ? { expertFilter: expertSumFilter(raw, shape, depthwise) }
        : { experts: expertTensors(mixedKernelLayout(raw, shape, formulation), kernelMixing) };
      if (spec.bias === "shared") layer.bias = tf.tensor4d(weights.bias!, [1, o, 1, 1]);
      if (spec.bias === "perExpert") {
        layer.expertBias = expertTensors(tf.tensor2d(weights.bias!, [e, o]), kernelMixing);
      }
      if (spec.routing.kind !== "supplied") {
        layer.routingWeight = tf.tensor2d(weights.routingWeight!, [e, spec.inChannels]);
        layer.routingBias = tf.tensor2d(weights.routingBias!, [1, e]);
      }
      return layer;
    }));
  return new TfjsCondConv(backendName, spec, formulation, kernelMixing, tensors);
}

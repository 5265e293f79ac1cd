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
import { defaultFormulation, possibleDefaults } from "../_formulations/defaults.ts";
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
   * force a formulation for every run; by default each run takes its cell's entry of the
   * measured table (`impls/_formulations/`), or `chooseFormulation`'s rule where the table
   * has none; `"depthwise-folded"` needs groups == inChannels
   */
  formulation?: TfjsFormulation;
  /** force a kernel mixing instead of the adapter's */
  kernelMixing?: KernelMixing;
  /**
   * whose cells of the measured table the defaults follow (the adapter's id; default
   * `"tfjs-<backend>"`)
   */
  tableBackend?: string;
}

/** The kernel tensors of one formulation. */
type KernelTensors = {
  /**
   * `L = O * C/g * kh * kw`: `(O, C/g, kh, kw)` per expert for `"batched-matmul"`,
   * `(kh, kw, C/g, O)` (HWIO) per expert for `"depthwise-folded"` and `"per-example"`
   */
  experts?: ExpertTensors;
  /** for `"expert-sum"`: `(kh, kw, C/g, O * E)` (see `expertSumFilter`) */
  expertFilter?: tf.Tensor4D;
};

/** The tensors a prepared layer owns beside its kernels. */
type LayerTensors = {
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
  /** the formulation every run takes when one was forced, else `undefined` (per run) */
  readonly forced: TfjsFormulation | undefined;
  /** how this layer mixes its kernels (for `"expert-sum"`: its expert outputs) */
  readonly kernelMixing: KernelMixing;
  readonly #spec: CondConvSpec;
  /** whose cells of the measured table the defaults follow, e.g. `"tfjs-wasm"` */
  readonly #tableBackend: string;
  #tensors: LayerTensors | undefined;
  /** the kernels of every formulation a run may take, uploaded by `prepareTfjsCondConv` */
  #kernels: Map<TfjsFormulation, KernelTensors>;
  #last: TfjsFormulation;

  /** Use `prepareTfjsCondConv`, which validates and uploads. */
  constructor(
    backendName: string,
    spec: CondConvSpec,
    options: { forced?: TfjsFormulation; kernelMixing: KernelMixing; tableBackend: string },
    tensors: LayerTensors,
    kernels: Map<TfjsFormulation, KernelTensors>,
  ) {
    this.backendName = backendName;
    this.backend = `tfjs:${backendName}`;
    this.#spec = spec;
    this.#tableBackend = options.tableBackend;
    this.forced = options.forced;
    this.kernelMixing = options.kernelMixing;
    this.#tensors = tensors;
    this.#kernels = kernels;
    this.#last = options.forced ?? this.formulationFor({ batch: 1, inHeight: 1, inWidth: 1 });
  }

  /**
   * The formulation of the last run (before any run: the forced one, or the default of a
   * batch-1 run on a small input).
   */
  get formulation(): TfjsFormulation {
    return this.#last;
  }

  /** The formulation a run of geometry `g` takes (see `TfjsPrepareOptions.formulation`). */
  formulationFor(g: { batch: number; inHeight: number; inWidth: number }): TfjsFormulation {
    return this.forced ?? layerDefault(this.#tableBackend, this.backendName, this.#spec, g);
  }

  /** Runs the layer; reads the output back with `await tensor.data()` only. */
  async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    const g = checkRunInputs(this.#spec, input, routingWeights);
    const formulation = this.formulationFor(g);
    const out = await computeAndRead(this.backendName, g, () => {
      const tensors = this.#tensors;
      if (tensors === undefined) {
        throw new Error(`Cannot run: this ${this.backend} layer was disposed`);
      }
      const kernels = this.#kernels.get(formulation);
      if (kernels === undefined) {
        // prepare uploads every formulation formulationFor can return: a bug if reached
        throw new Error(`Cannot run: the ${formulation} kernels of this layer were not prepared`);
      }
      return this.#compute(formulation, kernels, tensors, g, input, routingWeights);
    });
    this.#last = formulation;
    return out;
  }

  /** Releases the weight tensors; later runs throw. */
  dispose(): Promise<void> {
    const tensors = this.#tensors;
    this.#tensors = undefined;
    if (tensors) tf.dispose(Object.values(tensors).flat());
    for (const k of this.#kernels.values()) tf.dispose(Object.values(k).flat());
    this.#kernels.clear();
    return Promise.resolve();
  }

  #compute(
    formulation: TfjsFormulation,
    k: KernelTensors,
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
    if (formulation === "expert-sum") {
      y = expertSumConv(x, k.expertFilter!, r, this.kernelMixing, g, mode);
    } else {
      // K: (B, O * C/g * kh * kw), in the layout of k.experts
      const kernels = mix(r, k.experts!, this.kernelMixing);
      const conv = formulation === "batched-matmul"
        ? batchedMatmulConv
        : formulation === "depthwise-folded"
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

/** The default formulation of a run of `g` (the table's cell, else the backend's rule). */
function layerDefault(
  tableBackend: string,
  backendName: string,
  spec: CondConvSpec,
  g: { batch: number; inHeight: number; inWidth: number },
): TfjsFormulation {
  return defaultFormulation(
    tableBackend,
    spec,
    g,
    () => chooseFormulation(spec, backendName),
    (f) => formulationProblem(spec, f),
  ).formulation;
}

/** Uploads the expert kernels in the layout `formulation` reads. */
function uploadKernels(
  backendName: string,
  spec: CondConvSpec,
  expertKernels: Float32Array,
  formulation: TfjsFormulation,
  kernelMixing: KernelMixing,
): Promise<KernelTensors> {
  const [kh, kw] = pair(spec.kernelSize);
  const e = spec.numExperts, o = spec.outChannels, cg = spec.inChannels / spec.groups;
  return onBackend(backendName, () =>
    tf.tidy(() => {
      const raw = tf.tensor2d(expertKernels, [e, o * cg * kh * kw]);
      const shape = { outChannels: o, channelsPerGroup: cg, kernelHeight: kh, kernelWidth: kw };
      // tidy keeps what it returns and disposes the rest (the raw layout, when transposed)
      const depthwise = spec.groups === spec.inChannels ? spec.inChannels : undefined;
      return formulation === "expert-sum"
        ? { expertFilter: expertSumFilter(raw, shape, depthwise) }
        : { experts: expertTensors(mixedKernelLayout(raw, shape, formulation), kernelMixing) };
    }));
}

/**
 * Validates `weights` and uploads the routing weights and bias to the tfjs backend
 * `backendName`, and the kernels in the layout of every formulation a run may take (the forced
 * one, or each default the table and the rule can give this layer). Throws a `TypeError` for bad weights, a `RangeError` for a formulation or
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
  const forced = options.formulation;
  const problem = forced === undefined ? undefined : formulationProblem(spec, forced);
  if (problem !== undefined) throw new RangeError(`Cannot prepare: ${problem}`);
  const kernelMixing = options.kernelMixing ?? "matmul";
  if (!KERNEL_MIXINGS.includes(kernelMixing)) {
    throw new RangeError(
      `Cannot prepare: unknown kernelMixing "${kernelMixing}" (kernel mixings: ` +
        `${KERNEL_MIXINGS.join(", ")})`,
    );
  }
  const e = spec.numExperts, o = spec.outChannels;
  const tensors = await onBackend(backendName, () => {
    const layer: LayerTensors = {};
    if (spec.bias === "shared") layer.bias = tf.tensor4d(weights.bias!, [1, o, 1, 1]);
    if (spec.bias === "perExpert") {
      layer.expertBias = tf.tidy(() =>
        expertTensors(tf.tensor2d(weights.bias!, [e, o]), kernelMixing)
      );
    }
    if (spec.routing.kind !== "supplied") {
      layer.routingWeight = tf.tensor2d(weights.routingWeight!, [e, spec.inChannels]);
      layer.routingBias = tf.tensor2d(weights.routingBias!, [1, e]);
    }
    return layer;
  });
  // every formulation a run may take, so that runs upload nothing
  const tableBackend = options.tableBackend ?? `tfjs-${backendName}`;
  const formulations = forced !== undefined ? [forced] : possibleDefaults(
    tableBackend,
    spec,
    () => chooseFormulation(spec, backendName),
    (f) => formulationProblem(spec, f),
  );
  const kernels = new Map<TfjsFormulation, KernelTensors>();
  try {
    for (const f of formulations) {
      kernels.set(
        f,
        await uploadKernels(backendName, spec, weights.expertKernels, f, kernelMixing),
      );
    }
  } catch (error) {
    // nothing a failed prepare made stays on the backend
    tf.dispose(Object.values(tensors).flat());
    for (const k of kernels.values()) tf.dispose(Object.values(k).flat());
    throw error;
  }
  const layer = new TfjsCondConv(
    backendName,
    spec,
    { forced, kernelMixing, tableBackend },
    tensors,
    kernels,
  );
  return layer;
}

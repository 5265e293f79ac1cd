/**
 * The factory of the onnxruntime-web adapters (`ort-wasm`, `ort-webgpu`): the CondConv layer
 * is exported to ONNX (`condconv/formats/onnx_graph.ts`) and run by one `InferenceSession`
 * per input shape. The parts: `runtime.ts` loads onnxruntime-web and proves its execution
 * provider (no silent fallback, which WebGPU kernels run, why one wasm thread),
 * `formulation.ts` chooses each layer's models, `layer.ts` holds a layer's sessions.
 *
 * `prepare` takes the layer's default formulation (`formulation.ts`); `prepareWith(spec,
 * weights, { formulation })` forces one of `formulations` (the project's axis, the names the
 * tfjs adapters use; `formulationProblem(spec, f)` says why one cannot compute a layer), and
 * the prepared layer records its `formulation`.
 *
 * `prepare` validates the weights, copies the spec and every weight array (the models are
 * built later, at the first run of each input size, so a caller's later change to its arrays
 * must not reach them) and initialises the runtime (wasm instantiated, GPU device made, a
 * probe session run).
 *
 * ## Workarounds
 *
 * onnxruntime-web 1.30's WebGPU EP computes some `Conv` nodes wrong
 * (`condconv/formats/onnx_graph_conv_bugs.ts`; the rule is `ort-webgpu-conv` in
 * `suites/conform/known_failures.ts`). With `workarounds` on (the default), `ort-webgpu`
 * builds such a node with zero-padded channels or an explicit `Pad` instead, which every
 * correct runtime computes to the same numbers; `createOrtWebgpuAdapter({ workarounds:
 * false })`, which is also the adapter's `withoutWorkarounds()`, shows the raw bug. A prepared
 * layer lists what it changed in `workarounds`.
 * @module
 */
import { z } from "zod";
import { CondConvSpec, type CondConvWeights } from "../../condconv/spec.ts";
import { checkWeights } from "../../condconv/geometry.ts";
import {
  checkStaticConvWeights,
  CONV_FORMULATIONS,
  formulationProblem,
} from "../../condconv/formats/onnx_graph.ts";
import type { ConvFormulation, KernelMixing } from "../../condconv/formats/onnx_graph.ts";
import type {
  Availability,
  CondConvAdapter,
  PreparedCondConv,
  ToleranceClass,
} from "../adapter.ts";
import { messageOf, runtimeLoader, type RuntimeSpec } from "./runtime.ts";
import {
  condConvModels,
  formulationInfo,
  type LayerModels,
  staticConvModels,
} from "./formulation.ts";
import { OrtLayer, type SessionCount } from "./layer.ts";
import { autotune, type AutotunedLayer } from "../_formulations/autotune.ts";

export { ortSessionOptions, WASM_THREADS_LIMIT } from "./runtime.ts";

/** What differs between the two adapters. */
export interface OrtFlavor extends RuntimeSpec {
  id: string;
  description: string;
  toleranceClass: ToleranceClass;
  /** how the expert kernels are mixed on this EP (measured: see `onnx_graph.ts`) */
  kernelMixing: KernelMixing;
  /** whether this EP has the Conv bug the workarounds avoid (the WebGPU EP) */
  convBug: boolean;
}

/** Options of one adapter instance. */
export interface OrtAdapterOptions {
  /**
   * Avoid the EP's known Conv bug by changing the graph where it would show (default
   * `true`); `false` runs the plain graph, to show the raw bug. Only the WebGPU EP has one.
   */
  workarounds?: boolean;
}

/** Options of `prepareWith`. */
export interface OrtPrepareOptions {
  /** force a formulation instead of the layer's default (`formulationProblem` must allow it) */
  formulation?: ConvFormulation;
}

/** A prepared `ort-*` layer, with the formulation it runs. */
export type OrtCondConv = PreparedCondConv & { readonly formulation: string };

/**
 * An `ort-*` adapter: a CondConv adapter whose formulation can be forced, with the members
 * the tfjs adapters have (`TfjsAdapter`), so that a caller treats both alike.
 */
export interface OrtAdapter extends CondConvAdapter {
  prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<OrtCondConv>;
  /** `prepare` in the formulation `options` forces (one of `formulations`) */
  prepareWith: (
    spec: CondConvSpec,
    weights: CondConvWeights,
    options: OrtPrepareOptions,
  ) => Promise<OrtCondConv>;
  /**
   * Opt-in autotuning: every formulation that computes the layer, the fastest kept per input
   * geometry by timing each once at its first run (`impls/_formulations/autotune.ts`).
   */
  prepareAutotuned(spec: CondConvSpec, weights: CondConvWeights): Promise<AutotunedLayer>;
  /** the formulation axis's names this adapter builds; `formulationProblem` says where */
  readonly formulations: readonly ConvFormulation[];
  /** The reason `formulation` cannot compute `spec` on this adapter; `undefined` if it can. */
  formulationProblem(spec: CondConvSpec, formulation: string): string | undefined;
}

/**
 * The layer's own copy of its spec, parsed again (a fresh object, checked field by field):
 * the caller may change its spec object after `prepare`. Throws a `TypeError` naming the
 * field at fault.
 */
export function ownSpec(spec: CondConvSpec): CondConvSpec {
  const parsed = CondConvSpec.safeParse(spec);
  if (!parsed.success) {
    throw new TypeError(`Cannot prepare: invalid spec:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The layer's own copy of its weights: the caller may change its arrays after `prepare`. */
export function copyWeights(weights: CondConvWeights): CondConvWeights {
  const copy: CondConvWeights = { expertKernels: weights.expertKernels.slice() };
  if (weights.bias) copy.bias = weights.bias.slice();
  if (weights.routingWeight) copy.routingWeight = weights.routingWeight.slice();
  if (weights.routingBias) copy.routingBias = weights.routingBias.slice();
  return copy;
}

/**
 * Creates the CondConv adapter of one onnxruntime-web flavor. The runtime is loaded on the
 * first `availability()` or `prepare()` and shared by all layers the adapter prepares.
 */
export function makeOrtAdapter(
  flavor: OrtFlavor,
  options: OrtAdapterOptions = {},
): OrtAdapter {
  const ready = runtimeLoader(flavor);
  const count: SessionCount = { live: 0 };
  const workarounds = flavor.convBug && (options.workarounds ?? true);
  const info = {
    kernelMixing: flavor.kernelMixing,
    formulation: formulationInfo(flavor.id),
    workarounds: flavor.convBug
      ? workarounds
        ? "on: Conv nodes the WebGPU EP gets wrong are built with zero channels or a zero kernel row " +
          "(suites/conform/known_failures.ts, rule ort-webgpu-conv)"
        : "off: the plain graph, the WebGPU EP's Conv bug shows"
      : "none needed",
  };
  const layer = async (models: LayerModels & { formulation: string }): Promise<OrtLayer> =>
    new OrtLayer(await ready(), count, models);
  const prepareWith = async (
    spec: CondConvSpec,
    weights: CondConvWeights,
    prepareOptions: OrtPrepareOptions,
  ): Promise<OrtLayer> => {
    const owned = ownSpec(spec);
    checkWeights(owned, weights);
    const { formulation } = prepareOptions;
    const problem = formulation === undefined ? undefined : formulationProblem(owned, formulation);
    if (problem) throw new RangeError(`Cannot prepare the formulation: ${problem}`);
    const choice = { kernelMixing: flavor.kernelMixing, workarounds, tableBackend: flavor.id };
    return await layer(condConvModels(owned, copyWeights(weights), choice, formulation));
  };

  const adapter: OrtAdapter = {
    id: flavor.id,
    description: flavor.description,
    toleranceClass: flavor.toleranceClass,
    formulations: CONV_FORMULATIONS,
    formulationProblem: (spec, formulation) => formulationProblem(spec, formulation),
    async availability(): Promise<Availability> {
      try {
        const rt = await ready();
        return { available: true, backend: rt.backend, info: { ...rt.info, ...info }, gpu: rt.gpu };
      } catch (error) {
        return { available: false, reason: messageOf(error) };
      }
    },
    prepare: (spec, weights) => prepareWith(spec, weights, {}),
    prepareWith,
    async prepareStatic(
      spec: CondConvSpec,
      kernel: Float32Array,
      bias?: Float32Array,
    ): Promise<PreparedCondConv> {
      const owned = ownSpec(spec);
      checkStaticConvWeights(owned, kernel, bias);
      return await layer(staticConvModels(owned, kernel.slice(), bias?.slice(), { workarounds }));
    },
    resourceCounts() {
      return { ortSessions: count.live };
    },
    prepareAutotuned: (spec, weights) => autotune(adapter, spec, weights),
  };
  if (flavor.convBug) {
    // conform and bench `--no-workarounds` swap the adapter for this one (made once)
    let plain: OrtAdapter | undefined = workarounds ? undefined : adapter;
    adapter.withoutWorkarounds = () => plain ??= makeOrtAdapter(flavor, { workarounds: false });
  }
  return adapter;
}

/**
 * CondConv on TensorFlow.js (tfjs-core 4.22), shared by the `tfjs-cpu`, `tfjs-wasm` and
 * `tfjs-webgpu` adapters: `createTfjsAdapter` turns one tfjs backend into a
 * `CondConvAdapter`. The engine's parts, one job each:
 * - `backend.ts`: activating a backend (one at a time, never a silent fallback) and reading
 *   an output back; `gpu_error_guard.ts`: GPU errors that tfjs-webgpu ignores;
 * - `condconv_layer.ts`: a prepared layer (routing, bias, the formulation's convolution);
 * - `formulations.ts`: the ways tfjs can express the convolution, and
 *   `choose_formulation.ts`: which one a layer takes by default;
 * - `kernel_mixing.ts`: `r @ W` as a matMul or as broadcast products;
 * - `conv.ts`: padding modes and the grouped convolution; `static_conv.ts`: the static
 *   baseline.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec, CondConvWeights } from "../../condconv/spec.ts";
import type { Availability, CondConvAdapter, GpuSummary, ToleranceClass } from "../adapter.ts";
import { defineAdapter } from "../_contract.ts";
import { activateBackend, messageOf } from "./backend.ts";
import { formulationRule } from "./choose_formulation.ts";
import { tableSummary } from "../_formulations/defaults.ts";
import { autotune, type AutotunedLayer } from "../_formulations/autotune.ts";
import { formulationProblem, TFJS_FORMULATIONS, type TfjsFormulation } from "./formulations.ts";
import type { KernelMixing } from "./kernel_mixing.ts";
import {
  prepareTfjsCondConv,
  type TfjsCondConv,
  type TfjsPrepareOptions,
} from "./condconv_layer.ts";
import { prepareTfjsStaticConv } from "./static_conv.ts";

/** The tensor counts `resourceCounts()` reports. */
export interface TfjsResourceCounts extends Record<string, number> {
  /** `tf.memory().numTensors`: live tfjs tensors across every backend */
  tfjsTensors: number;
  /** `tf.memory().numDataBuffers`: live backend data buffers across every backend */
  tfjsDataBuffers: number;
}

/** Live tfjs tensors and data buffers, for leak tests. */
export function tfjsResourceCounts(): TfjsResourceCounts {
  const memory = tf.memory();
  return { tfjsTensors: memory.numTensors, tfjsDataBuffers: memory.numDataBuffers };
}

/** What every tfjs adapter records about its backend, beside the common fields. */
export interface TfjsBackendFacts extends Record<string, unknown> {
  /**
   * CPU threads the backend computes on (tfjs-wasm: XNNPACK's pool, as the backend reports
   * it); 1 for the JavaScript backend and for webgpu, whose one JavaScript thread encodes the
   * GPU work
   */
  threads: number;
}

/** What a concrete tfjs adapter adds to the shared implementation. */
export interface TfjsAdapterOptions {
  id: string;
  description: string;
  toleranceClass: ToleranceClass;
  /** the tfjs backend name, e.g. `"wasm"` */
  backendName: string;
  /** how layers mix their kernels unless a prepare option says otherwise (default matmul) */
  kernelMixing?: KernelMixing;
  /**
   * Called before the backend is activated; resolves to a reason when the backend cannot
   * run here (e.g. no WebGPU adapter), else to `undefined`. May set backend flags and paths.
   */
  setup?(): Promise<string | undefined>;
  /** Said after the reason when the backend fails to initialise (e.g. where it looked). */
  initHint?(): string;
  /**
   * Called once the backend is active, before any layer is prepared: a reason when it is not
   * what was asked for (e.g. fewer threads), else `undefined`.
   */
  checkActive?(): string | undefined;
  /** Facts recorded with every result, read while the backend is active. */
  describe(): Promise<TfjsBackendFacts>;
  /** For a WebGPU backend: the GPU adapter it runs on, known once `setup` succeeded. */
  gpu?(): GpuSummary | undefined;
}

/** A tfjs CondConv adapter on one backend. */
export interface TfjsAdapter extends CondConvAdapter {
  /** the tfjs backend name */
  readonly backendName: string;
  /** every formulation `prepareWith` accepts (some only for some layers: `formulationProblem`) */
  readonly formulations: readonly TfjsFormulation[];
  /** Why `formulation` cannot compute `spec` here, or `undefined` when it can. */
  formulationProblem(spec: CondConvSpec, formulation: string): string | undefined;
  prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<TfjsCondConv>;
  /** Like `prepare`, with options (a forced formulation or kernel mixing). */
  prepareWith(
    spec: CondConvSpec,
    weights: CondConvWeights,
    options: TfjsPrepareOptions,
  ): Promise<TfjsCondConv>;
  /**
   * Opt-in autotuning: every formulation that computes the layer, the fastest kept per input
   * geometry by timing each once at its first run (`impls/_formulations/autotune.ts`).
   */
  prepareAutotuned(spec: CondConvSpec, weights: CondConvWeights): Promise<AutotunedLayer>;
  resourceCounts(): TfjsResourceCounts;
}

/**
 * Builds a tfjs adapter for one backend, held to the contract by `defineAdapter` (`prepare`,
 * `prepareWith` and `prepareStatic`).
 */
export function createTfjsAdapter(options: TfjsAdapterOptions): TfjsAdapter {
  const { backendName } = options;
  const kernelMixing = options.kernelMixing ?? "matmul";
  /** Resolves to a reason when the backend cannot run as asked, else to `undefined`. */
  const whyNotReady = async (): Promise<string | undefined> => {
    const reason = await options.setup?.();
    if (reason !== undefined) return reason;
    try {
      await activateBackend(backendName);
    } catch (error) {
      const hint = options.initHint?.();
      throw hint === undefined ? error : new Error(`${messageOf(error)}; ${hint}`);
    }
    return options.checkActive?.();
  };
  const ensureReady = async (): Promise<void> => {
    const reason = await whyNotReady();
    if (reason !== undefined) throw new Error(`Cannot use ${options.id}: ${reason}`);
  };
  const prepareWith = async (
    spec: CondConvSpec,
    weights: CondConvWeights,
    prepareOptions: TfjsPrepareOptions,
  ) => {
    // defineAdapter has parsed the spec, checked the weights and copied them
    await ensureReady();
    return prepareTfjsCondConv(backendName, spec, weights, {
      kernelMixing,
      ...prepareOptions,
      tableBackend: options.id,
    });
  };
  const adapter: TfjsAdapter = defineAdapter<TfjsAdapter>({
    id: options.id,
    description: options.description,
    toleranceClass: options.toleranceClass,
    backendName,
    formulations: TFJS_FORMULATIONS,
    formulationProblem,
    async availability(): Promise<Availability> {
      try {
        const reason = await whyNotReady();
        if (reason !== undefined) return { available: false, reason };
        const info: Record<string, unknown> = {
          tfjsVersion: tf.version_core,
          tfjsBackend: tf.getBackend(),
          kernelMixing,
          formulation: `per run unless prepareWith forces one: ` +
            `${tableSummary(options.id)}; rule: ${formulationRule(backendName)}`,
          ...await options.describe(),
        };
        return { available: true, backend: `tfjs:${backendName}`, info, gpu: options.gpu?.() };
      } catch (error) {
        return { available: false, reason: messageOf(error) };
      }
    },
    prepare: (spec, weights) => prepareWith(spec, weights, {}),
    prepareWith,
    async prepareStatic(spec, kernel, bias) {
      await ensureReady();
      return prepareTfjsStaticConv(backendName, spec, kernel, bias);
    },
    resourceCounts: tfjsResourceCounts,
    prepareAutotuned: (spec, weights) => autotune(adapter, spec, weights),
  });
  return adapter;
}

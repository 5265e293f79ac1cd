/**
 * Which ONNX model an `ort-*` layer runs for each input: the formulation (`onnx_graph.ts`; by
 * default the measured table's for the run's cell (`impls/_formulations/`: adapter x kernel
 * kind x batch bucket x spatial bucket), else `chooseFormulation`'s rule: one dynamic-batch
 * `MatMul` (`"batched-matmul"`) for 1x1 kernels, a grouped `Conv` with `group = batch x
 * groups` and one session per batch size (`"grouped"`, `"depthwise-folded"` for a depthwise
 * layer) for every other kernel; a prepare option can force any one), the kernel mixing of
 * the flavor, and
 * where asked the workarounds of the WebGPU Conv bug (`onnx_graph_conv_bugs.ts`), recorded
 * per model.
 *
 * Sessions per formulation: `"batched-matmul"` and `"expert-sum"` one per input size (any
 * batch); `"grouped"` and `"depthwise-folded"` one per batch and input size; `"per-example"`
 * one batch-1 session per input size, run once per example (`layer.ts`).
 *
 * ## Measured on ort-wasm (issue 18; what the rule above came from)
 *
 * `scripts/ort_timing.ts --adapter ort-wasm --all-formulations --runs 5` and `--runs 9`, the
 * 13 effnet-b0 layers at batch 1 and 8, formulations interleaved, on a 2-core VM at load
 * average 16-20 (so medians swing 2-10x between runs; the fastest of the 14 runs is steadier).
 * Sum of the 13 fastest runs, ms (depthwise-folded: the 5 depthwise layers only, where it is
 * the grouped graph):
 *
 * | batch | batched-matmul | grouped | per-example | expert-sum | depthwise-folded (5 dw) |
 * | ----- | -------------- | ------- | ----------- | ---------- | ----------------------- |
 * | 1     | 107            | 61      | 43          | 307        | 18 (grouped: 38)        |
 * | 8     | 1186           | 491     | 671         | 2566       | 236 (grouped: 214)      |
 *
 * (The same graph at 18 and 38 ms is the size of the noise at batch 1.)
 *
 * - depthwise layers: the batch folded into one Conv (`grouped` = `depthwise-folded`) wins at
 *   batch 8 (per-example 1.2-1.6x slower, batched-matmul 3-5x, expert-sum 1.2-3x); at batch
 *   1 it is the same Conv as per-example (a tie within the noise).
 * - 1x1 layers: batched-matmul and grouped tie within the noise at both batches; per-example
 *   ties at batch 1 and is 1.2-2x slower at batch 8.
 * - tried and dropped for depthwise layers: the taps as a weighted sum (the batched-matmul's
 *   strided slices, `Mul` by the kernels `(B, C, O/C, kh*kw, 1)`, `ReduceSum` over the taps):
 *   3-5x slower than the grouped Conv at batch 1 and 8. So `depthwise-folded` stays the
 *   grouped graph, an alias. ort-wasm's depthwise layers stay slower than tfjs-wasm's
 *   XNNPACK `depthwiseConv2d` at batch 8 (fastest of 9, same load: grouped 49 / 80 / 42 / 62
 *   / 13 ms against 47 / 60 / 22 / 9 / 4 ms for dw5-480-14, dw5-672-14, dw5-672-s2-14,
 *   dw5-1152-7, dw3-1152-7); per-example (B runs of the batch-1 depthwise Conv) is no faster.
 * - expert-sum never wins here: 1.5-10x the fastest (worst on 1x1 layers at batch 8, where
 *   E = 8 times the FLOPs cost most), despite its static, pre-packed weights.
 * @module
 */
import type { CondConvSpec, CondConvWeights } from "../../condconv/spec.ts";
import { checkRunInputs } from "../../condconv/geometry.ts";
import {
  buildCondConvOnnx,
  buildStaticConvOnnx,
  chooseFormulation,
  type CondConvOnnxModel,
  type ConvFormulation,
  formulationProblem,
  type KernelMixing,
} from "../../condconv/formats/onnx_graph.ts";
import { defaultFormulation, tableSummary } from "../_formulations/defaults.ts";
import type { BuiltModel, CheckInputs, ModelFor } from "./layer.ts";

/** What a run's default formulation depends on. */
type RunSize = { batch: number; inHeight: number; inWidth: number };

/** How a layer's models are built. */
export interface ModelChoice {
  /** how the expert kernels are mixed on this EP (measured: see `onnx_graph.ts`) */
  kernelMixing: KernelMixing;
  /** whether a `Conv` node the WebGPU EP gets wrong is changed so that it does not */
  workarounds: boolean;
  /**
   * the adapter whose cells of the measured defaults table apply (`impls/_formulations/`),
   * e.g. `"ort-wasm"`; where the table has no cell, `chooseFormulation`'s rule
   */
  tableBackend: string;
}

/** A layer's input check and its model for each input geometry. */
export interface LayerModels {
  check: CheckInputs;
  model: ModelFor;
}

/** How every layer's formulation is chosen on `backend`, for the adapter info. */
export function formulationInfo(backend: string): string {
  return `per run (prepareWith may force one): ${tableSummary(backend)}; rule: 1x1 ` +
    "kernels: batched-matmul, one dynamic-batch session per input size; other kernels: " +
    "grouped (depthwise-folded when groups == inChannels), one session per batch and input size";
}

/** The workaround a model contains, in words, or null. */
export function describeWorkaround(model: CondConvOnnxModel): string | null {
  const w = model.workaround;
  if (!w) return null;
  const changes = [];
  if (w.zeroRowOnTop) changes.push("a zero kernel row on top, one more top pad");
  changes.push(
    `${w.channelsPerGroup} input and ${w.outChannelsPerGroup} output channels per group`,
  );
  return `${model.convBug}: ${changes.join(", ")}`;
}

function built(model: CondConvOnnxModel): BuiltModel {
  return { bytes: model.bytes, workaround: describeWorkaround(model) };
}

/** The batch a formulation's model is built for, given the run's batch. */
function modelBatch(formulation: ConvFormulation, batch: number): number | "dynamic" {
  switch (formulation) {
    case "batched-matmul":
    case "expert-sum":
      return "dynamic";
    case "per-example":
      return 1;
    default:
      return batch; // group = batch x groups is static
  }
}

/**
 * The models of a CondConv layer: in `formulation` when one is forced (checked by the caller
 * with `formulationProblem`), else in each run's default (`defaultFormulation`: the measured
 * table's cell for `choice.tableBackend`, else `chooseFormulation`); `spec` and `weights` must
 * be the layer's own copies.
 */
export function condConvModels(
  spec: CondConvSpec,
  weights: CondConvWeights,
  choice: ModelChoice,
  formulation?: ConvFormulation,
): LayerModels & { formulation: ConvFormulation } {
  const formulationFor = (g: RunSize): ConvFormulation =>
    formulation ?? defaultFormulation(
      choice.tableBackend,
      spec,
      g,
      () => chooseFormulation(spec),
      (f) => formulationProblem(spec, f),
    ).formulation;
  return {
    formulation: formulation ?? formulationFor({ batch: 1, inHeight: 1, inWidth: 1 }),
    check: (input, routingWeights) => checkRunInputs(spec, input, routingWeights),
    model: (g) => {
      const chosen = formulationFor(g);
      const batch = modelBatch(chosen, g.batch);
      return {
        key: `${chosen} ${batch}x${g.inHeight}x${g.inWidth}`,
        formulation: chosen,
        perExample: chosen === "per-example",
        build: () =>
          built(buildCondConvOnnx(spec, weights, {
            height: g.inHeight,
            width: g.inWidth,
            batch,
            formulation: chosen,
            kernelMixing: choice.kernelMixing,
            workarounds: choice.workarounds,
          })),
      };
    },
  };
}

/** The models of the plain convolution; the tensors must be the layer's own copies. */
export function staticConvModels(
  spec: CondConvSpec,
  kernel: Float32Array,
  bias: Float32Array | undefined,
  choice: Pick<ModelChoice, "workarounds">,
): LayerModels & { formulation: "static" } {
  // the spec's geometry with computed routing: run() then refuses routing weights
  const geometrySpec: CondConvSpec = { ...spec, routing: { kind: "sigmoid" } };
  return {
    formulation: "static",
    check: (input, routingWeights) => checkRunInputs(geometrySpec, input, routingWeights),
    model: (g) => ({
      key: `${g.inHeight}x${g.inWidth}`, // an ordinary Conv: any batch
      build: () =>
        built(buildStaticConvOnnx(spec, kernel, bias, {
          height: g.inHeight,
          width: g.inWidth,
          workarounds: choice.workarounds,
        })),
    }),
  };
}

/**
 * A CondConv layer as an ONNX model (`ModelProto`), built from a spec and its weights and
 * encoded with `onnx-proto` (protobufjs with the ONNX schema). Runtime-neutral: it returns
 * bytes; writing them to a file is `suites/export_onnx.ts`'s job.
 *
 * ## The graph (opset 17, IR version 8)
 *
 * ```
 * input (B, C, H, W) ──┬─ GlobalAveragePool ─ Flatten ─ Gemm(transB) ─ Sigmoid ──────────┐
 *                      │                      (or Div(T) ─ Softmax(axis 1), or input     │
 *                      │                       "routing" (B, E) when routing is supplied)│ r (B, E)
 *                      │  r ─ MatMul(experts (E, O*C/g*kh*kw)) ─ Reshape ─ mixed kernels ◄┘
 *                      │      (or Unsqueeze ─ Mul ─ ReduceSum, see "Kernel mixing")
 *                      └─ padding ─ per-example convolution with the mixed kernels ─ Add bias
 * ```
 * Padding: zeros go into the convolution (`pads` of `Conv`, or a constant `Pad`), reflect and
 * replicate are `Pad` modes `reflect` and `edge`; circular is built from `Slice` + `Concat`
 * (the `wrap` mode of `Pad` needs opset 19, which the ONNX checker shipped with Debian's
 * python3-onnx 1.12 does not know). TensorFlow "same" becomes its explicit asymmetric pads.
 * A per-expert bias is mixed like the kernels, `r` times `bias (E, O)`; a shared one is added
 * as it is.
 *
 * ## Kernel mixing: `MatMul`, or `Mul` + `ReduceSum` for WebGPU
 *
 * `K = r (B, E) x experts (E, N)` with `N = O*C/g*kh*kw` is one `MatMul` (`"matmul"`, the
 * default). Its shape, `E = 8` rows against `N` up to 368640 columns, is a bad case for
 * onnxruntime-web 1.30's WebGPU `MatMul` on the software adapter: 1250 ms at batch 1 for the
 * `1152 -> 320` layer's experts, where `Unsqueeze(r)` `(B, E, 1)` times the experts `(E, N)`
 * and a `ReduceSum` over `E` (`"mul-reducesum"`) takes 71 ms (batch 8: 1400 ms against 850,
 * both with the `(B, N)` readback; `Gemm` with `transB` and a transposed `MatMul` were no
 * better than `MatMul`). On the wasm EP `MatMul` is the faster one (2.7 ms against 8.4 at
 * batch 1, 19 against 38 at batch 8). `ort-webgpu` mixes with `"mul-reducesum"` (its 13-layer
 * sum at batch 1 went from 13.2 s to 2.2 s, measured at different machine loads), `ort-wasm`
 * and the exported models with `"matmul"`.
 *
 * ## The per-example convolution: the formulations
 *
 * ONNX `Conv` has one kernel per call and a static `group` attribute, so per-example kernels
 * need a trick. The names are the project's formulation axis (issue 18), shared with the tfjs
 * adapters (`impls/_tfjs/formulations.ts`):
 *
 * - `"grouped"`: the batch folded into channels (the timm trick). `(B, C, H, W)` is viewed as
 *   `(1, B*C, H, W)`, the mixed kernels as `(B*O, C/g, kh, kw)`, and one `Conv` with
 *   `group = B*groups` does every example at once. `group` is static, so the batch is fixed
 *   when the model is built: the adapters cache one session per batch size.
 * - `"depthwise-folded"` (groups == inChannels only): the batch folded into the channels of
 *   one depthwise `Conv` (`group = B*C`). On ONNX this is the `"grouped"` graph of a
 *   depthwise layer, node for node: an alias, kept so that the name means the same on every
 *   framework. It stays one: onnxruntime-web 1.30's wasm build (SIMD) compiles out MLAS's
 *   direct depthwise kernel (`MLAS_TARGET_WASM_SCALAR` and ARM64 only, 3x3 only) and has no
 *   float NHWC or XNNPACK path, so every depthwise `Conv` is im2col plus a GEMV per example
 *   and channel; seven other graphs (Toeplitz `GemmDirect`, channels-last taps, polyphase,
 *   ...) were all slower or tied, and tfjs-wasm's XNNPACK stays 1.4-2.2x faster at batch 8
 *   (`impls/_ort/depthwise_variants.ts`: the source reading and the figures).
 * - `"per-example"`: the model is for batch 1 (the `"grouped"` graph at batch 1: routing, the
 *   mixed kernel of one example, then a plain `Conv` with `group = groups`); the caller runs
 *   it once per example. The ort adapters do (B runs of one batch-1 session), which also works
 *   on WebGPU, where a `Loop` over the batch cannot run (below).
 * - `"batched-matmul"`: a dynamic batch. The padded input is cut into `kh*kw` strided
 *   `Slice`s (one per kernel tap), concatenated into patches `(B, g, C/g*kh*kw, outH*outW)`
 *   and multiplied with the mixed kernels `(B, g, O/g, C/g*kh*kw)` by one batched `MatMul`. A
 *   1x1 stride-1 layer needs no `Slice` at all (a plain batched `MatMul`); a depthwise layer
 *   is a batch of `1 x kh*kw` by `kh*kw x outH*outW` products. The batch dimension is the
 *   symbolic `"batch"`.
 * - `"expert-sum"`: no kernel mixing. The `E` expert kernels stay static initializers, as one
 *   `Conv` with `E x O` output channels and `group = groups` over the whole batch (which ONNX
 *   Runtime can pre-pack, and which accepts a dynamic batch), whose outputs are then mixed per
 *   example with the routing weights (`onnx_graph_nodes.ts`, `expertSumConv`). It costs `E`
 *   times the convolution FLOPs.
 *
 * Not built: a `Loop` over the batch with one ordinary `Conv` per example. It runs on the wasm
 * EP, but onnxruntime-web 1.30's WebGPU EP has no `Loop` kernel, so the node would go to the
 * CPU EP, which the adapters forbid (`session.disable_cpu_ep_fallback`; tried: session
 * creation fails).
 *
 * ### Which is faster: measured
 *
 * `scripts/ort_timing.ts --formulations` on the 13 CondConv-EfficientNet-B0 layers, after 2
 * warm-up runs, the two formulations' runs alternating (9 each on wasm, 3 on WebGPU) so that
 * both see the same load on a shared 2-core VM; experts mixed as each adapter does. Sums of
 * the 13 medians, ms; "chosen" is `chooseFormulation` below (1x1 `im2col-matmul`, other
 * kernels `grouped-conv`; the old names of `batched-matmul` and `grouped`):
 *
 * | EP (machine)                         | batch | grouped-conv | im2col-matmul | chosen |
 * | ------------------------------------ | ----- | ------------ | ------------- | ------ |
 * | wasm, 1 thread (2-core x86 VM)       | 1     | 138          | 254           | 128    |
 * | wasm, 1 thread                       | 8     | 595          | 1072          | 631    |
 * | webgpu (llvmpipe software adapter)   | 1     | 1602         | 5231          | 1625   |
 * | webgpu (llvmpipe software adapter)   | 8     | 11534        | 34774         | 8223   |
 *
 * By layer kind: for the depthwise 3x3/5x5 layers the grouped `Conv` wins by 2-3x on wasm and
 * 7-16x on WebGPU (`kh*kw` copies of the input plus a batch of `1 x kh*kw` products cost far
 * more than a depthwise convolution). For the 1x1 layers it is a wash on wasm (the batched
 * `MatMul` 17% faster summed at batch 1, 11% slower at batch 8) and on WebGPU a tie at batch 1
 * (within 15% either way per layer) and a 1.2-1.9x win for the `MatMul` at batch 8. And every
 * new batch size costs the grouped formulation one more session (4-95 ms to create here) and
 * one more copy of the expert kernels.
 *
 * (That table predates the names: "grouped-conv" is `"grouped"`, "im2col-matmul" is
 * `"batched-matmul"`.) So `chooseFormulation` (the default for a fixed batch, and what the
 * adapters use) takes `"batched-matmul"` for 1x1 kernels, where it is a plain batched
 * `MatMul` that accepts any batch with one session, and the batch folded into a grouped
 * `Conv` with a session per batch size for every other kernel (named `"depthwise-folded"`
 * for a depthwise layer, `"grouped"` otherwise). A model that must accept any batch
 * (`deno task export-onnx`, `--batch dynamic`, the default) is `"batched-matmul"`, correct
 * for every kernel, slower for the large ones, unless `"expert-sum"` is asked for.
 *
 * The spatial size is fixed when the model is built (TensorFlow "same" pads depend on it, and
 * so do the reshapes), so a model is for one input height and width.
 * @module
 */
import onnxProto from "onnx-proto";
import type { CondConvSpec, CondConvWeights } from "../spec.ts";
import { checkWeights, type Geometry, geometryIssues, pair, resolveGeometry } from "../geometry.ts";
import {
  CONV_FORMULATIONS,
  type ConvFormulation,
  GraphBuilder,
  INPUT_NAME,
  type KernelMixing,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
  valueInfo,
} from "./onnx_graph_builder.ts";
import {
  addBias,
  addConv,
  addPadding,
  addRouting,
  convNodeOf,
  type EmittedConv,
  expertSumConv,
  groupedConv,
  im2colMatMul,
  mix,
} from "./onnx_graph_nodes.ts";
import {
  type ConvWorkaround,
  type OrtWebgpuConvBug,
  ortWebgpuConvBug,
} from "./onnx_graph_conv_bugs.ts";

export { CONV_FORMULATIONS, INPUT_NAME, OUTPUT_NAME, ROUTING_INPUT_NAME };
export type { ConvFormulation, ConvWorkaround, KernelMixing, OrtWebgpuConvBug };

const { onnx } = onnxProto;

/** The ONNX opset the models import (default domain). */
export const ONNX_OPSET = 17;
/** The IR version the models declare (ONNX 1.12's, the one opset 17 came with). */
export const ONNX_IR_VERSION = 8;
/** Name of the symbolic batch dimension of a dynamic-batch model. */
export const BATCH_DIM = "batch";

/**
 * The faster formulation for `spec` at a fixed batch (see the module doc): a batched `MatMul`
 * for 1x1 kernels, the batch folded into a grouped `Conv` for every other kernel
 * (`"depthwise-folded"` for a depthwise layer, the same graph as `"grouped"` there).
 */
export function chooseFormulation(spec: CondConvSpec): ConvFormulation {
  const [kh, kw] = pair(spec.kernelSize);
  if (kh === 1 && kw === 1) return "batched-matmul";
  return spec.groups === spec.inChannels ? "depthwise-folded" : "grouped";
}

/**
 * Why `formulation` cannot build a model of `spec` (for `batch`, where given), or `undefined`
 * when it can: an unknown name, `"depthwise-folded"` on a layer that is not depthwise,
 * `"grouped"` or `"depthwise-folded"` with a dynamic batch (`group` is static), and
 * `"per-example"` at any batch but 1 (its model is run once per example).
 */
export function formulationProblem(
  spec: CondConvSpec,
  formulation: string,
  batch?: number | "dynamic",
): string | undefined {
  if (!(CONV_FORMULATIONS as readonly string[]).includes(formulation)) {
    return `unknown formulation "${formulation}" (formulations: ${CONV_FORMULATIONS.join(", ")})`;
  }
  if (formulation === "depthwise-folded" && spec.groups !== spec.inChannels) {
    return `the formulation "depthwise-folded" needs groups == inChannels, got groups ` +
      `${spec.groups} and inChannels ${spec.inChannels}`;
  }
  if ((formulation === "grouped" || formulation === "depthwise-folded") && batch === "dynamic") {
    return `the formulation "${formulation}" cannot have a dynamic batch: ONNX Conv's group ` +
      `(batch x groups) is a static attribute; give a batch size, or use "batched-matmul" or ` +
      `"expert-sum"`;
  }
  if (formulation === "per-example" && batch !== undefined && batch !== 1) {
    return `the formulation "per-example" builds a batch-1 model that is run once per ` +
      `example: its batch must be 1, got ${batch}`;
  }
  return undefined;
}

/** What a model is built for besides the layer itself. */
export interface OnnxModelOptions {
  /** input height */
  height: number;
  /** input width */
  width: number;
  /** a fixed batch size, or `"dynamic"` for a symbolic batch dimension */
  batch: number | "dynamic";
  /**
   * The convolution formulation; defaults to `chooseFormulation(spec)` for a fixed batch and
   * `"batched-matmul"` for a dynamic one (`formulationProblem` says which cannot be built)
   */
  formulation?: ConvFormulation;
  /** how the expert kernels (and a per-expert bias) are mixed; default `"matmul"` */
  kernelMixing?: KernelMixing;
  /**
   * Change a `Conv` node that onnxruntime-web 1.30's WebGPU EP gets wrong so that it does not
   * (see "WebGPU workarounds" in the module doc); default `false`: the plain graph
   */
  workarounds?: boolean;
}

/** The model, its bytes and what it was built for. */
export interface CondConvOnnxModel {
  /** the encoded `ModelProto` */
  bytes: Uint8Array<ArrayBuffer>;
  /** the CondConv formulation, or `"static"` for the plain convolution baseline */
  formulation: ConvFormulation | "static";
  batch: number | "dynamic";
  /** input shape, the batch as `"batch"` when dynamic */
  inputShape: (number | string)[];
  /** output shape, the batch as `"batch"` when dynamic */
  outputShape: (number | string)[];
  /** graph input names in order: the input, then `"routing"` when routing is supplied */
  inputNames: string[];
  /** the WebGPU Conv bug the plain graph's `Conv` node shows, or null (none, or no `Conv`) */
  convBug: OrtWebgpuConvBug | null;
  /** the change made to the `Conv` node to avoid it (with `workarounds` only), or null */
  workaround: ConvWorkaround | null;
}

/**
 * Builds and encodes the ONNX model of one CondConv layer for one input size.
 * Throws a `TypeError` for weights that do not fit the spec or a formulation that cannot
 * have the batch asked for, a `RangeError` for an input size the spec cannot apply to.
 *
 * @example A 1x1 layer with a dynamic batch
 * ```ts
 * import { CondConvSpec } from "../spec.ts";
 * import { buildCondConvOnnx } from "./onnx_graph.ts";
 * const spec = CondConvSpec.parse({ inChannels: 2, outChannels: 2, kernelSize: 1, numExperts: 2 });
 * const model = buildCondConvOnnx(spec, {
 *   expertKernels: new Float32Array(8),
 *   bias: new Float32Array(2),
 *   routingWeight: new Float32Array(4),
 *   routingBias: new Float32Array(2),
 * }, { height: 4, width: 4, batch: "dynamic" });
 * if (model.formulation !== "batched-matmul") throw new Error("unexpected formulation");
 * ```
 */
export function buildCondConvOnnx(
  spec: CondConvSpec,
  weights: CondConvWeights,
  options: OnnxModelOptions,
): CondConvOnnxModel {
  checkWeights(spec, weights);
  const { height, width, batch } = options;
  if (batch !== "dynamic" && !(Number.isInteger(batch) && batch >= 1)) {
    throw new RangeError(
      `Cannot build the ONNX model: batch must be a positive integer or "dynamic", got ` +
        `"${batch}"`,
    );
  }
  const formulation = options.formulation ??
    (batch === "dynamic" ? "batched-matmul" : chooseFormulation(spec));
  const problem = formulationProblem(spec, formulation, batch);
  if (problem) throw new TypeError(`Cannot build the ONNX model: ${problem}`);
  const g = resolveGeometry(spec, [
    batch === "dynamic" ? 1 : batch,
    spec.inChannels,
    height,
    width,
  ]);
  const b = new GraphBuilder();
  for (const name of [INPUT_NAME, ROUTING_INPUT_NAME, OUTPUT_NAME]) b.unique(name);

  const routing = addRouting(b, spec, weights, g);
  const mixing = options.kernelMixing ?? "matmul";
  const workarounds = options.workarounds ?? false;
  const conv = formulation === "expert-sum"
    ? expertSumConv(b, spec, g, weights.expertKernels, routing, { mixing, workarounds })
    : mixedKernelConv(b, spec, g, weights, routing, { formulation, mixing, workarounds });
  const bias = addBias(b, spec, weights, g, routing, mixing);
  if (bias) {
    b.nodes.push({
      opType: "Add",
      input: [conv.output, bias],
      output: [OUTPUT_NAME],
      name: "add_bias",
    });
  } else {
    // the last node (the reshape to NCHW) writes the output itself
    b.nodes[b.nodes.length - 1].output = [OUTPUT_NAME];
  }

  return assemble(b, spec, g, batch, formulation, conv);
}

/** The experts mixed into per-example kernels, then the convolution in `formulation`. */
function mixedKernelConv(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  weights: CondConvWeights,
  routing: string,
  options: { formulation: ConvFormulation; mixing: KernelMixing; workarounds: boolean },
): EmittedConv {
  const kernelLength = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const experts = b.floats("expert_kernels", [g.numExperts, kernelLength], weights.expertKernels);
  const kernels = mix(b, routing, experts, options.mixing, "mixed_kernels");
  return options.formulation === "batched-matmul"
    ? { output: im2colMatMul(b, spec, g, kernels), bug: null, workaround: null }
    : groupedConv(b, spec, g, kernels, options.workarounds);
}

/**
 * The bug onnxruntime-web 1.30's WebGPU EP shows on the plain CondConv graph of `spec` for
 * one input size and batch (the formulation `chooseFormulation` picks for a fixed batch,
 * unless given; `"per-example"` runs its batch-1 model), or `undefined`: none, no `Conv`
 * node, or an input size the spec cannot apply to.
 */
export function condConvConvBug(
  spec: CondConvSpec,
  batch: number,
  height: number,
  width: number,
  formulation: ConvFormulation = chooseFormulation(spec),
): OrtWebgpuConvBug | undefined {
  if (formulation === "batched-matmul") return undefined;
  const shape = [batch, spec.inChannels, height, width];
  if (geometryIssues(spec, shape).length > 0) return undefined;
  const g = resolveGeometry(spec, shape);
  if (formulation === "expert-sum") {
    const node = convNodeOf(spec, g, batch, g.groups);
    return ortWebgpuConvBug({ ...node, outChannelsPerGroup: g.numExperts * g.outChannelsPerGroup });
  }
  const folded = formulation === "per-example" ? 1 : batch;
  return ortWebgpuConvBug(convNodeOf(spec, g, 1, folded * g.groups));
}

/** The same as {@link condConvConvBug} for the plain convolution of `buildStaticConvOnnx`. */
export function staticConvBug(
  spec: CondConvSpec,
  height: number,
  width: number,
): OrtWebgpuConvBug | undefined {
  const shape = [1, spec.inChannels, height, width];
  if (geometryIssues(spec, shape).length > 0) return undefined;
  const g = resolveGeometry(spec, shape);
  return ortWebgpuConvBug(convNodeOf(spec, g, 1, g.groups));
}

/** Wraps the graph of `b` into an encoded model with its inputs, output and metadata. */
function assemble(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  batch: number | "dynamic",
  formulation: CondConvOnnxModel["formulation"],
  conv: EmittedConv,
): CondConvOnnxModel {
  const batchDim = batch === "dynamic" ? BATCH_DIM : batch;
  const inputShape = [batchDim, g.inChannels, g.inHeight, g.inWidth];
  const outputShape = [batchDim, g.outChannels, g.outHeight, g.outWidth];
  const inputs = [valueInfo(INPUT_NAME, inputShape)];
  if (formulation !== "static" && spec.routing.kind === "supplied") {
    inputs.push(valueInfo(ROUTING_INPUT_NAME, [batchDim, g.numExperts]));
  }
  const what = formulation === "static"
    ? "plain convolution with the same geometry as a CondConv layer: output = conv2d(input, W) + b"
    : "CondConv layer: r = routing(input), K_b = sum_e r_e W_e, output = conv2d(input, K_b) + bias";
  const model: onnxProto.onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "condconv-bench",
    producerVersion: "0.1.0",
    docString: `${what} (${formulation}, batch ${batchDim})`,
    metadataProps: [
      { key: "condconv.spec", value: JSON.stringify(spec) },
      { key: "condconv.formulation", value: formulation },
      { key: "condconv.webgpu_conv_bug", value: conv.bug ?? "none" },
      { key: "condconv.workaround", value: JSON.stringify(conv.workaround) },
    ],
    graph: {
      name: formulation === "static" ? "static_conv" : "condconv",
      node: b.nodes,
      initializer: b.initializers,
      input: inputs,
      output: [valueInfo(OUTPUT_NAME, outputShape)],
    },
  };
  const encoded = onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  return {
    bytes: new Uint8Array(encoded),
    formulation,
    batch,
    inputShape,
    outputShape,
    inputNames: inputs.map((i) => i.name!),
    convBug: conv.bug,
    workaround: conv.workaround,
  };
}

/**
 * Checks the tensors of the plain convolution with `spec`'s geometry: a kernel
 * `(O, C/groups, kh, kw)` and an optional bias `(O)`. Throws a `TypeError` naming the one at
 * fault.
 */
export function checkStaticConvWeights(
  spec: CondConvSpec,
  kernel: Float32Array,
  bias?: Float32Array,
): void {
  const [kh, kw] = pair(spec.kernelSize);
  const kernelShape = [spec.outChannels, spec.inChannels / spec.groups, kh, kw];
  const kernelLength = kernelShape.reduce((a, c) => a * c, 1);
  if (!(kernel instanceof Float32Array) || kernel.length !== kernelLength) {
    throw new TypeError(
      `Cannot use the static kernel: expected a Float32Array of [${kernelShape}] ` +
        `(${kernelLength} floats), got ${kernel?.length ?? "none"}`,
    );
  }
  if (bias !== undefined && (!(bias instanceof Float32Array) || bias.length !== spec.outChannels)) {
    throw new TypeError(
      `Cannot use the static bias: expected a Float32Array of [${spec.outChannels}], got ` +
        `${bias?.length} floats`,
    );
  }
}

/**
 * Builds the plain convolution a CondConv layer is compared with: the spec's geometry and
 * padding, one kernel `(O, C/groups, kh, kw)` and an optional bias `(O)` as initializers, no
 * routing and no mixing. An ordinary `Conv`, so the batch is dynamic. Throws a `TypeError` for
 * tensors of the wrong length, a `RangeError` for an input size the spec cannot apply to.
 */
export function buildStaticConvOnnx(
  spec: CondConvSpec,
  kernel: Float32Array,
  bias: Float32Array | undefined,
  options: { height: number; width: number; workarounds?: boolean },
): CondConvOnnxModel {
  checkStaticConvWeights(spec, kernel, bias);
  const g = resolveGeometry(spec, [1, spec.inChannels, options.height, options.width]);
  const kernelShape = [g.outChannels, g.channelsPerGroup, g.kernelHeight, g.kernelWidth];
  const b = new GraphBuilder();
  for (const name of [INPUT_NAME, OUTPUT_NAME]) b.unique(name);
  const padded = addPadding(b, spec, g, INPUT_NAME, true);
  const conv = addConv(
    b,
    convNodeOf(spec, g, 1, g.groups),
    padded,
    b.floats("kernel", kernelShape, kernel),
    {
      workarounds: options.workarounds ?? false,
      bias: bias ? b.floats("bias", [g.outChannels], bias) : undefined,
    },
  );
  // the last node (the Conv, or the reshape after its slice) writes the output itself
  b.nodes[b.nodes.length - 1].output = [OUTPUT_NAME];
  return assemble(b, spec, g, "dynamic", "static", conv);
}

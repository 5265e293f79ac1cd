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
 * ## The per-example convolution: two formulations
 *
 * ONNX `Conv` has one kernel per call and a static `group` attribute, so per-example kernels
 * need a trick:
 *
 * - `"grouped-conv"`: the batch folded into channels. `(B, C, H, W)` is viewed as
 *   `(1, B*C, H, W)`, the mixed kernels as `(B*O, C/g, kh, kw)`, and one `Conv` with
 *   `group = B*groups` does every example at once. `group` is static, so the batch is fixed
 *   when the model is built: the adapters cache one session per batch size.
 * - `"im2col-matmul"`: a dynamic batch. The padded input is cut into `kh*kw` strided `Slice`s
 *   (one per kernel tap), concatenated into patches `(B, g, C/g*kh*kw, outH*outW)` and
 *   multiplied with the mixed kernels `(B, g, O/g, C/g*kh*kw)` by one batched `MatMul`. A 1x1
 *   stride-1 layer needs no `Slice` at all (a plain batched `MatMul`); a depthwise layer is a
 *   batch of `1 x kh*kw` by `kh*kw x outH*outW` products. The batch dimension is the symbolic
 *   `"batch"`.
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
 * kernels `grouped-conv`):
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
 * So `chooseFormulation` (the default for a fixed batch, and what the adapters use) takes
 * `"im2col-matmul"` for 1x1 kernels, where it is a plain batched `MatMul` that accepts any
 * batch with one session, and `"grouped-conv"` with a session per batch size for every other
 * kernel. A model that must accept any batch (`deno task export-onnx`, `--batch dynamic`, the
 * default) is `"im2col-matmul"`, correct for every kernel, slower for the large ones.
 *
 * The spatial size is fixed when the model is built (TensorFlow "same" pads depend on it, and
 * so do the reshapes), so a model is for one input height and width.
 * @module
 */
import onnxProto from "onnx-proto";
import type { CondConvSpec, CondConvWeights } from "../spec.ts";
import { checkWeights, type Geometry, pair, resolveGeometry } from "../geometry.ts";

const { onnx } = onnxProto;

/** The ONNX opset the models import (default domain). */
export const ONNX_OPSET = 17;
/** The IR version the models declare (ONNX 1.12's, the one opset 17 came with). */
export const ONNX_IR_VERSION = 8;
/** Name of the NCHW input. */
export const INPUT_NAME = "input";
/** Name of the `(B, E)` routing input, present when the spec's routing is `"supplied"`. */
export const ROUTING_INPUT_NAME = "routing";
/** Name of the NCHW output. */
export const OUTPUT_NAME = "output";
/** Name of the symbolic batch dimension of a dynamic-batch model. */
export const BATCH_DIM = "batch";

/** How the per-example convolution is expressed (see the module doc). */
export type ConvFormulation = "grouped-conv" | "im2col-matmul";

/** How the experts are mixed (see the module doc): one `MatMul`, or `Mul` + `ReduceSum`. */
export type KernelMixing = "matmul" | "mul-reducesum";

/**
 * The faster formulation for `spec` (see the module doc): a batched `MatMul` for 1x1 kernels,
 * the batch folded into a grouped `Conv` for every other kernel.
 */
export function chooseFormulation(spec: CondConvSpec): ConvFormulation {
  const [kh, kw] = pair(spec.kernelSize);
  return kh === 1 && kw === 1 ? "im2col-matmul" : "grouped-conv";
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
   * `"im2col-matmul"` for a dynamic one (the only one that allows it).
   */
  formulation?: ConvFormulation;
  /** how the expert kernels (and a per-expert bias) are mixed; default `"matmul"` */
  kernelMixing?: KernelMixing;
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
}

type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
type Attribute = onnxProto.onnx.IAttributeProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function floatTensor(name: string, dims: number[], data: Float32Array | number[]): Tensor {
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

function int64Tensor(name: string, values: number[]): Tensor {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return { name, dims: [values.length], dataType: INT64, rawData: bytes };
}

function intsAttribute(name: string, ints: number[]): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

function intAttribute(name: string, i: number): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

function stringAttribute(name: string, value: string): Attribute {
  return {
    name,
    type: onnx.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode(value),
  };
}

function valueInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: {
          dim: dims.map((d) => typeof d === "number" ? { dimValue: d } : { dimParam: d }),
        },
      },
    },
  };
}

/** Collects nodes and initializers with unique names. */
class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: Tensor[] = [];
  #names = new Set<string>();
  #shapes = new Map<string, string>();

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i++) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }

  /** Adds a node with one output and returns the output's name. */
  op(opType: string, inputs: string[], attribute: Attribute[] = [], base = opType): string {
    const output = this.unique(base.toLowerCase());
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  }

  floats(base: string, dims: number[], data: Float32Array | number[]): string {
    const name = this.unique(base);
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  /** An int64 constant, shared between nodes that use the same values. */
  ints(base: string, values: number[]): string {
    const key = `${base}:${values.join(",")}`;
    const known = this.#shapes.get(key);
    if (known) return known;
    const name = this.unique(base);
    this.initializers.push(int64Tensor(name, values));
    this.#shapes.set(key, name);
    return name;
  }

  reshape(input: string, shape: number[], base = "reshape"): string {
    return this.op("Reshape", [input, this.ints("shape", shape)], [], base);
  }

  slice(
    input: string,
    starts: number[],
    ends: number[],
    axes: number[],
    steps?: number[],
    base = "slice",
  ): string {
    const inputs = [
      input,
      this.ints("starts", starts),
      this.ints("ends", ends),
      this.ints("axes", axes),
    ];
    if (steps) inputs.push(this.ints("steps", steps));
    return this.op("Slice", inputs, [], base);
  }
}

/** Circular padding of one spatial axis (2 or 3) from `Slice` + `Concat`. */
function wrapAxis(
  b: GraphBuilder,
  x: string,
  axis: number,
  size: number,
  before: number,
  after: number,
) {
  if (before === 0 && after === 0) return x;
  const parts: string[] = [];
  if (before > 0) parts.push(b.slice(x, [size - before], [size], [axis], undefined, "wrap_before"));
  parts.push(x);
  if (after > 0) parts.push(b.slice(x, [0], [after], [axis], undefined, "wrap_after"));
  return b.op("Concat", parts, [intAttribute("axis", axis)], "wrap");
}

/**
 * Pads `x` (`(B, C, H, W)`) as the spec says. With `zerosInConv`, zero padding is left to
 * the convolution and `x` is returned as it is.
 */
function addPadding(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  x: string,
  zerosInConv: boolean,
): string {
  const { padTop, padBottom, padLeft, padRight } = g;
  if (padTop + padBottom + padLeft + padRight === 0) return x;
  if (spec.paddingMode === "zeros" && zerosInConv) return x;
  if (spec.paddingMode === "circular") {
    const rows = wrapAxis(b, x, 2, g.inHeight, padTop, padBottom);
    return wrapAxis(b, rows, 3, g.inWidth, padLeft, padRight);
  }
  const mode = { zeros: "constant", reflect: "reflect", replicate: "edge" }[spec.paddingMode];
  const pads = b.ints("pads", [0, 0, padTop, padLeft, 0, 0, padBottom, padRight]);
  return b.op("Pad", [x, pads], [stringAttribute("mode", mode)], "pad");
}

/** Routing weights `(B, E)`: computed from the input, or the `"routing"` graph input. */
function addRouting(
  b: GraphBuilder,
  spec: CondConvSpec,
  weights: CondConvWeights,
  g: Geometry,
): string {
  if (spec.routing.kind === "supplied") return ROUTING_INPUT_NAME;
  const pooled = b.op("GlobalAveragePool", [INPUT_NAME], [], "pooled");
  const flat = b.op("Flatten", [pooled], [intAttribute("axis", 1)], "pooled_flat");
  const fcWeight = b.floats("routing_weight", [g.numExperts, g.inChannels], weights.routingWeight!);
  const fcBias = b.floats("routing_bias", [g.numExperts], weights.routingBias!);
  const logits = b.op("Gemm", [flat, fcWeight, fcBias], [intAttribute("transB", 1)], "logits");
  if (spec.routing.kind === "sigmoid") return b.op("Sigmoid", [logits], [], "routing_weights");
  const temperature = b.floats("temperature", [], [spec.routing.temperature]);
  const scaled = b.op("Div", [logits, temperature], [], "logits_scaled");
  return b.op("Softmax", [scaled], [intAttribute("axis", 1)], "routing_weights");
}

/**
 * `sum_e r[b, e] * experts[e, :]`: routing `(B, E)` times experts `(E, N)`, as one `MatMul`
 * or as `Unsqueeze` + `Mul` (broadcast to `(B, E, N)`) + `ReduceSum` over the experts.
 */
function mix(
  b: GraphBuilder,
  routing: string,
  experts: string,
  mixing: KernelMixing,
  base: string,
): string {
  if (mixing === "matmul") return b.op("MatMul", [routing, experts], [], base);
  const column = b.op("Unsqueeze", [routing, b.ints("axes", [2])], [], `${base}_routing`);
  const terms = b.op("Mul", [column, experts], [], `${base}_terms`);
  return b.op("ReduceSum", [terms, b.ints("axes", [1])], [intAttribute("keepdims", 0)], base);
}

/** The bias `(B|1, O, 1, 1)` to add to the convolution's output, if any. */
function addBias(
  b: GraphBuilder,
  spec: CondConvSpec,
  weights: CondConvWeights,
  g: Geometry,
  routing: string,
  mixing: KernelMixing,
): string | undefined {
  if (spec.bias === "none") return undefined;
  if (spec.bias === "shared") return b.floats("bias", [g.outChannels, 1, 1], weights.bias!);
  const experts = b.floats("expert_bias", [g.numExperts, g.outChannels], weights.bias!);
  const mixed = mix(b, routing, experts, mixing, "mixed_bias");
  return b.reshape(mixed, [-1, g.outChannels, 1, 1], "mixed_bias_4d");
}

function groupedConv(b: GraphBuilder, spec: CondConvSpec, g: Geometry, kernels: string): string {
  const batch = g.batch;
  const padded = addPadding(b, spec, g, INPUT_NAME, true);
  const zeros = spec.paddingMode === "zeros";
  const folded = b.reshape(padded, [1, -1, 0, 0], "batch_in_channels");
  const kernel4d = b.reshape(
    kernels,
    [batch * g.outChannels, g.channelsPerGroup, g.kernelHeight, g.kernelWidth],
    "conv_kernels",
  );
  const conv = b.op("Conv", [folded, kernel4d], [
    intsAttribute("kernel_shape", [g.kernelHeight, g.kernelWidth]),
    intsAttribute("strides", [g.strideHeight, g.strideWidth]),
    intsAttribute("dilations", [g.dilationHeight, g.dilationWidth]),
    intsAttribute(
      "pads",
      zeros ? [g.padTop, g.padLeft, g.padBottom, g.padRight] : [0, 0, 0, 0],
    ),
    intAttribute("group", batch * g.groups),
  ], "conv");
  return b.reshape(conv, [batch, g.outChannels, g.outHeight, g.outWidth], "conv_out");
}

function im2colMatMul(b: GraphBuilder, spec: CondConvSpec, g: Geometry, kernels: string): string {
  const { kernelHeight: kh, kernelWidth: kw, outHeight: oh, outWidth: ow } = g;
  const padded = addPadding(b, spec, g, INPUT_NAME, false);
  const paddedHeight = g.inHeight + g.padTop + g.padBottom;
  const paddedWidth = g.inWidth + g.padLeft + g.padRight;
  const taps: string[] = [];
  for (let u = 0; u < kh; u++) {
    for (let v = 0; v < kw; v++) {
      const top = u * g.dilationHeight, left = v * g.dilationWidth;
      const bottom = top + (oh - 1) * g.strideHeight + 1;
      const right = left + (ow - 1) * g.strideWidth + 1;
      if (top === 0 && left === 0 && oh === paddedHeight && ow === paddedWidth) {
        // a tap that takes every pixel (1x1, stride 1) is the input itself; a strided tap
        // can end at the last pixel too (bottom === paddedHeight) yet skip the ones between
        taps.push(padded);
      } else {
        taps.push(
          b.slice(padded, [top, left], [bottom, right], [2, 3], [
            g.strideHeight,
            g.strideWidth,
          ], "tap"),
        );
      }
    }
  }
  // (B, C, kh*kw*oh, ow): per example and channel, the taps one after another
  const stacked = taps.length === 1 ? taps[0] : b.op(
    "Concat",
    taps,
    [intAttribute("axis", 2)],
    "taps",
  );
  const cols = g.channelsPerGroup * kh * kw;
  const patches = b.reshape(stacked, [-1, g.groups, cols, oh * ow], "patches");
  const kernel = b.reshape(
    kernels,
    [-1, g.groups, g.outChannelsPerGroup, cols],
    "group_kernels",
  );
  const product = b.op("MatMul", [kernel, patches], [], "conv");
  return b.reshape(product, [-1, g.outChannels, oh, ow], "conv_out");
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
 * if (model.formulation !== "im2col-matmul") throw new Error("unexpected formulation");
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
    (batch === "dynamic" ? "im2col-matmul" : chooseFormulation(spec));
  if (formulation === "grouped-conv" && batch === "dynamic") {
    throw new TypeError(
      'Cannot build a "grouped-conv" model with a dynamic batch: ONNX Conv\'s group ' +
        '(batch x groups) is a static attribute; pass a batch size or use "im2col-matmul"',
    );
  }
  const g = resolveGeometry(spec, [
    batch === "dynamic" ? 1 : batch,
    spec.inChannels,
    height,
    width,
  ]);
  const b = new GraphBuilder();
  for (const name of [INPUT_NAME, ROUTING_INPUT_NAME, OUTPUT_NAME]) b.unique(name);

  const routing = addRouting(b, spec, weights, g);
  const kernelLength = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const experts = b.floats("expert_kernels", [g.numExperts, kernelLength], weights.expertKernels);
  const mixing = options.kernelMixing ?? "matmul";
  const kernels = mix(b, routing, experts, mixing, "mixed_kernels");
  const bias = addBias(b, spec, weights, g, routing, mixing);
  const conv = formulation === "grouped-conv"
    ? groupedConv(b, spec, g, kernels)
    : im2colMatMul(b, spec, g, kernels);
  if (bias) {
    b.nodes.push({ opType: "Add", input: [conv, bias], output: [OUTPUT_NAME], name: "add_bias" });
  } else {
    // the last node (the reshape to NCHW) writes the output itself
    b.nodes[b.nodes.length - 1].output = [OUTPUT_NAME];
  }

  return assemble(b, spec, g, batch, formulation);
}

/** Wraps the graph of `b` into an encoded model with its inputs, output and metadata. */
function assemble(
  b: GraphBuilder,
  spec: CondConvSpec,
  g: Geometry,
  batch: number | "dynamic",
  formulation: CondConvOnnxModel["formulation"],
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
  options: { height: number; width: number },
): CondConvOnnxModel {
  checkStaticConvWeights(spec, kernel, bias);
  const g = resolveGeometry(spec, [1, spec.inChannels, options.height, options.width]);
  const kernelShape = [g.outChannels, g.channelsPerGroup, g.kernelHeight, g.kernelWidth];
  const b = new GraphBuilder();
  for (const name of [INPUT_NAME, OUTPUT_NAME]) b.unique(name);
  const padded = addPadding(b, spec, g, INPUT_NAME, true);
  const inputs = [padded, b.floats("kernel", kernelShape, kernel)];
  if (bias) inputs.push(b.floats("bias", [g.outChannels], bias));
  const zeros = spec.paddingMode === "zeros";
  b.nodes.push({
    opType: "Conv",
    input: inputs,
    output: [OUTPUT_NAME],
    name: "conv",
    attribute: [
      intsAttribute("kernel_shape", [g.kernelHeight, g.kernelWidth]),
      intsAttribute("strides", [g.strideHeight, g.strideWidth]),
      intsAttribute("dilations", [g.dilationHeight, g.dilationWidth]),
      intsAttribute(
        "pads",
        zeros ? [g.padTop, g.padLeft, g.padBottom, g.padRight] : [0, 0, 0, 0],
      ),
      intAttribute("group", g.groups),
    ],
  });
  return assemble(b, spec, g, "dynamic", "static");
}

/**
 * External routing end to end: a CondConv-EfficientNet block whose layers share ONE routing,
 * computed from the block's input (`r = sigmoid(fc(avgpool(x)))`) and supplied to each
 * layer, as the official TensorFlow model and timm's `CondConvResidual` do.
 *
 * The block comes from `scripts/condconv_block.py` (PyTorch float64): a safetensors file with
 * the layers in the timm layout under prefixes, the block's routing layer `routing_fn.*`, the
 * input, PyTorch's routing and output, and `__metadata__["block"]` (the activation and each
 * layer's prefix and spec). `runCondConvBlock` runs it on any adapter.
 * @module
 */
import { z } from "zod";
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import { computeRouting } from "../../impls/reference.ts";
import { CondConvSpec, type CondConvWeights, type Tensor } from "../../condconv/spec.ts";
import { outputShape, resolveGeometry } from "../../condconv/geometry.ts";
import { torchErrorProblem } from "../../condconv/tolerance.ts";
import {
  metadataJson,
  parseSafetensors,
  type SafetensorsTensor,
  tensorToFloat32,
  tensorToFloat64,
} from "../../condconv/formats/safetensors.ts";
import { weightsFromLayout } from "../../condconv/formats/weight_layouts.ts";

/** `__metadata__["block"]`: the activation between layers and each layer's prefix and spec. */
export const BlockMetadata = z.strictObject({
  activation: z.literal("swish"),
  layers: z.array(z.strictObject({ prefix: z.string().min(1), spec: CondConvSpec })).min(1),
});
/** `BlockMetadata` after parsing. */
export type BlockMetadata = z.infer<typeof BlockMetadata>;

/** One layer of a block. */
export interface BlockLayer {
  prefix: string;
  spec: CondConvSpec;
  weights: CondConvWeights;
}

/** A CondConv block with PyTorch's float64 result. */
export interface CondConvBlock {
  layers: BlockLayer[];
  activation: "swish";
  /** the block's routing layer: weight `(E, C)`, bias `(E)` */
  routingWeight: Float32Array;
  routingBias: Float32Array;
  /** `(B, C, H, W)` */
  input: Tensor;
  /** PyTorch's routing `(B, E)`, float64 */
  routing: Float64Array;
  /** PyTorch's block output, float64 */
  output: Float64Array;
  outputShape: number[];
  /** PyTorch's own float32 block error against its float64 one */
  torchFloat32MaxAbsErr: number;
}

function fail(source: string, detail: string): never {
  throw new TypeError(`Cannot load block "${source}": ${detail}`);
}

const BLOCK_TENSORS = ["input", "routing", "output", "routing_fn.weight", "routing_fn.bias"];

/**
 * Reads a block written by `scripts/condconv_block.py`. Throws a `TypeError` or `RangeError`
 * naming the file and the tensor or field at fault.
 */
export function parseCondConvBlock(bytes: Uint8Array, source: string): CondConvBlock {
  const file = parseSafetensors(bytes, source);
  const meta = metadataJson(
    file.metadata,
    "block",
    BlockMetadata,
    "a valid block description",
    (detail) => fail(source, detail),
  );
  if (meta === undefined) fail(source, `__metadata__ has no "block"`);
  const get = (name: string, shape: number[]): SafetensorsTensor => {
    const tensor = file.tensors.get(name);
    if (!tensor) fail(source, `tensor "${name}" is missing`);
    if (tensor.shape.join() !== shape.join()) {
      fail(
        source,
        `tensor "${name}" has shape [${tensor.shape.join(", ")}], expected [${shape.join(", ")}]`,
      );
    }
    return tensor;
  };
  for (const name of file.tensors.keys()) {
    if (!BLOCK_TENSORS.includes(name) && !meta.layers.some((l) => name.startsWith(l.prefix))) {
      fail(source, `tensor "${name}" belongs to no layer and is not one of ${BLOCK_TENSORS}`);
    }
  }
  const experts = meta.layers[0].spec.numExperts;
  const inputTensor = file.tensors.get("input");
  if (!inputTensor) fail(source, `tensor "input" is missing`);
  const inputShape = inputTensor.shape;
  const [batch, channels] = inputShape;
  const layers: BlockLayer[] = [];
  let shape: number[] = [...inputShape];
  for (const [i, layer] of meta.layers.entries()) {
    const { spec, prefix } = layer;
    if (spec.routing.kind !== "supplied") {
      fail(
        source,
        `layer "${prefix}" has routing "${spec.routing.kind}": every layer takes the block's ` +
          `routing, so it must be "supplied"`,
      );
    }
    if (spec.numExperts !== experts) {
      fail(source, `layer "${prefix}" has ${spec.numExperts} experts, the block ${experts}`);
    }
    if (spec.inChannels !== shape[1]) {
      fail(
        source,
        `layer ${i} "${prefix}" takes ${spec.inChannels} channels but receives ${shape[1]}`,
      );
    }
    const { weights } = weightsFromLayout("timm", spec, file.tensors, source, prefix);
    layers.push({ prefix, spec, weights });
    shape = outputShape(spec, shape);
  }
  const exact = (tensor: SafetensorsTensor) => {
    const { data, rounded } = tensorToFloat32(tensor, source);
    if (rounded) fail(source, `tensor "${tensor.name}" is not exact in float32`);
    return data;
  };
  const output = tensorToFloat64(get("output", shape), source);
  // the claimed error widens the tolerance: one that dwarfs round-off would hide a wrong result
  const torchFloat32MaxAbsErr = Number(file.metadata.torchFloat32MaxAbsErr ?? 0);
  const problem = torchErrorProblem(torchFloat32MaxAbsErr, output);
  if (problem) fail(source, `__metadata__ "torchFloat32MaxAbsErr" cannot be trusted: ${problem}`);
  return {
    layers,
    activation: meta.activation,
    routingWeight: exact(get("routing_fn.weight", [experts, channels])),
    routingBias: exact(get("routing_fn.bias", [experts])),
    input: { shape: inputShape, data: exact(inputTensor) },
    routing: tensorToFloat64(get("routing", [batch, experts]), source),
    output,
    outputShape: shape,
    torchFloat32MaxAbsErr,
  };
}

/** Reads a block file from disk (see `parseCondConvBlock`). */
export async function loadCondConvBlock(path: string): Promise<CondConvBlock> {
  return parseCondConvBlock(await Deno.readFile(path), path);
}

/**
 * The block's ONE routing, `sigmoid(fc(avgpool(input)))` `(B, E)`, computed in float64 by
 * the reference adapter's routing code and rounded to float32 for the adapters.
 */
export function blockRouting(block: CondConvBlock, input: Tensor): Float32Array {
  const first = block.layers[0].spec;
  const routingSpec: CondConvSpec = { ...first, routing: { kind: "sigmoid" } };
  const g = resolveGeometry(routingSpec, input.shape);
  const weights = {
    expertKernels: new Float32Array(0),
    routingWeight: block.routingWeight,
    routingBias: block.routingBias,
  };
  return Float32Array.from(computeRouting(routingSpec, weights, input, g));
}

function swish(tensor: Tensor): Tensor {
  const data = new Float32Array(tensor.data.length);
  for (let i = 0; i < data.length; i++) {
    const x = tensor.data[i];
    data[i] = x / (1 + Math.exp(-x));
  }
  return { shape: tensor.shape, data };
}

/**
 * Runs the block on `adapter`: the routing once, then every layer with that routing
 * supplied, swish between layers (in float64, rounded to float32). Disposes every layer it
 * prepared, also on failure.
 */
export async function runCondConvBlock(
  adapter: CondConvAdapter,
  block: CondConvBlock,
  input: Tensor = block.input,
): Promise<{ output: Tensor; routing: Float32Array; backends: string[] }> {
  const routing = blockRouting(block, input);
  const prepared: PreparedCondConv[] = [];
  try {
    for (const layer of block.layers) {
      prepared.push(await adapter.prepare(layer.spec, layer.weights));
    }
    let h = input;
    for (const [i, layer] of prepared.entries()) {
      h = await layer.run(h, routing);
      if (i < prepared.length - 1) h = swish(h);
    }
    return { output: h, routing, backends: prepared.map((p) => p.backend) };
  } finally {
    for (const layer of prepared) await layer.dispose();
  }
}

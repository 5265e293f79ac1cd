/**
 * The ONNX graph builder under `onnx_graph.ts`: tensor and attribute encoders, and a
 * {@link GraphBuilder} that collects nodes and initializers under unique names. Also the
 * names and choices every part of the graph shares.
 * @module
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** Name of the NCHW input. */
export const INPUT_NAME = "input";
/** Name of the `(B, E)` routing input, present when the spec's routing is `"supplied"`. */
export const ROUTING_INPUT_NAME = "routing";
/** Name of the NCHW output. */
export const OUTPUT_NAME = "output";

/**
 * How the per-example convolution is expressed (see `onnx_graph.ts`); the names are the
 * project's formulation axis (issue 18), shared with the tfjs adapters.
 */
export type ConvFormulation =
  | "batched-matmul"
  | "grouped"
  | "depthwise-folded"
  | "per-example"
  | "expert-sum";

/** Every formulation the ONNX graph can express, in the order tests and timings list them. */
export const CONV_FORMULATIONS: readonly ConvFormulation[] = [
  "batched-matmul",
  "grouped",
  "depthwise-folded",
  "per-example",
  "expert-sum",
];

/** How the experts are mixed (see `onnx_graph.ts`): one `MatMul`, or `Mul` + `ReduceSum`. */
export type KernelMixing = "matmul" | "mul-reducesum";

export type Node = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type Attribute = onnxProto.onnx.IAttributeProto;

export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export function floatTensor(
  name: string,
  dims: number[],
  data: Float32Array | number[],
): TensorProto {
  const values = data instanceof Float32Array ? data : Float32Array.from(data);
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

export function int64Tensor(name: string, values: number[]): TensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return { name, dims: [values.length], dataType: INT64, rawData: bytes };
}

export function intsAttribute(name: string, ints: number[]): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints };
}

export function intAttribute(name: string, i: number): Attribute {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

export function stringAttribute(name: string, value: string): Attribute {
  return {
    name,
    type: onnx.AttributeProto.AttributeType.STRING,
    s: new TextEncoder().encode(value),
  };
}

export function valueInfo(name: string, dims: (number | string)[]): onnxProto.onnx.IValueInfoProto {
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
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers: TensorProto[] = [];
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

  /** A `Pad` node; `pads` holds every axis's start, then every axis's end. */
  pad(input: string, pads: number[], mode = "constant", base = "pad"): string {
    return this.op("Pad", [input, this.ints("pads", pads)], [stringAttribute("mode", mode)], base);
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

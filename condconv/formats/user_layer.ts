/**
 * A user's own trained CondConv layer, from one safetensors file (see `safetensors.ts` for
 * the format and `weight_layouts.ts` for the tensor names of each layout).
 *
 * What the file holds:
 * - the layer's tensors in one of the layouts `reference`, `timm` or `tensorflow`, named
 *   without any module prefix;
 * - `__metadata__["spec"]`: the `CondConvSpec` as JSON (everything the tensors do not say:
 *   stride, padding, dilation, padding mode, groups, routing kind), required;
 * - `__metadata__["layout"]`: optional, otherwise detected from the tensor names;
 * - `__metadata__["name"]`: optional id of the layer in reports (default: the file name
 *   without `.safetensors`);
 * - optional check tensors from PyTorch: `check.input` `(B, C, H, W)`, `check.routing`
 *   `(B, E)` exactly when the routing is `"supplied"`, and `check.output` `(B, O, oh, ow)`,
 *   PyTorch's float64 output (`scripts/export_weights.py` stores it as F64; an F32 output is
 *   accepted and read as is);
 * - `__metadata__["torchFloat32MaxAbsErr"]`: PyTorch's own float32 max abs error against
 *   that float64 output, which anchors the tolerance (`condconv/tolerance.ts`); optional, 0
 *   (the tolerance class's floor) when absent.
 *
 * Weights may be F16, BF16, F32 or F64 (rounded to float32, the rounded ones listed);
 * `check.input` and `check.routing` must be exact in float32, since the adapters run on
 * float32 inputs and the check output was computed from the stored values.
 * @module
 */
import { CondConvSpec, type CondConvWeights, type Tensor } from "../spec.ts";
import { geometryIssues, outputShape } from "../geometry.ts";
import {
  metadataJson,
  parseSafetensors,
  type SafetensorsTensor,
  tensorToFloat32,
  tensorToFloat64,
} from "./safetensors.ts";
import { detectLayout, WeightLayout, weightsFromLayout } from "./weight_layouts.ts";
import { torchErrorProblem } from "../tolerance.ts";

/** Names of the check tensors. */
export const CHECK_TENSORS = {
  input: "check.input",
  routing: "check.routing",
  output: "check.output",
} as const;

/** Metadata keys this suite reads (others are kept and ignored). */
export const METADATA_KEYS = {
  spec: "spec",
  layout: "layout",
  name: "name",
  torchFloat32MaxAbsErr: "torchFloat32MaxAbsErr",
} as const;

/** PyTorch's result on the user's layer, to check adapters against. */
export interface UserLayerCheck {
  /** `(B, C, H, W)` */
  input: Tensor;
  /** `(B, E)`, present exactly when the spec's routing is `"supplied"` */
  routingWeights?: Float32Array;
  /** PyTorch's output, row-major `(B, O, oh, ow)` */
  output: Float64Array;
  outputShape: number[];
  /** the dtype the output was stored in (`F64` from `scripts/export_weights.py`) */
  outputDtype: string;
  /** PyTorch's own float32 max abs error on this layer; 0 when the file does not record it */
  torchFloat32MaxAbsErr: number;
  /** whether the file recorded `torchFloat32MaxAbsErr` */
  torchErrorRecorded: boolean;
}

/** A user's layer, ready for `adapter.prepare(spec, weights)`. */
export interface UserLayer {
  /** the layer's id in reports */
  id: string;
  layout: WeightLayout;
  /** whether the layout was stated in `__metadata__` or detected from the tensor names */
  layoutFrom: "metadata" | "tensor names";
  spec: CondConvSpec;
  weights: CondConvWeights;
  /** weight tensors stored in float64 whose values changed when rounded to float32 */
  roundedToFloat32: string[];
  /** the file's whole `__metadata__` */
  metadata: Record<string, string>;
  check?: UserLayerCheck;
}

function fail(source: string, detail: string): never {
  throw new TypeError(`Cannot load weights "${source}": ${detail}`);
}

/** The file name of a path or URL without its directory and `.safetensors`. */
function baseName(source: string): string {
  const last = source.split(/[\\/]/).pop() ?? source;
  return last.replace(/\.safetensors$/i, "") || last;
}

/** The spec from `__metadata__["spec"]`, parsed by `CondConvSpec`. */
export function specFromMetadata(metadata: Record<string, string>, source: string): CondConvSpec {
  const spec = metadataJson(
    metadata,
    METADATA_KEYS.spec,
    CondConvSpec,
    "a valid CondConvSpec",
    (detail) => fail(source, detail),
  );
  if (spec === undefined) {
    fail(
      source,
      `__metadata__ has no "spec": add the layer's CondConvSpec as JSON (inChannels, ` +
        `outChannels, kernelSize, stride, padding, dilation, paddingMode, groups, bias, ` +
        `numExperts, routing), as scripts/export_weights.py does`,
    );
  }
  return spec;
}

function exactFloat32(tensor: SafetensorsTensor, source: string): Float32Array {
  const { data, rounded } = tensorToFloat32(tensor, source);
  if (rounded) {
    fail(
      source,
      `tensor "${tensor.name}" holds float64 values that float32 cannot represent exactly: ` +
        "the adapters run on float32, so store it as F32 and compute check.output from " +
        "those float32 values",
    );
  }
  return data;
}

function readCheck(
  spec: CondConvSpec,
  checks: Map<string, SafetensorsTensor>,
  metadata: Record<string, string>,
  source: string,
): UserLayerCheck | undefined {
  for (const name of checks.keys()) {
    if (!(Object.values(CHECK_TENSORS) as string[]).includes(name)) {
      fail(
        source,
        `tensor "${name}" is not a check tensor (they are ` +
          `${Object.values(CHECK_TENSORS).map((n) => `"${n}"`).join(", ")})`,
      );
    }
  }
  const input = checks.get(CHECK_TENSORS.input);
  const routing = checks.get(CHECK_TENSORS.routing);
  const output = checks.get(CHECK_TENSORS.output);
  if (!input && !output) {
    if (routing) fail(source, `tensor "check.routing" needs "check.input" and "check.output"`);
    return undefined;
  }
  if (!input || !output) {
    const [has, lacks] = input ? ["check.input", "check.output"] : ["check.output", "check.input"];
    fail(source, `tensor "${has}" needs "${lacks}", which is missing`);
  }
  const issues = geometryIssues(spec, input.shape);
  if (issues.length > 0) {
    const text = issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    fail(
      source,
      `tensor "check.input" has shape [${input.shape.join(", ")}], which the spec cannot ` +
        `take: ${text}`,
    );
  }
  const batch = input.shape[0];
  const check: UserLayerCheck = {
    input: { shape: input.shape, data: exactFloat32(input, source) },
    output: new Float64Array(0),
    outputShape: outputShape(spec, input.shape),
    outputDtype: output.dtype,
    torchFloat32MaxAbsErr: 0,
    torchErrorRecorded: false,
  };
  if (spec.routing.kind === "supplied") {
    const wanted = [batch, spec.numExperts];
    if (!routing) {
      fail(
        source,
        `tensor "check.routing" is missing: spec routing "supplied" needs the routing ` +
          `weights the check output was computed with, shape [${wanted.join(", ")}]`,
      );
    }
    if (routing.shape.join() !== wanted.join()) {
      fail(
        source,
        `tensor "check.routing" has shape [${routing.shape.join(", ")}] but check.input ` +
          `batch ${batch} and spec numExperts ${spec.numExperts} need [${wanted.join(", ")}]`,
      );
    }
    check.routingWeights = exactFloat32(routing, source);
  } else if (routing) {
    fail(
      source,
      `tensor "check.routing" is not used: spec routing "${spec.routing.kind}" is computed ` +
        "from the input",
    );
  }
  if (output.shape.join() !== check.outputShape.join()) {
    fail(
      source,
      `tensor "check.output" has shape [${output.shape.join(", ")}] but the spec on ` +
        `check.input [${input.shape.join(", ")}] gives [${check.outputShape.join(", ")}]`,
    );
  }
  check.output = tensorToFloat64(output, source);
  const errText = metadata[METADATA_KEYS.torchFloat32MaxAbsErr];
  if (errText !== undefined) {
    const value = Number(errText);
    if (errText.trim() === "" || !Number.isFinite(value) || value < 0) {
      fail(
        source,
        `__metadata__ "torchFloat32MaxAbsErr" must be a finite non-negative number, got ` +
          `"${errText}"`,
      );
    }
    const problem = torchErrorProblem(value, check.output);
    if (problem) {
      fail(
        source,
        `__metadata__ "torchFloat32MaxAbsErr" cannot be trusted: ${problem}; export the ` +
          "file again with scripts/export_weights.py",
      );
    }
    check.torchFloat32MaxAbsErr = value;
    check.torchErrorRecorded = true;
  }
  return check;
}

/**
 * Reads a user's layer from the bytes of a safetensors file; `source` names the file in
 * errors. Throws a `TypeError` or `RangeError` naming the file and the tensor or metadata
 * field at fault.
 *
 * @example A reference-layout layer with no check tensors
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * import { parseUserLayer } from "./user_layer.ts";
 * const f32 = (shape: number[]) => ({
 *   dtype: "F32" as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
 * });
 * const bytes = encodeSafetensors(
 *   {
 *     weight: f32([3, 2, 1, 1, 1]),
 *     bias: f32([2]),
 *     "_routing_fn.fc.weight": f32([3, 1]),
 *     "_routing_fn.fc.bias": f32([3]),
 *   },
 *   { spec: JSON.stringify({ inChannels: 1, outChannels: 2, kernelSize: 1 }) },
 * );
 * const layer = parseUserLayer(bytes, "mine.safetensors");
 * if (layer.layout !== "reference" || layer.id !== "mine") throw new Error(layer.layout);
 * ```
 */
export function parseUserLayer(bytes: Uint8Array, source: string): UserLayer {
  const file = parseSafetensors(bytes, source);
  const { metadata } = file;
  const spec = specFromMetadata(metadata, source);
  const checks = new Map<string, SafetensorsTensor>();
  const layerTensors = new Map<string, SafetensorsTensor>();
  for (const [name, tensor] of file.tensors) {
    (name.startsWith("check.") ? checks : layerTensors).set(name, tensor);
  }
  let layout: WeightLayout;
  let layoutFrom: UserLayer["layoutFrom"];
  const stated = metadata[METADATA_KEYS.layout];
  if (stated !== undefined) {
    const parsed = WeightLayout.safeParse(stated);
    if (!parsed.success) {
      fail(
        source,
        `__metadata__ "layout" is "${stated}", expected one of ` +
          `${WeightLayout.options.map((o) => `"${o}"`).join(", ")}`,
      );
    }
    layout = parsed.data;
    layoutFrom = "metadata";
  } else {
    layout = detectLayout(
      new Map([...layerTensors].map(([name, t]) => [name, t.shape])),
      source,
    );
    layoutFrom = "tensor names";
  }
  const { weights, roundedToFloat32 } = weightsFromLayout(layout, spec, layerTensors, source);
  const layer: UserLayer = {
    id: metadata[METADATA_KEYS.name] || baseName(source),
    layout,
    layoutFrom,
    spec,
    weights,
    roundedToFloat32,
    metadata,
  };
  const check = readCheck(spec, checks, metadata, source);
  if (check) layer.check = check;
  return layer;
}

/**
 * The three ways a trained CondConv layer stores its tensors, and their conversion into the
 * suite's `CondConvWeights` (layouts in `condconv_spec.ts`). `E` experts, `O` output and `C`
 * input channels, `g` groups, a `kh x kw` kernel:
 *
 * - `reference`: `weight` `(E, O, C/g, kh, kw)`, `bias` `(O)`, and the routing linear layer
 *   `_routing_fn.fc.weight` `(E, C)`, `_routing_fn.fc.bias` `(E)`;
 * - `timm`: `weight` `(E, O*C/g*kh*kw)` (rows `(O, C/g, kh, kw)`), `bias` `(E, O)`, and for a
 *   computed routing `routing_fn.weight` `(E, C)`, `routing_fn.bias` `(E)`;
 * - `tensorflow`: `condconv_kernel` `(E, kh*kw*C*O)` (rows `(kh, kw, C, O)`), or for a
 *   depthwise layer (`groups = C`, `O = C*M`) `condconv_kernel` or `depthwise_condconv_kernel`
 *   `(E, kh*kw*C*M)` (rows `(kh, kw, C, M)`), `condconv_bias` `(E, O)`, and for a computed
 *   routing `routing_fn/kernel` `(C, E)` (a Keras Dense kernel), `routing_fn/bias` `(E)`.
 *
 * - `reference` is the state_dict of the user's PyTorch module (`condconv_seed.py`): shared
 *   bias, sigmoid routing computed by the layer itself.
 * - `timm` is `timm.layers.CondConv2d` (per-expert bias, routing passed in by the block). Its
 *   routing lives in the surrounding block (`CondConvResidual.routing_fn`, an `nn.Linear`); a
 *   file may carry it under `routing_fn.*` when the layer's input is the block's input (the
 *   expansion conv), otherwise the spec's routing is `"supplied"`.
 * - `tensorflow` is the official `CondConv2D` / `DepthwiseCondConv2D`
 *   (tensorflow/tpu `models/official/efficientnet/condconv/condconv_layers.py`); the block's
 *   routing (`_routing_fn`, a `tf.layers.Dense` with a sigmoid) may be carried as
 *   `routing_fn/kernel` and `routing_fn/bias` on the same terms as timm's.
 *
 * A depthwise TensorFlow kernel's output channel `c*M + m` reads input channel `c`, as a
 * PyTorch convolution with `groups = C` does, so only the element order changes.
 * @module
 */
import { z } from "zod";
import type { CondConvSpec, CondConvWeights } from "../spec.ts";
import { pair } from "../geometry.ts";
import { type SafetensorsTensor, tensorToFloat32 } from "./safetensors.ts";

/** The layout names. */
export const WeightLayout = z.enum(["reference", "timm", "tensorflow"]);
/** One of the layout names. */
export type WeightLayout = z.infer<typeof WeightLayout>;

/** Every tensor name a layout may use, for error messages and the README. */
export const LAYOUT_TENSOR_NAMES: Readonly<Record<WeightLayout, readonly string[]>> = {
  reference: ["weight", "bias", "_routing_fn.fc.weight", "_routing_fn.fc.bias"],
  timm: ["weight", "bias", "routing_fn.weight", "routing_fn.bias"],
  tensorflow: [
    "condconv_kernel",
    "depthwise_condconv_kernel",
    "condconv_bias",
    "routing_fn/kernel",
    "routing_fn/bias",
  ],
};

function fail(source: string, detail: string): never {
  throw new TypeError(`Cannot load weights "${source}": ${detail}`);
}

function quoteAll(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(", ");
}

/**
 * The layout of a set of tensor names (already stripped of any prefix): `tensorflow` when a
 * `condconv_kernel` is there, `reference` when the module's `_routing_fn.*` is, otherwise
 * `timm` for a 2-D `weight` and `reference` for a 5-D one. Throws a `TypeError` listing the
 * names found when none fits.
 *
 * @example
 * ```ts
 * import { detectLayout } from "./weight_layouts.ts";
 * const layout = detectLayout(new Map([["condconv_kernel", [3, 72]], ["condconv_bias", [3, 8]]]), "x");
 * if (layout !== "tensorflow") throw new Error(layout);
 * ```
 */
export function detectLayout(
  shapes: ReadonlyMap<string, readonly number[]>,
  source: string,
): WeightLayout {
  const names = [...shapes.keys()];
  if (names.some((n) => n === "condconv_kernel" || n === "depthwise_condconv_kernel")) {
    return "tensorflow";
  }
  if (names.some((n) => n.startsWith("_routing_fn."))) return "reference";
  const weight = shapes.get("weight");
  if (weight?.length === 2) return "timm";
  if (weight?.length === 5) return "reference";
  const found = names.length ? quoteAll(names) : "no tensors";
  fail(
    source,
    `cannot tell the layout from the tensor names (found ${found}): expected a 5-D "weight" ` +
      `(reference), a 2-D "weight" (timm) or "condconv_kernel" / "depthwise_condconv_kernel" ` +
      `(tensorflow), or the layout stated in __metadata__ "layout"`,
  );
}

/** A tensor the layout needs: its name, the shape the spec implies and why. */
interface Expected {
  name: string;
  shape: number[];
  /** the spec fields the shape comes from, for the error message */
  because: string;
}

/** The converted tensors, and which of them float32 could not hold exactly. */
export interface LayoutWeights {
  weights: CondConvWeights;
  /** names of tensors stored in float64 whose values changed when rounded to float32 */
  roundedToFloat32: string[];
}

/**
 * Converts the tensors of one layer in `layout` into the suite's `CondConvWeights` for
 * `spec`. `tensors` maps full names to tensors; only names starting with `prefix` belong to
 * this layer (others are ignored), and every one of those must be a tensor the layout and
 * spec use. Throws a `TypeError` naming the tensor at fault: a missing or unexpected name, a
 * wrong shape (with the spec fields it follows from), a non-float dtype, or a spec the
 * layout cannot express.
 *
 * @example A TensorFlow kernel `(kh, kw, C, O)` becomes `(E, O, C, kh, kw)`
 * ```ts
 * import { CondConvSpec } from "../spec.ts";
 * import { parseSafetensors, encodeSafetensors } from "./safetensors.ts";
 * import { weightsFromLayout } from "./weight_layouts.ts";
 * const spec = CondConvSpec.parse({
 *   inChannels: 1, outChannels: 2, kernelSize: 1, numExperts: 1, bias: "none",
 *   routing: { kind: "supplied" },
 * });
 * const file = parseSafetensors(encodeSafetensors({
 *   condconv_kernel: { dtype: "F32", shape: [1, 2], data: new Float32Array([5, 7]) },
 * }), "tf.safetensors");
 * const { weights } = weightsFromLayout("tensorflow", spec, file.tensors, "tf.safetensors");
 * if (weights.expertKernels.join() !== "5,7") throw new Error("wrong order");
 * ```
 */
export function weightsFromLayout(
  layout: WeightLayout,
  spec: CondConvSpec,
  tensors: ReadonlyMap<string, SafetensorsTensor>,
  source: string,
  prefix = "",
): LayoutWeights {
  const [kh, kw] = pair(spec.kernelSize);
  const e = spec.numExperts, o = spec.outChannels, c = spec.inChannels, g = spec.groups;
  const kernelBecause = `numExperts ${e}, outChannels ${o}, inChannels ${c}, groups ${g}, ` +
    `kernelSize [${kh}, ${kw}]`;
  const routed = spec.routing.kind !== "supplied";
  const where = `layout "${layout}"`;

  // What the spec allows this layout to hold.
  const expected: Expected[] = [];
  let kernelName: string;
  let depthwise = false;
  const own = [...tensors.keys()].filter((n) => n.startsWith(prefix)).map((n) =>
    n.slice(prefix.length)
  );
  if (layout === "reference") {
    if (spec.bias === "perExpert") {
      fail(
        source,
        `${where} has one bias "bias" (O) shared by the experts: spec.bias must be "shared" ` +
          `or "none", got "perExpert"`,
      );
    }
    if (spec.routing.kind !== "sigmoid") {
      fail(
        source,
        `${where} computes its routing with a sigmoid ("_routing_fn.fc.weight", ` +
          `"_routing_fn.fc.bias"): spec.routing.kind must be "sigmoid", got ` +
          `"${spec.routing.kind}"`,
      );
    }
    kernelName = "weight";
    expected.push({ name: "weight", shape: [e, o, c / g, kh, kw], because: kernelBecause });
    if (spec.bias === "shared") {
      expected.push({ name: "bias", shape: [o], because: `outChannels ${o}` });
    }
    expected.push(
      {
        name: "_routing_fn.fc.weight",
        shape: [e, c],
        because: `numExperts ${e}, inChannels ${c}`,
      },
      { name: "_routing_fn.fc.bias", shape: [e], because: `numExperts ${e}` },
    );
  } else {
    if (spec.bias === "shared") {
      fail(
        source,
        `${where} has a per-expert bias (E, O) mixed by the routing: spec.bias must be ` +
          `"perExpert" or "none", got "shared"`,
      );
    }
    if (spec.routing.kind === "softmax") {
      fail(
        source,
        `${where} routes with a sigmoid or takes the routing from its block: ` +
          `spec.routing.kind must be "sigmoid" or "supplied", got "softmax"`,
      );
    }
    const biasName = layout === "timm" ? "bias" : "condconv_bias";
    if (layout === "timm") {
      kernelName = "weight";
      expected.push({
        name: "weight",
        shape: [e, o * (c / g) * kh * kw],
        because: kernelBecause,
      });
    } else {
      const named = own.includes("depthwise_condconv_kernel");
      if (named && own.includes("condconv_kernel")) {
        fail(
          source,
          `${where} holds one kernel, "condconv_kernel" (CondConv2D) or ` +
            `"depthwise_condconv_kernel" (DepthwiseCondConv2D), and the file has both`,
        );
      }
      kernelName = named ? "depthwise_condconv_kernel" : "condconv_kernel";
      depthwise = named || (g === c && g > 1);
      if (depthwise && g !== c) {
        fail(
          source,
          `${where} with "depthwise_condconv_kernel" is a depthwise convolution: spec.groups ` +
            `must equal inChannels (${c}), got ${g}`,
        );
      }
      if (!depthwise && g !== 1) {
        fail(
          source,
          `${where} has no grouped convolution: spec.groups must be 1 (CondConv2D) or ` +
            `inChannels ${c} (DepthwiseCondConv2D), got ${g}`,
        );
      }
      expected.push({
        name: kernelName,
        shape: [e, kh * kw * c * (depthwise ? o / c : o)],
        because: depthwise
          ? `numExperts ${e}, kernelSize [${kh}, ${kw}], inChannels ${c}, depth multiplier ` +
            `outChannels / inChannels = ${o / c}`
          : `numExperts ${e}, kernelSize [${kh}, ${kw}], inChannels ${c}, outChannels ${o}`,
      });
    }
    if (spec.bias === "perExpert") {
      expected.push({
        name: biasName,
        shape: [e, o],
        because: `numExperts ${e}, outChannels ${o}`,
      });
    }
    if (routed) {
      const [weightName, weightShape, weightBecause] = layout === "timm"
        ? ["routing_fn.weight", [e, c], `numExperts ${e}, inChannels ${c}`] as const
        : ["routing_fn/kernel", [c, e], `inChannels ${c}, numExperts ${e}`] as const;
      const biasOfRouting = layout === "timm" ? "routing_fn.bias" : "routing_fn/bias";
      expected.push(
        { name: weightName, shape: [...weightShape], because: weightBecause },
        { name: biasOfRouting, shape: [e], because: `numExperts ${e}` },
      );
    }
  }

  // Every tensor of this layer must be one the layout and spec use.
  const wanted = new Set(expected.map((x) => x.name));
  for (const name of own) {
    if (wanted.has(name)) continue;
    const full = `${prefix}${name}`;
    if (LAYOUT_TENSOR_NAMES[layout].includes(name)) {
      fail(
        source,
        `tensor "${full}" is not used by ${where} with spec bias "${spec.bias}" and routing ` +
          `"${spec.routing.kind}" (it uses ${quoteAll(expected.map((x) => prefix + x.name))})`,
      );
    }
    fail(
      source,
      `tensor "${full}" is not part of ${where} (its tensors: ` +
        `${quoteAll(LAYOUT_TENSOR_NAMES[layout].map((n) => prefix + n))})`,
    );
  }

  const roundedToFloat32: string[] = [];
  const values = new Map<string, Float32Array>();
  for (const x of expected) {
    const full = `${prefix}${x.name}`;
    const tensor = tensors.get(full);
    if (!tensor) {
      fail(
        source,
        `tensor "${full}" is missing: ${where} with spec ${x.because} needs it, shape ` +
          `[${x.shape.join(", ")}]`,
      );
    }
    if (tensor.shape.join() !== x.shape.join()) {
      fail(
        source,
        `tensor "${full}" has shape [${tensor.shape.join(", ")}] but ${where} with spec ` +
          `${x.because} needs [${x.shape.join(", ")}]`,
      );
    }
    const { data, rounded } = tensorToFloat32(tensor, source);
    if (rounded) roundedToFloat32.push(full);
    values.set(x.name, data);
  }

  const stored = values.get(kernelName)!;
  const weights: CondConvWeights = {
    expertKernels: layout === "tensorflow"
      ? tensorflowKernelToExperts(stored, e, o, c, kh, kw, depthwise)
      : stored,
  };
  const bias = values.get(layout === "tensorflow" ? "condconv_bias" : "bias");
  if (bias) weights.bias = bias;
  if (routed) {
    if (layout === "tensorflow") {
      weights.routingWeight = transpose(values.get("routing_fn/kernel")!, c, e);
      weights.routingBias = values.get("routing_fn/bias")!;
    } else {
      const base = layout === "timm" ? "routing_fn" : "_routing_fn.fc";
      weights.routingWeight = values.get(`${base}.weight`)!;
      weights.routingBias = values.get(`${base}.bias`)!;
    }
  }
  return { weights, roundedToFloat32 };
}

/** `(rows, cols)` to `(cols, rows)`, row-major. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) out[k * rows + r] = values[r * cols + k];
  }
  return out;
}

/**
 * TensorFlow's `(E, kh*kw*C*O)` kernel, rows `(kh, kw, C, O)`, as `(E, O, C, kh, kw)`; or its
 * depthwise `(E, kh*kw*C*M)`, rows `(kh, kw, C, M)`, as `(E, C*M, 1, kh, kw)`.
 *
 * @example One expert, a 1x2 kernel, one input and two output channels
 * ```ts
 * import { tensorflowKernelToExperts } from "./weight_layouts.ts";
 * // rows (kh=1, kw=2, C=1, O=2): [u0v0o0, u0v0o1, u0v1o0, u0v1o1]
 * const out = tensorflowKernelToExperts(new Float32Array([1, 2, 3, 4]), 1, 2, 1, 1, 2, false);
 * if (out.join() !== "1,3,2,4") throw new Error(out.join());
 * ```
 */
export function tensorflowKernelToExperts(
  stored: Float32Array,
  experts: number,
  outChannels: number,
  inChannels: number,
  kh: number,
  kw: number,
  depthwise: boolean,
): Float32Array {
  const out = new Float32Array(stored.length);
  const perExpert = stored.length / experts;
  // the last stored axis: O, or the depthwise multiplier M
  const last = depthwise ? outChannels / inChannels : outChannels;
  // output channel `o` reads `perGroup` input channels: all C, or its own one when depthwise
  const perGroup = depthwise ? 1 : inChannels;
  for (let e = 0; e < experts; e++) {
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        for (let c = 0; c < inChannels; c++) {
          for (let k = 0; k < last; k++) {
            const from = e * perExpert + ((u * kw + v) * inChannels + c) * last + k;
            const [o, i] = depthwise ? [c * last + k, 0] : [k, c];
            out[e * perExpert + ((o * perGroup + i) * kh + u) * kw + v] = stored[from];
          }
        }
      }
    }
  }
  return out;
}

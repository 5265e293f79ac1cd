/**
 * The formulation axis (issue 18): how a framework expresses CondConv's per-example
 * convolution, one name per concept across tfjs and onnxruntime.
 *
 * - `"batched-matmul"`: mix the kernels, then im2col and one batched matrix product (a 1x1
 *   layer needs no im2col);
 * - `"grouped"`: mix the kernels, then fold the batch into the groups of one grouped
 *   convolution (`group = B x groups`, the timm trick);
 * - `"depthwise-folded"`: the same fold for a depthwise layer, as the framework's depthwise
 *   convolution;
 * - `"per-example"`: mix the kernels, then one convolution per example;
 * - `"expert-sum"`: the `E` expert kernels stay static, one convolution with `E x O` outputs
 *   for the whole batch, the outputs mixed per example (`E` times the convolution FLOPs).
 *
 * Which one a layer takes by default is a measured table (`impls/_formulations/table.ts`),
 * keyed by the cell of the layer: backend x kernel kind x batch bucket x spatial bucket,
 * defined here.
 * @module
 */
import type { CondConvSpec } from "./spec.ts";
import { pair } from "./geometry.ts";

/** Every formulation name of the axis, in the order reports list them. */
export const FORMULATIONS = [
  "batched-matmul",
  "grouped",
  "depthwise-folded",
  "per-example",
  "expert-sum",
] as const;
/** One formulation name. */
export type Formulation = (typeof FORMULATIONS)[number];

/** Whether `name` is a formulation of the axis. */
export function isFormulation(name: string): name is Formulation {
  return (FORMULATIONS as readonly string[]).includes(name);
}

/**
 * What kind of kernel a layer has, for the defaults table: `"depthwise"` (groups ==
 * inChannels), `"pointwise"` (a plain 1x1 convolution: `isPlainPointwise`, one group), or
 * `"general"` (everything else, a strided or padded 1x1 layer included).
 */
export type KernelKind = "pointwise" | "depthwise" | "general";

/** What `kernelKind` reads of a spec. */
type KindFields = Pick<
  CondConvSpec,
  "kernelSize" | "groups" | "inChannels" | "stride" | "padding"
>;

/**
 * Whether `spec` is a plain 1x1 convolution: kernel 1x1, stride 1, no padding, so that the
 * input reshaped is already the im2col patch matrix (no slicing).
 */
export function isPlainPointwise(spec: Omit<KindFields, "groups" | "inChannels">): boolean {
  const [kh, kw] = pair(spec.kernelSize);
  const [sh, sw] = pair(spec.stride);
  const p = spec.padding;
  // "same" pads nothing for a 1x1 kernel at stride 1
  const unpadded = p === "valid" || p === "same" || p === 0 ||
    (Array.isArray(p) && p[0] === 0 && p[1] === 0);
  return kh === 1 && kw === 1 && sh === 1 && sw === 1 && unpadded;
}

/** The kernel kind of `spec` (see `KernelKind`). */
export function kernelKind(spec: KindFields): KernelKind {
  if (spec.groups === spec.inChannels) return "depthwise";
  return isPlainPointwise(spec) && spec.groups === 1 ? "pointwise" : "general";
}

/** The batch buckets of the defaults table: one example, or several. */
export const BATCH_BUCKETS = ["1", "2+"] as const;
/** One batch bucket. */
export type BatchBucket = (typeof BATCH_BUCKETS)[number];

/** The batch bucket of `batch` examples. */
export function batchBucket(batch: number): BatchBucket {
  return batch <= 1 ? "1" : "2+";
}

/**
 * The spatial buckets of the defaults table, by input pixels (height x width): up to 10x10
 * (EfficientNet's 7x7 stage), up to 20x20 (its 14x14 stage), and larger.
 */
export const SPATIAL_BUCKETS = ["<=100px", "<=400px", ">400px"] as const;
/** One spatial bucket. */
export type SpatialBucket = (typeof SPATIAL_BUCKETS)[number];

/** The spatial bucket of an `height x width` input. */
export function spatialBucket(height: number, width: number): SpatialBucket {
  const pixels = height * width;
  return pixels <= 100 ? "<=100px" : pixels <= 400 ? "<=400px" : ">400px";
}

/** Where a layer run falls in the defaults table. */
export interface FormulationCell {
  /** the adapter whose default it is, e.g. `"tfjs-wasm"` */
  backend: string;
  kernel: KernelKind;
  batch: BatchBucket;
  spatial: SpatialBucket;
}

/** The cell of `spec` run at `batch` on an `height x width` input, on `backend`. */
export function formulationCell(
  backend: string,
  spec: KindFields,
  batch: number,
  height: number,
  width: number,
): FormulationCell {
  return {
    backend,
    kernel: kernelKind(spec),
    batch: batchBucket(batch),
    spatial: spatialBucket(height, width),
  };
}

/** A cell as one string, e.g. `"tfjs-wasm pointwise b2+ <=400px"`. */
export function cellKey(cell: FormulationCell): string {
  return `${cell.backend} ${cell.kernel} b${cell.batch} ${cell.spatial}`;
}

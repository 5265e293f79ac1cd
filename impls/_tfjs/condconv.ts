/**
 * CondConv on TensorFlow.js (tfjs-core 4.22), shared by the `tfjs-cpu`, `tfjs-wasm` and
 * `tfjs-webgpu` adapters. Everything after the input upload runs on the chosen tfjs backend:
 * routing (mean, linear layer, sigmoid or softmax), kernel mixing (`TfjsMixing`), bias,
 * padding and the convolution.
 *
 * ## One engine, three backends
 * tfjs has one global engine with one active backend. A prepared layer records its backend,
 * and every call that makes tensors first activates that backend and checks, in the same
 * synchronous turn as the computation, that it really is the active one (`onBackend`).
 * `tf.setBackend` resolves `false` when a backend fails to initialise, and the engine then
 * falls back to the best other backend on the next op: that is reported as an error here,
 * never computed.
 *
 * ## Routes (tfjs has no grouped convolution)
 * - `"matmul"` (im2col): the padded NCHW input is cut into `kh * kw` strided slices, stacked
 *   into patches `(B * groups, C/groups * kh * kw, outH * outW)`, and multiplied by the mixed
 *   kernels `(B * groups, O/groups, C/groups * kh * kw)` in one batched matMul, whose result
 *   is already NCHW. A 1x1 kernel with stride 1 and no padding needs no slicing at all: the
 *   input reshaped is the patch matrix (the EfficientNet expand/project layers).
 * - `"depthwise"` (groups == inChannels): the batch is folded into the channels, input
 *   `(1, H, W, B * C)` and per-example kernels `(kh, kw, B * C, multiplier)`, one
 *   `depthwiseConv2d` for the whole batch.
 * - `"per-example"`: one `conv2d` per example and group, with that example's mixed kernel,
 *   a JS loop over the batch: the fastest route for general convolutions on the cpu and
 *   wasm backends, measured (see `chooseRoute`).
 *
 * Strides and dilations both above 1 are not accepted by tfjs's `conv2d` and
 * `depthwiseConv2d`; those routes then convolve with stride 1 and keep every stride-th output
 * (`stridedSlice`). The matmul route slices with both at once.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { checkRunInputs, checkWeights, pair, resolveGeometry } from "../../condconv/geometry.ts";
import type {
  Availability,
  CondConvAdapter,
  GpuSummary,
  PreparedCondConv,
  ToleranceClass,
} from "../adapter.ts";

/** How a prepared layer computes its convolution (see the module doc). */
export type TfjsRoute = "matmul" | "depthwise" | "per-example";

/** All routes, for tests and measurements that force one. */
export const TFJS_ROUTES: readonly TfjsRoute[] = ["matmul", "depthwise", "per-example"];

/**
 * How the mixed kernels `K = r @ W` `(B, E) x (E, L)` are made: one `"matmul"`, or
 * `"elementwise"`, the sum of `E` broadcast products `r[:, e] * W_e` (`tf.addN`, at most 7
 * inputs at a time: see `ADDN_MAX_INPUTS`).
 *
 * Measured on this machine (min ms, E = 8, B = 1, L = 221184 / 38400, compute plus a
 * one-element readback): webgpu on llvmpipe matmul 2132 / 336, elementwise 38 / 19; wasm
 * matmul 3.3 / 0.64, elementwise 6.0 / 1.1; cpu matmul 17 / 8.5, elementwise 312 / 64.
 * tfjs-webgpu's matmul shaders handle K = E = 8 with a huge N badly, while the elementwise
 * form is bandwidth-bound, which suits any GPU; the CPU backends' matmul wins there.
 */
export type TfjsMixing = "matmul" | "elementwise";

/** Options of `prepareTfjsCondConv`. */
export interface TfjsPrepareOptions {
  /** force a route instead of `chooseRoute`'s; `"depthwise"` needs groups == inChannels */
  route?: TfjsRoute;
  /** force a kernel mixing instead of the adapter's */
  mixing?: TfjsMixing;
}

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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether `name` is the engine's active, initialised backend (no side effects). */
function isActive(name: string): boolean {
  const engine = tf.engine();
  const instance = engine.registry[name];
  if (instance === undefined || tf.getBackend() !== name) return false;
  try {
    return tf.backend() === instance;
  } catch {
    return false;
  }
}

/**
 * Makes `name` the active tfjs backend, initialising it if needed. Throws an `Error` when it
 * is not registered or fails to initialise (tfjs would otherwise fall back silently).
 */
export async function activateBackend(name: string): Promise<void> {
  await onBackend(name, () => undefined);
}

/** The tail of the queue of `onBackend` calls: one activation at a time. */
let activations: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` with `name` as the active tfjs backend. The check that `name` is active and the
 * call of `fn` happen in one synchronous turn, so no other caller can switch the global
 * backend in between; `fn` must therefore be synchronous (make its tensors, not await them).
 * Calls are queued: two layers on different backends that run concurrently would otherwise
 * keep switching the backend under each other (each `setBackend` resolves a turn later).
 */
export function onBackend<T>(name: string, fn: () => T): Promise<T> {
  const result = activations.then(() => activateThenCall(name, fn));
  activations = result.catch(() => undefined);
  return result;
}

async function activateThenCall<T>(name: string, fn: () => T): Promise<T> {
  if (tf.findBackendFactory(name) === null) {
    throw new Error(
      `Cannot use the tfjs backend "${name}": it is not registered (registered: ` +
        `${tf.engine().backendNames().map((n) => `"${n}"`).join(", ")})`,
    );
  }
  // Code outside this queue may switch the backend between our setBackend and our turn.
  for (let attempt = 0; attempt < 8; attempt++) {
    if (isActive(name)) return fn();
    let ok: boolean;
    try {
      ok = await tf.setBackend(name);
    } catch (error) {
      throw new Error(`Cannot initialise the tfjs backend "${name}": ${messageOf(error)}`);
    }
    if (!ok) {
      throw new Error(
        `Cannot initialise the tfjs backend "${name}": tf.setBackend("${name}") resolved ` +
          `false (tfjs would fall back to another backend on the next op)`,
      );
    }
    if (isActive(name)) return fn();
  }
  throw new Error(
    `Cannot activate the tfjs backend "${name}": another caller switched the active backend ` +
      `(now "${tf.getBackend()}") on each of 8 attempts`,
  );
}

/**
 * Whether `spec` is a plain 1x1 convolution: kernel 1x1, stride 1, no padding, so that the
 * input reshaped is already the matmul route's patch matrix (no slicing at all).
 */
export function isPointwise(spec: CondConvSpec): boolean {
  const [kh, kw] = pair(spec.kernelSize);
  const [sh, sw] = pair(spec.stride);
  const p = spec.padding;
  // "same" pads nothing for a 1x1 kernel at stride 1
  const unpadded = p === "valid" || p === "same" || p === 0 ||
    (Array.isArray(p) && p[0] === 0 && p[1] === 0);
  return kh === 1 && kw === 1 && sh === 1 && sw === 1 && unpadded;
}

/**
 * The route `prepareTfjsCondConv` takes for `spec` on `backendName` unless told otherwise:
 * - groups == inChannels: `"depthwise"`, on every backend;
 * - webgpu (and any backend not named below): `"matmul"`, for every other layer;
 * - cpu and wasm: `"matmul"` for a pointwise layer (`isPointwise`), else `"per-example"`.
 *
 * Measured with `scripts/tfjs_timing.ts` (routes interleaved, warm, fastest of 10-30 runs,
 * ms; a 2-core machine shared with other work, so medians were noisy), matmul vs
 * per-example:
 *
 * | case                                  | cpu        | wasm        | webgpu (llvmpipe) |
 * | ------------------------------------- | ---------- | ----------- | ----------------- |
 * | channels-32-48 (B 2, 3x3, 12x12)      | 346 vs 39  | 14.2 vs 1.5 | 50 vs 48          |
 * | batch-16 (B 16, 4 to 8, 3x3, 8x8)     | 45 vs 4.5  | 1.28 vs 1.06 | 31 vs 61         |
 * | groups-4-8to4 (B 2, 3x3)              | 11.9 vs 2.5| 0.31 vs 0.44| -                 |
 * | kitchen-sink (groups 2, s 2, d 2)     | 12.4 vs 15 | 1.23 vs 0.77| 24 vs 35          |
 * | effnet-b0.expand-80-480-14 (1x1)      | 40 vs 44   | 1.8 vs 3.1  | 91 vs 148         |
 * | effnet-b0.project-1152-320-7 (1x1)    | 102 vs 80  | 6.3 vs 22   | 484 vs 248        |
 *
 * tfjs-cpu's `Slice` of a non-contiguous window is a per-element JS loop (206 of the
 * 240 ms of a channels-32-48 run went to the 9 im2col slices), so on cpu the per-example
 * `conv2d` loop is the honest winner whenever slicing is needed; wasm's XNNPACK `conv2d`
 * also beats its own im2col there. On webgpu the batched matmul wins or ties, and a JS loop
 * over the batch costs one more dispatch per example. For depthwise layers the batch-folded
 * `depthwiseConv2d` beats both by 10-100x everywhere (effnet-b0.dw5-672-14, fastest ms,
 * depthwise / matmul / per-example: cpu 81 / 8558 / 677, wasm 2.7 / 60 / 430, webgpu 92 /
 * 1651 / 7666).
 */
export function chooseRoute(spec: CondConvSpec, backendName: string): TfjsRoute {
  if (spec.groups === spec.inChannels) return "depthwise";
  if (backendName === "cpu" || backendName === "wasm") {
    return isPointwise(spec) ? "matmul" : "per-example";
  }
  return "matmul";
}

/**
 * Tensors mixed by the routing weights: `[(E, L)]` for `"matmul"` mixing, `E` tensors
 * `(1, L)` for `"elementwise"`.
 */
type Mixable = tf.Tensor2D[];

/** The tensors a prepared layer owns. */
type LayerTensors = {
  /**
   * `L = O * C/g * kh * kw`: `(O, C/g, kh, kw)` per expert for the `"matmul"` route,
   * `(kh, kw, C/g, O)` (HWIO) per expert for `"depthwise"` and `"per-example"`
   */
  experts: Mixable;
  /** `(1, O, 1, 1)` for a shared bias */
  bias?: tf.Tensor4D;
  /** `L = O`, for a per-expert bias */
  expertBias?: Mixable;
  /** `(E, C)` */
  routingWeight?: tf.Tensor2D;
  /** `(1, E)` */
  routingBias?: tf.Tensor2D;
};

type Pads = readonly [top: number, bottom: number, left: number, right: number];

/**
 * Pads the two spatial axes `[hAxis, hAxis + 1]` of a rank-4 tensor as PyTorch's `F.pad`
 * modes do. Every mode is a separable index map, so padding one axis after the other gives
 * the same corners as padding both at once.
 */
function padSpatial(
  x: tf.Tensor4D,
  hAxis: 1 | 2,
  pads: Pads,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const [top, bottom, left, right] = pads;
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return x;
  if (mode === "zeros" || mode === "reflect") {
    const paddings: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    paddings[hAxis] = [top, bottom];
    paddings[hAxis + 1] = [left, right];
    return mode === "zeros" ? tf.pad(x, paddings) : tf.mirrorPad(x, paddings, "reflect");
  }
  let out = x;
  for (const [axis, before, after] of [[hAxis, top, bottom], [hAxis + 1, left, right]]) {
    if (before === 0 && after === 0) continue;
    const size = out.shape[axis];
    const take = (start: number, length: number): tf.Tensor4D => {
      const begin = [0, 0, 0, 0], extent = [-1, -1, -1, -1];
      begin[axis] = start;
      extent[axis] = length;
      return tf.slice(out, begin, extent);
    };
    const parts: tf.Tensor4D[] = [];
    if (mode === "replicate") {
      const repeat = (edge: tf.Tensor4D, times: number): tf.Tensor4D => {
        const reps = [1, 1, 1, 1];
        reps[axis] = times;
        return tf.tile(edge, reps);
      };
      if (before > 0) parts.push(repeat(take(0, 1), before));
      parts.push(out);
      if (after > 0) parts.push(repeat(take(size - 1, 1), after));
    } else {
      // circular: the last `before` rows wrap to the front, the first `after` to the back
      if (before > 0) parts.push(take(size - before, before));
      parts.push(out);
      if (after > 0) parts.push(take(0, after));
    }
    out = tf.concat(parts, axis);
  }
  return out;
}

/** The explicit NHWC padding tfjs convolutions accept. */
function explicitPadding(pads: Pads): [[0, 0], [number, number], [number, number], [0, 0]] {
  return [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]];
}

/** A prepared CondConv layer on one tfjs backend. */
export class TfjsCondConv implements PreparedCondConv {
  /** `"tfjs:<backend>"` */
  readonly backend: string;
  /** the tfjs backend name, activated before every computation */
  readonly backendName: string;
  /** how this layer computes its convolution */
  readonly route: TfjsRoute;
  /** how this layer mixes its kernels */
  readonly mixing: TfjsMixing;
  readonly #spec: CondConvSpec;
  #tensors: LayerTensors | undefined;

  /** Use `prepareTfjsCondConv`, which validates and uploads. */
  constructor(
    backendName: string,
    spec: CondConvSpec,
    route: TfjsRoute,
    mixing: TfjsMixing,
    tensors: LayerTensors,
  ) {
    this.backendName = backendName;
    this.backend = `tfjs:${backendName}`;
    this.#spec = spec;
    this.route = route;
    this.mixing = mixing;
    this.#tensors = tensors;
  }

  /** Runs the layer; reads the output back with `await tensor.data()` only. */
  async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    const g = checkRunInputs(this.#spec, input, routingWeights);
    return await computeAndRead(this.backendName, g, () => {
      const tensors = this.#tensors;
      if (tensors === undefined) {
        throw new Error(`Cannot run: this ${this.backend} layer was disposed`);
      }
      return this.#compute(tensors, g, input, routingWeights);
    });
  }

  /** Releases the weight tensors; later runs throw. */
  dispose(): Promise<void> {
    const tensors = this.#tensors;
    this.#tensors = undefined;
    if (tensors) tf.dispose(Object.values(tensors).flat());
    return Promise.resolve();
  }

  #compute(
    t: LayerTensors,
    g: Geometry,
    input: Tensor,
    supplied: Float32Array | undefined,
  ): tf.Tensor4D {
    const spec = this.#spec;
    const { batch: b, numExperts: e } = g;
    const x = tf.tensor4d(input.data, [b, g.inChannels, g.inHeight, g.inWidth]);

    // r: (B, E)
    let r: tf.Tensor2D;
    if (spec.routing.kind === "supplied") {
      r = tf.tensor2d(supplied!, [b, e]);
    } else {
      const pooled = tf.mean(x, [2, 3]) as tf.Tensor2D;
      const z = tf.add<tf.Tensor2D>(
        tf.matMul(pooled, t.routingWeight!, false, true),
        t.routingBias!,
      );
      r = spec.routing.kind === "softmax"
        ? tf.softmax(tf.div<tf.Tensor2D>(z, tf.scalar(spec.routing.temperature)))
        : tf.sigmoid(z);
    }

    // K: (B, O * C/g * kh * kw), in the layout of t.experts
    const kernels = mix(r, t.experts, this.mixing);
    let y: tf.Tensor4D;
    switch (this.route) {
      case "matmul":
        y = matmulConv(x, kernels, g, spec.paddingMode);
        break;
      case "depthwise":
        y = depthwiseConv(x, kernels, g, spec.paddingMode);
        break;
      case "per-example":
        y = perExampleConv(x, kernels, g, spec.paddingMode);
        break;
    }
    if (spec.bias === "shared") {
      y = tf.add(y, t.bias!);
    } else if (spec.bias === "perExpert") {
      y = tf.add(y, tf.reshape(mix(r, t.expertBias!, this.mixing), [b, g.outChannels, 1, 1]));
    }
    return y;
  }
}

/**
 * Catches the GPU errors of one run on a WebGPU-backed tfjs backend. tfjs-webgpu never checks
 * for them: a pipeline that fails validation (e.g. more storage buffers than the device
 * allows) leaves its output buffer as it was, and the run "succeeds" with stale numbers.
 * Error scopes are a per-device stack: when runs overlap on one device, an error may be
 * reported by the other run, but it is never lost.
 */
export class GpuErrorGuard {
  readonly #device: GPUDevice;
  private constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Opens validation and out-of-memory scopes when `backend` has a GPU device. */
  static open(backend: unknown): GpuErrorGuard | undefined {
    const device = (backend as { device?: GPUDevice }).device;
    if (typeof device?.pushErrorScope !== "function") return undefined;
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    return new GpuErrorGuard(device);
  }

  /** Closes the scopes; throws an `Error` naming what the GPU reported, if anything. */
  async close(backend?: string): Promise<void> {
    const outOfMemory = await this.#device.popErrorScope();
    const validation = await this.#device.popErrorScope();
    const error = outOfMemory ?? validation;
    if (error && backend !== undefined) {
      throw new Error(
        `Cannot trust the ${backend} output: the GPU reported an error during the run: ` +
          `"${error.message}"`,
      );
    }
  }
}

/**
 * The most tensors one `tf.addN` may take. tfjs-webgpu binds every input and the output as
 * storage buffers with no chunking, and WebGPU guarantees only 8 per shader stage (the
 * default limit tfjs keeps): with 8 inputs the pipeline is invalid and the output stale.
 */
const ADDN_MAX_INPUTS = 7;

/** `tf.addN` in chunks of at most `ADDN_MAX_INPUTS`. */
function addMany(terms: tf.Tensor2D[]): tf.Tensor2D {
  while (terms.length > 1) {
    const sums: tf.Tensor2D[] = [];
    for (let i = 0; i < terms.length; i += ADDN_MAX_INPUTS) {
      const chunk = terms.slice(i, i + ADDN_MAX_INPUTS);
      sums.push(chunk.length === 1 ? chunk[0] : tf.addN(chunk));
    }
    terms = sums;
  }
  return terms[0];
}

/** `r @ W`, `(B, E) x (E, L)`, by the mixing the tensors were prepared for. */
function mix(r: tf.Tensor2D, experts: Mixable, mixing: TfjsMixing): tf.Tensor2D {
  if (mixing === "matmul") return tf.matMul(r, experts[0]);
  // elementwise: sum_e r[:, e] (B, 1) * W_e (1, L)
  const columns = tf.split(r, experts.length, 1);
  const terms = experts.map((w, e) => tf.mul<tf.Tensor2D>(columns[e], w));
  return addMany(terms);
}

/** Uploads `(E, L)` values as `Mixable` tensors for `mixing`. */
function mixable(values: tf.Tensor2D, mixing: TfjsMixing): Mixable {
  return mixing === "matmul" ? [values] : tf.split(values, values.shape[0], 0);
}

function pads(g: Geometry): Pads {
  return [g.padTop, g.padBottom, g.padLeft, g.padRight];
}

/** im2col + one batched matMul, NCHW throughout. */
function matmulConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, groups, channelsPerGroup: cg, outChannelsPerGroup: og } = g;
  const { kernelHeight: kh, kernelWidth: kw, outHeight: oh, outWidth: ow } = g;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = g;
  const xp = padSpatial(x, 2, pads(g), mode);
  let patches: tf.Tensor;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1) {
    patches = xp;
  } else {
    const slices: tf.Tensor4D[] = [];
    for (let u = 0; u < kh; u++) {
      for (let v = 0; v < kw; v++) {
        const begin = [0, 0, u * dh, v * dw];
        slices.push(
          sh === 1 && sw === 1 ? tf.slice(xp, begin, [b, g.inChannels, oh, ow]) : tf.stridedSlice(
            xp,
            begin,
            [b, g.inChannels, u * dh + (oh - 1) * sh + 1, v * dw + (ow - 1) * sw + 1],
            [1, 1, sh, sw],
          ) as tf.Tensor4D,
        );
      }
    }
    // (B, C, kh * kw, oh, ow): row (c, u, v) of each group's patch matrix
    patches = slices.length === 1 ? slices[0] : tf.stack(slices, 2);
  }
  const columns = tf.reshape(patches, [b * groups, cg * kh * kw, oh * ow]);
  const filters = tf.reshape(kernels, [b * groups, og, cg * kh * kw]);
  return tf.reshape(tf.matMul(filters, columns), [b, g.outChannels, oh, ow]);
}

/** Stride and dilation for tfjs convolutions, which reject both above 1 at once. */
function convSteps(g: Geometry): { strides: [number, number]; subsample: boolean } {
  const strided = g.strideHeight > 1 || g.strideWidth > 1;
  const dilated = g.dilationHeight > 1 || g.dilationWidth > 1;
  const subsample = strided && dilated;
  return { strides: subsample ? [1, 1] : [g.strideHeight, g.strideWidth], subsample };
}

/** Keeps every stride-th output of a stride-1 NHWC convolution. */
function subsampleNhwc(y: tf.Tensor4D, g: Geometry): tf.Tensor4D {
  const [n, , , c] = y.shape;
  return tf.stridedSlice(
    y,
    [0, 0, 0, 0],
    [n, (g.outHeight - 1) * g.strideHeight + 1, (g.outWidth - 1) * g.strideWidth + 1, c],
    [1, g.strideHeight, g.strideWidth, 1],
  ) as tf.Tensor4D;
}

/** Pads for a tfjs convolution: explicit zero padding inside it, other modes beforehand. */
function convInput(
  xNhwc: tf.Tensor4D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): { input: tf.Tensor4D; pad: ReturnType<typeof explicitPadding> | "valid" } {
  if (mode === "zeros") return { input: xNhwc, pad: explicitPadding(pads(g)) };
  return { input: padSpatial(xNhwc, 1, pads(g), mode), pad: "valid" };
}

/** One depthwiseConv2d for the whole batch, folded into the channels. */
function depthwiseConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, inChannels: c, kernelHeight: kh, kernelWidth: kw } = g;
  const multiplier = g.outChannelsPerGroup;
  // (B, C, H, W) -> (H, W, B, C) -> (1, H, W, B * C)
  const folded = tf.reshape<tf.Rank.R4>(tf.transpose(x, [2, 3, 0, 1]), [
    1,
    g.inHeight,
    g.inWidth,
    b * c,
  ]);
  // (B, kh * kw * C * m) -> (kh * kw, B, C * m) -> (kh, kw, B * C, m)
  const perTap = b === 1
    ? kernels
    : tf.transpose(tf.reshape(kernels, [b, kh * kw, c * multiplier]), [1, 0, 2]);
  const filter = tf.reshape(perTap, [kh, kw, b * c, multiplier]) as tf.Tensor4D;
  const { input, pad } = convInput(folded, g, mode);
  const { strides, subsample } = convSteps(g);
  let y = tf.depthwiseConv2d(input, filter, strides, pad, "NHWC", [
    g.dilationHeight,
    g.dilationWidth,
  ]);
  if (subsample) y = subsampleNhwc(y, g);
  // (1, oh, ow, B * O): channel (b * C + c) * m + j = b * O + o -> (B, O, oh, ow)
  return tf.transpose(tf.reshape(y, [g.outHeight, g.outWidth, b, g.outChannels]), [2, 3, 0, 1]);
}

/** One conv2d per example and group, each with that example's mixed kernel. */
function perExampleConv(
  x: tf.Tensor4D,
  kernels: tf.Tensor2D,
  g: Geometry,
  mode: CondConvSpec["paddingMode"],
): tf.Tensor4D {
  const { batch: b, groups, channelsPerGroup: cg, outChannelsPerGroup: og } = g;
  const { kernelHeight: kh, kernelWidth: kw } = g;
  const { input, pad } = convInput(tf.transpose(x, [0, 2, 3, 1]), g, mode);
  const { strides, subsample } = convSteps(g);
  const [, hp, wp] = input.shape;
  const outputs: tf.Tensor4D[] = [];
  for (let i = 0; i < b; i++) {
    // (kh, kw, C/g, O) for example i
    const filter = tf.reshape(tf.slice(kernels, [i, 0], [1, -1]), [kh, kw, cg, g.outChannels]);
    const example = tf.slice(input, [i, 0, 0, 0], [1, hp, wp, g.inChannels]);
    const parts: tf.Tensor4D[] = [];
    for (let j = 0; j < groups; j++) {
      const xg = groups === 1 ? example : tf.slice(example, [0, 0, 0, j * cg], [1, hp, wp, cg]);
      const fg = groups === 1
        ? filter
        : tf.slice(filter, [0, 0, 0, j * og], [kh, kw, cg, og]) as tf.Tensor4D;
      parts.push(
        tf.conv2d(xg, fg as tf.Tensor4D, strides, pad, "NHWC", [
          g.dilationHeight,
          g.dilationWidth,
        ]),
      );
    }
    let y = parts.length === 1 ? parts[0] : tf.concat(parts, 3);
    if (subsample) y = subsampleNhwc(y, g);
    outputs.push(y);
  }
  const y = outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
  return tf.transpose(y, [0, 3, 1, 2]);
}

/**
 * Computes an NCHW output on `backendName` inside `tf.tidy` under a GPU error guard, and
 * reads it back with `await tensor.data()` only (synchronous reads throw on WebGPU in Deno).
 */
async function computeAndRead(
  backendName: string,
  g: Geometry,
  compute: () => tf.Tensor4D,
): Promise<Tensor> {
  const backend = `tfjs:${backendName}`;
  const { output, guard } = await onBackend(backendName, () => {
    const guard = GpuErrorGuard.open(tf.backend());
    try {
      return { output: tf.tidy(compute), guard };
    } catch (error) {
      guard?.close().catch(() => undefined);
      throw error;
    }
  });
  try {
    let data;
    try {
      data = await output.data();
    } finally {
      await guard?.close(backend);
    }
    if (!(data instanceof Float32Array)) {
      throw new TypeError(`Cannot read the output back: expected float32, got ${output.dtype}`);
    }
    return { shape: [g.batch, g.outChannels, g.outHeight, g.outWidth], data };
  } finally {
    output.dispose();
  }
}

/**
 * A plain convolution of a CondConv layer's shape on one tfjs backend: one kernel shared by
 * the batch, no routing, no mixing. It is what a tfjs user writes for a static layer:
 * `depthwiseConv2d` when depthwise, one `conv2d` over the whole batch when `groups` is 1,
 * else one `conv2d` per group. The benchmark's baseline for CondConv's overhead.
 */
export class TfjsStaticConv implements PreparedCondConv {
  readonly backend: string;
  readonly #backendName: string;
  readonly #spec: CondConvSpec;
  #filter: tf.Tensor4D | undefined;
  #bias: tf.Tensor1D | undefined;

  /** Use `prepareTfjsStaticConv`. */
  constructor(backendName: string, spec: CondConvSpec, filter: tf.Tensor4D, bias?: tf.Tensor1D) {
    this.backend = `tfjs:${backendName}`;
    this.#backendName = backendName;
    this.#spec = spec;
    this.#filter = filter;
    this.#bias = bias;
  }

  /** Runs the convolution on an NCHW input. */
  async run(input: Tensor): Promise<Tensor> {
    const spec = this.#spec;
    const g = resolveGeometry(spec, input.shape);
    if (input.data.length !== g.batch * g.inChannels * g.inHeight * g.inWidth) {
      throw new RangeError(
        `Cannot run: input.data has ${input.data.length} floats for [${input.shape}]`,
      );
    }
    return await computeAndRead(this.#backendName, g, () => {
      const filter = this.#filter;
      if (filter === undefined) {
        throw new Error(`Cannot run: this ${this.backend} layer was disposed`);
      }
      const x = tf.tensor4d(input.data, [g.batch, g.inChannels, g.inHeight, g.inWidth]);
      const { input: xin, pad } = convInput(tf.transpose(x, [0, 2, 3, 1]), g, spec.paddingMode);
      const { strides, subsample } = convSteps(g);
      const dilations: [number, number] = [g.dilationHeight, g.dilationWidth];
      let y: tf.Tensor4D;
      if (g.groups === g.inChannels) {
        y = tf.depthwiseConv2d(xin, filter, strides, pad, "NHWC", dilations);
      } else if (g.groups === 1) {
        y = tf.conv2d(xin, filter, strides, pad, "NHWC", dilations);
      } else {
        const [n, hp, wp] = xin.shape;
        const { channelsPerGroup: cg, outChannelsPerGroup: og } = g;
        const parts = Array.from({ length: g.groups }, (_, j) =>
          tf.conv2d(
            tf.slice(xin, [0, 0, 0, j * cg], [n, hp, wp, cg]),
            tf.slice(filter, [0, 0, 0, j * og], [-1, -1, cg, og]),
            strides,
            pad,
            "NHWC",
            dilations,
          ));
        y = tf.concat(parts, 3);
      }
      if (subsample) y = subsampleNhwc(y, g);
      if (this.#bias) y = tf.add(y, this.#bias);
      return tf.transpose(y, [0, 3, 1, 2]);
    });
  }

  /** Releases the kernel and bias. */
  dispose(): Promise<void> {
    tf.dispose([this.#filter, this.#bias].filter((t) => t !== undefined));
    this.#filter = this.#bias = undefined;
    return Promise.resolve();
  }
}

/**
 * Uploads one kernel `(O, C/groups, kh, kw)` and bias `(O)` for a static convolution with
 * the geometry of `spec`, in the layout tfjs wants: `(kh, kw, C, O/C)` for depthwise,
 * `(kh, kw, C/groups, O)` otherwise.
 */
export async function prepareTfjsStaticConv(
  backendName: string,
  spec: CondConvSpec,
  kernel: Float32Array,
  bias?: Float32Array,
): Promise<TfjsStaticConv> {
  const [kh, kw] = pair(spec.kernelSize);
  const o = spec.outChannels, cg = spec.inChannels / spec.groups;
  if (kernel.length !== o * cg * kh * kw) {
    throw new TypeError(
      `Cannot prepare the static convolution: kernel has ${kernel.length} floats, expected ` +
        `[${o}, ${cg}, ${kh}, ${kw}]`,
    );
  }
  if (bias !== undefined && bias.length !== o) {
    throw new TypeError(
      `Cannot prepare the static convolution: bias has ${bias.length} floats, expected ${o}`,
    );
  }
  const depthwise = spec.groups === spec.inChannels;
  const tensors = await onBackend(backendName, () =>
    tf.tidy(() => {
      // (O, C/g, kh, kw) -> (kh, kw, C/g, O); depthwise: (C * m, 1, kh, kw) -> (kh, kw, C, m)
      const k = tf.transpose(tf.tensor4d(kernel, [o, cg, kh, kw]), [2, 3, 1, 0]);
      const filter = depthwise
        ? tf.reshape(k, [kh, kw, spec.inChannels, o / spec.inChannels]) as tf.Tensor4D
        : k;
      return { filter, bias: bias ? tf.tensor1d(bias) : undefined };
    }));
  return new TfjsStaticConv(backendName, spec, tensors.filter, tensors.bias);
}

/**
 * Validates `weights` and uploads them to the tfjs backend `backendName` in the layout the
 * route needs. Throws a `TypeError` for bad weights, a `RangeError` for an impossible route,
 * an `Error` when the backend cannot be activated.
 */
export async function prepareTfjsCondConv(
  backendName: string,
  spec: CondConvSpec,
  weights: CondConvWeights,
  options: TfjsPrepareOptions = {},
): Promise<TfjsCondConv> {
  checkWeights(spec, weights);
  const route = options.route ?? chooseRoute(spec, backendName);
  if (!TFJS_ROUTES.includes(route)) {
    throw new RangeError(
      `Cannot prepare: unknown route "${route}" (routes: ${TFJS_ROUTES.join(", ")})`,
    );
  }
  if (route === "depthwise" && spec.groups !== spec.inChannels) {
    throw new RangeError(
      `Cannot prepare the route "depthwise": it needs groups == inChannels, got groups ` +
        `${spec.groups} and inChannels ${spec.inChannels}`,
    );
  }
  const mixing = options.mixing ?? "matmul";
  if (mixing !== "matmul" && mixing !== "elementwise") {
    throw new RangeError(
      `Cannot prepare: unknown mixing "${mixing}" (mixings: matmul, elementwise)`,
    );
  }
  const [kh, kw] = pair(spec.kernelSize);
  const e = spec.numExperts, o = spec.outChannels, cg = spec.inChannels / spec.groups;
  const tensors = await onBackend(backendName, () =>
    tf.tidy(() => {
      const raw = tf.tensor2d(weights.expertKernels, [e, o * cg * kh * kw]);
      const experts = route === "matmul" ? raw : tf.reshape(
        tf.transpose(tf.reshape(raw, [e, o, cg, kh, kw]), [0, 3, 4, 2, 1]),
        [e, kh * kw * cg * o],
      ) as tf.Tensor2D;
      // tidy keeps what it returns and disposes the rest (the raw layout, when transposed)
      const layer: LayerTensors = { experts: mixable(experts, mixing) };
      if (spec.bias === "shared") layer.bias = tf.tensor4d(weights.bias!, [1, o, 1, 1]);
      if (spec.bias === "perExpert") {
        layer.expertBias = mixable(tf.tensor2d(weights.bias!, [e, o]), mixing);
      }
      if (spec.routing.kind !== "supplied") {
        layer.routingWeight = tf.tensor2d(weights.routingWeight!, [e, spec.inChannels]);
        layer.routingBias = tf.tensor2d(weights.routingBias!, [1, e]);
      }
      return layer;
    }));
  return new TfjsCondConv(backendName, spec, route, mixing, tensors);
}

/** What a concrete tfjs adapter adds to the shared implementation. */
export interface TfjsAdapterOptions {
  id: string;
  description: string;
  toleranceClass: ToleranceClass;
  /** the tfjs backend name, e.g. `"wasm"` */
  backendName: string;
  /** how layers mix their kernels unless a prepare option says otherwise (default matmul) */
  mixing?: TfjsMixing;
  /**
   * Called before the backend is activated; resolves to a reason when the backend cannot
   * run here (e.g. no WebGPU adapter), else to `undefined`. May set backend flags and paths.
   */
  setup?(): Promise<string | undefined>;
  /** Facts recorded with every result, read while the backend is active. */
  describe?(): Promise<Record<string, unknown>>;
  /** For a WebGPU backend: the GPU adapter it runs on, known once `setup` succeeded. */
  gpu?(): GpuSummary | undefined;
}

/** A tfjs CondConv adapter on one backend. */
export interface TfjsAdapter extends CondConvAdapter {
  /** the tfjs backend name */
  readonly backendName: string;
  prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<TfjsCondConv>;
  /** Like `prepare`, with options (a forced route). */
  prepareWith(
    spec: CondConvSpec,
    weights: CondConvWeights,
    options: TfjsPrepareOptions,
  ): Promise<TfjsCondConv>;
  resourceCounts(): TfjsResourceCounts;
}

/** Builds a tfjs adapter for one backend. */
export function createTfjsAdapter(options: TfjsAdapterOptions): TfjsAdapter {
  const { backendName } = options;
  const ensureReady = async (): Promise<void> => {
    const reason = await options.setup?.();
    if (reason !== undefined) throw new Error(`Cannot use ${options.id}: ${reason}`);
    await activateBackend(backendName);
  };
  const prepareWith = async (
    spec: CondConvSpec,
    weights: CondConvWeights,
    prepareOptions: TfjsPrepareOptions,
  ) => {
    checkWeights(spec, weights);
    await ensureReady();
    return prepareTfjsCondConv(backendName, spec, weights, {
      mixing: options.mixing,
      ...prepareOptions,
    });
  };
  return {
    id: options.id,
    description: options.description,
    toleranceClass: options.toleranceClass,
    backendName,
    async availability(): Promise<Availability> {
      try {
        const reason = await options.setup?.();
        if (reason !== undefined) return { available: false, reason };
        await activateBackend(backendName);
        const info: Record<string, unknown> = {
          tfjsVersion: tf.version_core,
          tfjsBackend: tf.getBackend(),
          mixing: options.mixing ?? "matmul",
          ...await options.describe?.(),
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
  };
}

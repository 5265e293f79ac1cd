/**
 * A plain convolution of a CondConv layer's shape on one tfjs backend: one kernel shared by
 * the batch, no routing, no mixing. It is what a tfjs user writes for a static layer:
 * `depthwiseConv2d` when depthwise, one `conv2d` over the whole batch when `groups` is 1,
 * else one `conv2d` per group. The benchmark's baseline for CondConv's overhead.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { CondConvSpec, Tensor } from "../../condconv/spec.ts";
import { pair, resolveGeometry } from "../../condconv/geometry.ts";
import type { PreparedCondConv } from "../adapter.ts";
import { computeAndRead, onBackend } from "./backend.ts";
import { convInput, groupedConv } from "./conv.ts";

/** A prepared static convolution (see the module doc). */
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
      let y = groupedConv(xin, pad, filter, g, g.groups === g.inChannels);
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

/**
 * Kernel mixing on tfjs: the mixed kernels `K = r @ W`, `(B, E) x (E, L)`, where `r` are the
 * routing weights and `W` the flattened expert kernels (or per-expert biases, `L = O`). The
 * same concept as the ONNX graph's `KernelMixing` (`condconv/formats/onnx_graph.ts`), with
 * the ops tfjs has.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * How the experts are mixed: one `"matmul"`, or `"elementwise"`, the sum of `E` broadcast
 * products `r[:, e] * W_e` (`tf.addN`, at most 7 inputs at a time: see `ADDN_MAX_INPUTS`).
 * The `expert-sum` formulation mixes convolution outputs instead of kernels, with the same
 * two choices (`mixOutputs`).
 *
 * Measured on this machine (min ms, E = 8, B = 1, L = 221184 / 38400, compute plus a
 * one-element readback): webgpu on llvmpipe matmul 2132 / 336, elementwise 38 / 19; wasm
 * matmul 3.3 / 0.64, elementwise 6.0 / 1.1; cpu matmul 17 / 8.5, elementwise 312 / 64.
 * tfjs-webgpu's matmul shaders handle K = E = 8 with a huge N badly, while the elementwise
 * form is bandwidth-bound, which suits any GPU; the CPU backends' matmul wins there.
 */
export type KernelMixing = "matmul" | "elementwise";

/** Every kernel mixing, for validation and for tests that try each. */
export const KERNEL_MIXINGS: readonly KernelMixing[] = ["matmul", "elementwise"];

/**
 * Expert tensors as the mixing wants them: `[(E, L)]` for `"matmul"`, `E` tensors `(1, L)`
 * for `"elementwise"`.
 */
export type ExpertTensors = tf.Tensor2D[];

/** Splits `(E, L)` values into `ExpertTensors` for `kernelMixing`. */
export function expertTensors(values: tf.Tensor2D, kernelMixing: KernelMixing): ExpertTensors {
  return kernelMixing === "matmul" ? [values] : tf.split(values, values.shape[0], 0);
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

/** `r @ W`, `(B, E) x (E, L)`, by the mixing the expert tensors were made for. */
export function mix(
  r: tf.Tensor2D,
  experts: ExpertTensors,
  kernelMixing: KernelMixing,
): tf.Tensor2D {
  if (kernelMixing === "matmul") return tf.matMul(r, experts[0]);
  // elementwise: sum_e r[:, e] (B, 1) * W_e (1, L)
  const columns = tf.split(r, experts.length, 1);
  const terms = experts.map((w, e) => tf.mul<tf.Tensor2D>(columns[e], w));
  return addMany(terms);
}

/**
 * Per-example mixing of expert outputs: `y[b, n] = sum_e r[b, e] * outputs[b, n, e]`, from
 * `outputs` `(B, N, E)` and `r` `(B, E)` to `(B, N)`: one batched matMul, or broadcast
 * products summed over the experts.
 */
export function mixOutputs(
  outputs: tf.Tensor3D,
  r: tf.Tensor2D,
  kernelMixing: KernelMixing,
): tf.Tensor2D {
  const [b, n, e] = outputs.shape;
  if (kernelMixing === "matmul") {
    return tf.reshape(tf.matMul(outputs, tf.reshape<tf.Rank.R3>(r, [b, e, 1])), [b, n]);
  }
  return tf.sum(tf.mul(outputs, tf.reshape(r, [b, 1, e])), 2);
}

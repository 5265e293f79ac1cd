/**
 * A tiny user layer file for tests: a 1x1 layer of two experts (identity and twice the
 * identity) with supplied routing `[0.5, 0.25]`, so that its output equals its input.
 * @module
 */
import { encodeSafetensors } from "../../condconv/formats/safetensors.ts";

/** The check input of the tiny layer, `[1, 2, 2, 2]`. */
export const TINY_INPUT = Float32Array.from({ length: 8 }, (_, i) => i - 3);
/** The supplied routing weights of the tiny layer, `[1, 2]`. */
export const TINY_ROUTING = new Float32Array([0.5, 0.25]);

/**
 * Writes the tiny layer as `<dir>/tiny.safetensors` (timm layout, check tensors included)
 * and returns its path. `y = (0.5 * I + 0.25 * 2I) x = x`.
 */
export async function writeTinyLayerFile(dir: string): Promise<string> {
  const spec = {
    inChannels: 2,
    outChannels: 2,
    kernelSize: 1,
    numExperts: 2,
    bias: "none",
    routing: { kind: "supplied" },
  };
  const kernels = new Float32Array([1, 0, 0, 1, 2, 0, 0, 2]); // expert 0: identity, 1: 2x
  const path = `${dir}/tiny.safetensors`;
  await Deno.writeFile(
    path,
    encodeSafetensors({
      weight: { dtype: "F32", shape: [2, 4], data: kernels },
      "check.input": { dtype: "F32", shape: [1, 2, 2, 2], data: TINY_INPUT },
      "check.routing": { dtype: "F32", shape: [1, 2], data: TINY_ROUTING },
      "check.output": { dtype: "F64", shape: [1, 2, 2, 2], data: Float64Array.from(TINY_INPUT) },
    }, { spec: JSON.stringify(spec), torchFloat32MaxAbsErr: "0" }),
  );
  return path;
}

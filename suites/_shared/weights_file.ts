/**
 * A user's own trained layer for `conform --weights <file>` and `bench --weights <file>`:
 * reads a safetensors file written by `scripts/export_weights.py` (or any writer following
 * `condconv/formats/user_layer.ts`), and checks adapters against the PyTorch check tensors it carries.
 * @module
 */
import { parseUserLayer, type UserLayer } from "../../condconv/formats/user_layer.ts";
import type { CheckTarget } from "./verify.ts";

export type { UserLayer, UserLayerCheck } from "../../condconv/formats/user_layer.ts";

/** A weights file that cannot be used; the message names the file and what is wrong. */
export class WeightsFileError extends Error {
  override name = "WeightsFileError";
}

/**
 * Reads and validates a user's layer from a safetensors file. Throws a `WeightsFileError`
 * (the CLIs print it without a stack and exit 2) naming the file and the tensor or metadata
 * field at fault; the original `TypeError` or `RangeError` is its `cause`.
 *
 * @example
 * ```ts ignore
 * const layer = await loadWeightsFile("my_layer.safetensors");
 * const prepared = await adapter.prepare(layer.spec, layer.weights);
 * const out = await prepared.run(layer.check!.input, layer.check!.routingWeights);
 * ```
 */
export async function loadWeightsFile(path: string): Promise<UserLayer> {
  const { state } = await Deno.permissions.query({ name: "read", path });
  if (state !== "granted") {
    throw new WeightsFileError(
      `Cannot read weights "${path}": this task may read only inside the project folder ` +
        "(its --allow-read); put the file there",
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new WeightsFileError(`Cannot load weights "${path}": file not found`);
    }
    throw new WeightsFileError(
      `Cannot load weights "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  try {
    return parseUserLayer(bytes, path);
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new WeightsFileError(error.message, { cause: error });
    }
    throw error;
  }
}

/**
 * A user's layer as a conformance target. Throws a `WeightsFileError` when the file carries
 * no check tensors to compare with.
 */
export function userLayerTarget(layer: UserLayer): CheckTarget {
  const { check } = layer;
  if (!check) {
    throw new WeightsFileError(
      `Cannot check the layer in "${layer.id}": the file has no check tensors ` +
        "(check.input, check.output); export it with scripts/export_weights.py",
    );
  }
  return {
    id: layer.id,
    spec: layer.spec,
    weights: layer.weights,
    input: check.input,
    routingWeights: check.routingWeights,
    truth: check.output,
    outputShape: check.outputShape,
    torchFloat32MaxAbsErr: check.torchFloat32MaxAbsErr,
  };
}

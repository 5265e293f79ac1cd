/**
 * A user's own trained layer for `conform --weights <file>` and `bench --weights <file>`:
 * reads a safetensors file written by `scripts/export_weights.py` (or any writer following
 * `spec/user_layer.ts`), and checks adapters against the PyTorch check tensors it carries.
 * @module
 */
import type { CondConvAdapter } from "../impls/adapter.ts";
import { parseUserLayer, type UserLayer } from "../spec/user_layer.ts";
import { compareWithTruth, toleranceFor } from "../spec/tolerance.ts";
import type { ConformResult } from "./conform.ts";

export type { UserLayer, UserLayerCheck } from "../spec/user_layer.ts";

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

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The longest one availability check, prepare or run may take. */
export const USER_LAYER_TIMEOUT_MS = 300_000;

/**
 * Checks each adapter on a user's layer against its PyTorch check tensors, one
 * `ConformResult` per adapter (case id: the layer's id), exactly as `conform` judges a golden
 * case: `toleranceFor(adapter.toleranceClass, torchFloat32MaxAbsErr)` and
 * `compareWithTruth`. An unavailable adapter is a skip with its reason; a layer without
 * check tensors gives a skip for every adapter, saying so. Never throws for an adapter's
 * fault.
 */
export async function checkUserLayer(
  adapters: readonly CondConvAdapter[],
  layer: UserLayer,
  options: { timeoutMs?: number; onResult?: (result: ConformResult) => void } = {},
): Promise<ConformResult[]> {
  const timeoutMs = options.timeoutMs ?? USER_LAYER_TIMEOUT_MS;
  const results: ConformResult[] = [];
  const emit = (result: ConformResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  for (const adapter of adapters) {
    emit(await checkOne(adapter, layer, timeoutMs));
  }
  return results;
}

async function checkOne(
  adapter: CondConvAdapter,
  layer: UserLayer,
  timeoutMs: number,
): Promise<ConformResult> {
  const base = { adapter: adapter.id, case: layer.id };
  const { check } = layer;
  if (!check) {
    return {
      ...base,
      status: "skip",
      reason: "the weights file has no check tensors (check.input, check.output): export it " +
        "with scripts/export_weights.py to compare with PyTorch",
    };
  }
  let availability;
  try {
    availability = await withTimeout(adapter.availability(), timeoutMs, "availability check");
  } catch (error) {
    return { ...base, status: "error", reason: `availability check failed: ${messageOf(error)}` };
  }
  if (!availability.available) return { ...base, status: "skip", reason: availability.reason };
  const backend = availability.backend;
  const tolerance = toleranceFor(adapter.toleranceClass, check.torchFloat32MaxAbsErr);
  const t0 = performance.now();
  let prepared;
  try {
    prepared = await withTimeout(adapter.prepare(layer.spec, layer.weights), timeoutMs, "prepare");
  } catch (error) {
    return { ...base, status: "error", backend, reason: `prepare failed: ${messageOf(error)}` };
  }
  const t1 = performance.now();
  try {
    if (prepared.backend !== backend) {
      return {
        ...base,
        status: "error",
        backend: prepared.backend,
        reason: `ran on backend "${prepared.backend}", not "${backend}" as announced`,
      };
    }
    const output = await withTimeout(
      prepared.run(check.input, check.routingWeights),
      timeoutMs,
      "run",
    );
    const runMs = performance.now() - t1;
    if (
      output.shape.join() !== check.outputShape.join() || output.data.length !== check.output.length
    ) {
      return {
        ...base,
        status: "fail",
        backend,
        reason: `output shape [${output.shape}] (${output.data.length} values), expected ` +
          `[${check.outputShape}]`,
      };
    }
    const comparison = compareWithTruth(output.data, check.output, tolerance);
    const result: ConformResult = {
      ...base,
      status: comparison.pass ? "pass" : "fail",
      maxAbsErr: comparison.maxAbsErr,
      maxRelErr: comparison.maxRelErr,
      worstRatio: comparison.worstRatio,
      atol: tolerance.atol,
      rtol: tolerance.rtol,
      torchFloat32MaxAbsErr: check.torchFloat32MaxAbsErr,
      backend,
      prepareMs: t1 - t0,
      runMs,
    };
    if (!comparison.pass) {
      const i = comparison.worstIndex;
      result.reason = comparison.nonFiniteMismatches > 0
        ? `${comparison.nonFiniteMismatches} values non-finite where the truth is not ` +
          `(first at index ${i}: ${output.data[i]} vs ${check.output[i]})`
        : `worst element ${i}: ${output.data[i]} vs truth ${check.output[i]}, ` +
          `${comparison.worstRatio.toFixed(2)}x the tolerance`;
    }
    return result;
  } catch (error) {
    return { ...base, status: "error", backend, reason: `run failed: ${messageOf(error)}` };
  } finally {
    await withTimeout(prepared.dispose(), timeoutMs, "dispose").catch(() => {});
  }
}

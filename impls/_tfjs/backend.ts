/**
 * One tfjs backend at a time: tfjs has one global engine with one active backend, and the
 * three tfjs adapters share it. A prepared layer records its backend, and every call that makes
 * tensors first activates that backend and checks, in the same synchronous turn as the
 * computation, that it really is the active one (`onBackend`). `tf.setBackend` resolves
 * `false` when a backend fails to initialise, and the engine then falls back to the best other
 * backend on the next op: that is reported as an error here, never computed.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Tensor } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { GpuErrorGuard } from "./gpu_error_guard.ts";

/** The message of a thrown value, for reasons and error texts. */
export function messageOf(error: unknown): string {
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
 * Computes an NCHW output on `backendName` inside `tf.tidy` under a GPU error guard, and
 * reads it back with `await tensor.data()` only (synchronous reads throw on WebGPU in Deno).
 */
export async function computeAndRead(
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

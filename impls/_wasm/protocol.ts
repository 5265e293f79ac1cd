/**
 * The control words and messages between `impls/wasm.ts` and `impls/_wasm/worker.ts`.
 *
 * The control words are an `Int32Array` inside the layer's shared `WebAssembly.Memory`, at a
 * fixed offset, so one memory carries the data, the plan and the synchronisation.
 * @module
 */

/** Indices of the control words. */
export const CTRL = {
  /** bumped by the main thread for every command */
  generation: 0,
  /** one of `WASM_COMMAND` */
  command: 1,
  /** byte offset of the job's plan */
  plan: 2,
  /** phase one and phase two units of the job */
  unitsOne: 3,
  unitsTwo: 4,
  /** next phase-one unit to claim, and units done per phase (reset by the main thread) */
  nextOne: 5,
  doneOne: 6,
  doneTwo: 8,
  /** workers that have left the job (reset by the main thread) */
  checkedIn: 9,
  /** the generation of the last finished job */
  finished: 10,
  /** 1 when a unit failed */
  error: 11,
  /** 0: the main thread awaits `finished` with `Atomics.waitAsync`; 1: a `finished` message */
  completion: 12,
  /** from here, one word per thread: the next unit of its phase-two range (see `job.ts`) */
  queues: 16,
} as const;

/**
 * Control words of a layer computed on `threads` threads (a multiple of 4, so what follows
 * stays 16-byte aligned).
 */
export function ctrlWords(threads: number): number {
  return CTRL.queues + Math.ceil(threads / 4) * 4;
}

/** Commands through `CTRL.command`. */
export const WASM_COMMAND = { run: 1, exit: 2 } as const;

/** Main thread to worker, once: what to instantiate and where the control words are. */
export interface WasmStartMessage {
  type: "start";
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** byte offset of the control words */
  ctrl: number;
  /** this worker's index (its scratch and its phase-two range) */
  worker: number;
  /** threads computing the layer's jobs: the workers and the thread that calls `run` */
  threads: number;
}

/** Worker to main thread. */
export type WasmWorkerMessage =
  | { type: "ready" }
  | { type: "finished"; generation: number }
  | { type: "error"; message: string };

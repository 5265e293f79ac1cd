/**
 * The messages and shared control words between `impls/ts.ts` and `impls/_ts/worker.ts`.
 * @module
 */
import type { TsBuffers, TsPlan } from "./plan.ts";

/** Indices into the control `Int32Array` (see `worker.ts` for the protocol). */
export const CTRL = {
  /** bumped by the main thread for every command */
  generation: 0,
  /** one of `TS_COMMAND` */
  command: 1,
  /** examples in the current job */
  batch: 2,
  /** workers that have left the current job (the main thread resets it to 0) */
  checkedIn: 3,
  /** the generation of the last finished job (the main thread waits on it) */
  finished: 4,
  /** 1 when a unit of the current job failed */
  error: 5,
  /** the next phase 1 unit to claim */
  phaseOneNext: 6,
  /** phase 1 units done */
  phaseOneDone: 7,
  /** the next phase 2 unit to claim */
  phaseTwoNext: 8,
  /** phase 2 units done */
  phaseTwoDone: 9,
  /** how the main thread learns that a job finished: one of `TS_COMPLETION` */
  completion: 10,
} as const;

/** Number of control words. */
export const CTRL_LENGTH = 11;

/**
 * How the main thread learns that a job finished: `atomics` awaits `CTRL.finished` with
 * `Atomics.waitAsync`, stored by whoever completes the last unit (workers may still be
 * checking in, which the next job waits for); `message` awaits a `finished` message from the
 * last worker to check in.
 */
export const TS_COMPLETION = { atomics: 0, message: 1 } as const;

/** Commands the main thread gives through `CTRL.command`. */
export const TS_COMMAND = { run: 1, yield: 2, exit: 3 } as const;

/** Main thread to worker: a new plan and buffers, and the generation to serve from. */
export interface TsConfigureMessage {
  type: "configure";
  plan: TsPlan;
  buffers: TsBuffers;
  ctrl: Int32Array;
  /** workers serving the layer */
  count: number;
  generation: number;
}

/** Worker to main thread. */
export type TsWorkerMessage =
  | { type: "ready" }
  | { type: "configured" }
  | { type: "finished"; generation: number }
  | { type: "error"; message: string };

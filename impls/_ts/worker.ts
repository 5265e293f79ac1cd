/**
 * A worker of the `ts` adapter: claims and runs units of every job the main thread starts
 * through shared memory. Started by `impls/ts.ts` with
 * `new Worker(new URL("./worker.ts", import.meta.url), { type: "module" })`.
 *
 * Protocol (control words in `CTRL`, an `Int32Array` over a `SharedArrayBuffer`):
 * 1. on load the worker posts `{ type: "ready" }`;
 * 2. a `configure` message brings the plan, the shared buffers and the generation to start
 *    from; the worker builds its slice, posts `{ type: "configured" }` and serves: it blocks
 *    in `Atomics.wait` until `CTRL.generation` changes, then reads `CTRL.command`:
 *    - `run`: claims units of the `CTRL.batch`-example job from the phase counters until none
 *      is left (`TsSlice.run`), then checks in (`CTRL.checkedIn`). With `atomics`
 *      completion whoever completes the last unit stores the generation in `CTRL.finished`
 *      and notifies it, and the last to check in notifies `CTRL.checkedIn`; with `message`
 *      completion the last to check in stores `CTRL.finished` and posts `{ type: "finished" }`.
 *      A failing unit sets `CTRL.error`; the worker posts `{ type: "error" }` before it
 *      checks in.
 *    - `yield`: returns to the event loop, where the next `configure` message waits;
 *    - `exit`: returns for good (the main thread then terminates the worker).
 * @module
 */
import type { TsSchedule } from "./schedule.ts";
import { TsSlice } from "./slice.ts";
import {
  CTRL,
  TS_COMMAND,
  TS_COMPLETION,
  type TsConfigureMessage,
  type TsWorkerMessage,
} from "./protocol.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<TsConfigureMessage>) => void) | null;
  postMessage(message: TsWorkerMessage): void;
}

const scope = globalThis as unknown as WorkerScope;

/** Units handed out by atomic counters in shared memory. */
class SharedSchedule implements TsSchedule {
  /** the generation of the job being served */
  generation = 0;
  readonly #ctrl: Int32Array;

  constructor(ctrl: Int32Array) {
    this.#ctrl = ctrl;
  }

  claim(phase: 1 | 2): number {
    return Atomics.add(this.#ctrl, phase === 1 ? CTRL.phaseOneNext : CTRL.phaseTwoNext, 1);
  }

  complete(phase: 1 | 2, total: number): void {
    const ctrl = this.#ctrl;
    const word = phase === 1 ? CTRL.phaseOneDone : CTRL.phaseTwoDone;
    if (Atomics.add(ctrl, word, 1) + 1 !== total) return;
    if (phase === 1) Atomics.notify(ctrl, word);
    else if (Atomics.load(ctrl, CTRL.completion) === TS_COMPLETION.atomics) {
      Atomics.store(ctrl, CTRL.finished, this.generation);
      Atomics.notify(ctrl, CTRL.finished);
    }
  }

  awaitPhaseOne(total: number): void {
    const ctrl = this.#ctrl;
    for (let done = Atomics.load(ctrl, CTRL.phaseOneDone); done < total;) {
      Atomics.wait(ctrl, CTRL.phaseOneDone, done);
      done = Atomics.load(ctrl, CTRL.phaseOneDone);
    }
  }

  fail(): void {
    Atomics.store(this.#ctrl, CTRL.error, 1);
  }
}

function serve(slice: TsSlice, ctrl: Int32Array, count: number, from: number): void {
  const schedule = new SharedSchedule(ctrl);
  let seen = from;
  for (;;) {
    Atomics.wait(ctrl, CTRL.generation, seen);
    seen = Atomics.load(ctrl, CTRL.generation);
    if (Atomics.load(ctrl, CTRL.command) !== TS_COMMAND.run) return;
    schedule.generation = seen;
    try {
      slice.run(Atomics.load(ctrl, CTRL.batch), schedule);
    } catch (error) {
      schedule.fail();
      scope.postMessage({
        type: "error",
        message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
    if (Atomics.add(ctrl, CTRL.checkedIn, 1) === count - 1) {
      if (Atomics.load(ctrl, CTRL.completion) === TS_COMPLETION.message) {
        Atomics.store(ctrl, CTRL.finished, seen);
        scope.postMessage({ type: "finished", generation: seen });
      } else {
        Atomics.notify(ctrl, CTRL.checkedIn);
      }
    }
  }
}

// Only inside a worker: imported anywhere else (a test runner given every file) it does nothing.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function") {
  scope.onmessage = (event) => {
    const message = event.data;
    const slice = new TsSlice(message.plan, message.buffers);
    scope.postMessage({ type: "configured" });
    serve(slice, message.ctrl, message.count, message.generation);
  };
  scope.postMessage({ type: "ready" });
}

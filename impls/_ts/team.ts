/**
 * The worker team of a `ts` layer with more than one thread: starts the workers, hands them
 * plans and buffers, runs jobs through the shared control words of `protocol.ts`, and stops
 * them. See `worker.ts` for the other side of the protocol.
 * @module
 */
import type { TsBuffers, TsPlan } from "./plan.ts";
import {
  CTRL,
  CTRL_LENGTH,
  TS_COMMAND,
  TS_COMPLETION,
  type TsConfigureMessage,
  type TsWorkerMessage,
} from "./protocol.ts";

/** How the main thread learns that a job finished (see `TS_COMPLETION`). */
export type TsCompletion = keyof typeof TS_COMPLETION;

/** Control words every job starts from 0. */
const JOB_WORDS = [
  CTRL.checkedIn,
  CTRL.error,
  CTRL.phaseOneNext,
  CTRL.phaseOneDone,
  CTRL.phaseTwoNext,
  CTRL.phaseTwoDone,
] as const;

/** Live-worker bookkeeping of one adapter instance. */
export interface WorkerCounter {
  live: number;
}

/** `n` workers serving one prepared layer. */
export class WorkerTeam {
  readonly count: number;
  readonly ctrl: Int32Array;
  #workers: Worker[] = [];
  #counter: WorkerCounter;
  #waiting?: { type: TsWorkerMessage["type"]; remaining: number; resolve: () => void };
  #errors: string[] = [];
  #errorWaiter?: () => void;
  #finishedWaiter?: { generation: number; resolve: () => void };
  #crash?: Error;
  #crashed: Promise<never>;
  /** rejecters of the waits in flight, called when a worker crashes (see `#orCrash`) */
  #crashWaiters = new Set<(error: Error) => void>();
  #fail!: (error: Error) => void;
  #configured = false;
  #closed = false;

  private constructor(count: number, counter: WorkerCounter, completion: TsCompletion) {
    this.count = count;
    this.#counter = counter;
    this.ctrl = new Int32Array(new SharedArrayBuffer(CTRL_LENGTH * 4));
    this.ctrl[CTRL.completion] = TS_COMPLETION[completion];
    // no job is in flight: every worker has checked in
    this.ctrl[CTRL.checkedIn] = count;
    this.#crashed = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    this.#crashed.catch(() => {});
  }

  /** Starts `count` workers and waits until each has loaded. */
  static async start(
    count: number,
    counter: WorkerCounter,
    completion: TsCompletion,
    workerUrl: string | URL = new URL("./worker.ts", import.meta.url),
  ): Promise<WorkerTeam> {
    const team = new WorkerTeam(count, counter, completion);
    const ready = team.#expect("ready");
    for (let i = 0; i < count; i++) {
      const worker = new Worker(workerUrl, { type: "module" });
      counter.live++;
      team.#workers.push(worker);
      worker.onmessage = (event: MessageEvent<TsWorkerMessage>) => team.#receive(event.data);
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        team.#crashWith(`worker ${i} failed: ${event.message}`);
      };
      worker.onmessageerror = () => team.#crashWith(`worker ${i} received an unreadable message`);
    }
    try {
      await team.#orCrash(ready);
    } catch (error) {
      team.close();
      throw error;
    }
    return team;
  }

  #crashWith(reason: string): void {
    if (this.#crash) return;
    this.#crash = new Error(`Cannot run the ts layer: ${reason}`);
    this.#fail(this.#crash);
    for (const reject of this.#crashWaiters) reject(this.#crash);
    this.#crashWaiters.clear();
  }

  /**
   * `promise`, or the crash if a worker fails first. Not `Promise.race` with `#crashed`:
   * every race leaves a reaction on that never-settling promise (about 0.5 KB a run, kept
   * until dispose: the soak's heap figures grew linearly).
   */
  #orCrash<T>(promise: Promise<T>): Promise<T> {
    if (this.#crash) return Promise.reject(this.#crash);
    return new Promise<T>((resolve, reject) => {
      this.#crashWaiters.add(reject);
      promise.then(resolve, reject).finally(() => this.#crashWaiters.delete(reject));
    });
  }

  #receive(message: TsWorkerMessage): void {
    if (message.type === "error") {
      this.#errors.push(message.message);
      this.#errorWaiter?.();
      return;
    }
    if (message.type === "finished") {
      if (this.#finishedWaiter?.generation === message.generation) this.#finishedWaiter.resolve();
      return;
    }
    const waiting = this.#waiting;
    if (waiting && waiting.type === message.type && --waiting.remaining === 0) {
      this.#waiting = undefined;
      waiting.resolve();
    }
  }

  #expect(type: TsWorkerMessage["type"]): Promise<void> {
    return new Promise((resolve) => {
      this.#waiting = { type, remaining: this.count, resolve };
    });
  }

  /** Waits until every worker has left the last job (they may outlive its last unit). */
  async #settle(): Promise<void> {
    const ctrl = this.ctrl;
    for (let n = Atomics.load(ctrl, CTRL.checkedIn); n < this.count;) {
      const wait = Atomics.waitAsync(ctrl, CTRL.checkedIn, n);
      if (wait.async) await this.#orCrash(wait.value);
      n = Atomics.load(ctrl, CTRL.checkedIn);
    }
  }

  /** Gives every worker a new plan and buffers; resolves once all have built their slices. */
  async configure(plan: TsPlan, buffers: TsBuffers): Promise<void> {
    if (this.#crash) throw this.#crash;
    await this.#settle();
    const ctrl = this.ctrl;
    if (this.#configured) {
      // send the workers back to their event loops, where the configure message waits
      Atomics.store(ctrl, CTRL.command, TS_COMMAND.yield);
      Atomics.add(ctrl, CTRL.generation, 1);
      Atomics.notify(ctrl, CTRL.generation);
    }
    const configured = this.#expect("configured");
    const generation = Atomics.load(ctrl, CTRL.generation);
    const message: TsConfigureMessage = {
      type: "configure",
      plan,
      buffers,
      ctrl,
      count: this.count,
      generation,
    };
    for (const worker of this.#workers) worker.postMessage(message);
    await this.#orCrash(configured);
    this.#configured = true;
  }

  /**
   * Runs one job of `batch` examples on every worker; `meanwhile` runs on this thread once
   * the workers are woken, before the wait.
   */
  async run(batch: number, meanwhile?: () => void): Promise<void> {
    if (this.#crash) throw this.#crash;
    await this.#settle();
    const ctrl = this.ctrl;
    const before = Atomics.load(ctrl, CTRL.finished);
    for (const word of JOB_WORDS) Atomics.store(ctrl, word, 0);
    Atomics.store(ctrl, CTRL.batch, batch);
    Atomics.store(ctrl, CTRL.command, TS_COMMAND.run);
    const generation = Atomics.load(ctrl, CTRL.generation) + 1;
    let finished: Promise<void> | undefined;
    if (ctrl[CTRL.completion] === TS_COMPLETION.message) {
      finished = new Promise((resolve) => this.#finishedWaiter = { generation, resolve });
    }
    Atomics.store(ctrl, CTRL.generation, generation);
    Atomics.notify(ctrl, CTRL.generation);
    meanwhile?.();
    if (finished) {
      await this.#orCrash(finished);
      this.#finishedWaiter = undefined;
    }
    while (Atomics.load(ctrl, CTRL.finished) !== generation) {
      const wait = Atomics.waitAsync(ctrl, CTRL.finished, before);
      if (wait.async) await this.#orCrash(wait.value);
    }
    if (Atomics.load(ctrl, CTRL.error) !== 0) {
      // the failing worker posts its message before it checks in
      await this.#settle();
      if (this.#errors.length === 0) {
        await this.#orCrash(new Promise<void>((resolve) => this.#errorWaiter = resolve));
        this.#errorWaiter = undefined;
      }
      const messages = this.#errors.splice(0);
      throw new Error(`Cannot run the ts layer: a worker failed: ${messages.join("; ")}`);
    }
  }

  /** Stops and terminates every worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.ctrl, CTRL.command, TS_COMMAND.exit);
    Atomics.add(this.ctrl, CTRL.generation, 1);
    Atomics.notify(this.ctrl, CTRL.generation);
    for (const worker of this.#workers) {
      worker.terminate();
      this.#counter.live--;
    }
    this.#workers = [];
  }
}

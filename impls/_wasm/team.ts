/**
 * The threads of one `wasm` layer: `threads - 1` workers, each with the kernels instantiated
 * on the layer's shared `WebAssembly.Memory`, and the thread that calls `run`, which takes
 * its part in every job too (`job.ts`) with its own instance on the same memory. Jobs start
 * and finish through control words in that memory (see `worker.ts` for the protocol).
 * @module
 */
import { CTRL, ctrlWords, WASM_COMMAND, type WasmWorkerMessage } from "./protocol.ts";
import { JobPart, type Kernels, resetQueues } from "./job.ts";

/** Live-worker bookkeeping shared by an adapter's layers. */
export interface WorkerCounter {
  live: number;
}

/** Control words every job starts from 0. */
const JOB_WORDS = [
  CTRL.nextOne,
  CTRL.doneOne,
  CTRL.doneTwo,
  CTRL.checkedIn,
  CTRL.error,
] as const;

/** How long a calling thread that may not block spins for the others' last units. */
const SPIN_MS = 0.2;

/**
 * Whether this thread may block in `Atomics.wait` (Deno's main thread and workers may, a
 * page's main thread may not: there it throws).
 */
const CAN_BLOCK = (() => {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
})();

/** `threads - 1` workers and the calling thread on one memory. */
export class WasmTeam {
  /** threads computing each job: the workers and the thread that calls `run` */
  readonly threads: number;
  /** worker threads */
  readonly count: number;
  #kernels: Kernels;
  #ctrl: Int32Array;
  #workers: Worker[] = [];
  #counter: WorkerCounter;
  #errors: string[] = [];
  #listeners = new Set<() => void>();
  #crash?: Error;
  #ready = 0;
  #finishedGeneration = -1;
  #closed = false;

  private constructor(
    threads: number,
    counter: WorkerCounter,
    ctrl: Int32Array,
    kernels: Kernels,
  ) {
    this.threads = threads;
    this.count = threads - 1;
    this.#counter = counter;
    this.#ctrl = ctrl;
    this.#kernels = kernels;
  }

  /**
   * Starts `threads - 1` workers on `memory` (control words at byte `ctrlAt`) and waits until
   * they are ready; `kernels` is the calling thread's own instance on `memory`.
   */
  static async start(
    threads: number,
    counter: WorkerCounter,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    kernels: Kernels,
    ctrlAt: number,
    completion: "atomics" | "message",
    workerUrl: string | URL = new URL("./worker.ts", import.meta.url),
  ): Promise<WasmTeam> {
    const ctrl = new Int32Array(memory.buffer, ctrlAt, ctrlWords(threads));
    ctrl.fill(0);
    ctrl[CTRL.completion] = completion === "atomics" ? 0 : 1;
    ctrl[CTRL.checkedIn] = threads - 1;
    const team = new WasmTeam(threads, counter, ctrl, kernels);
    const count = threads - 1;
    for (let i = 0; i < count; i++) {
      const worker = new Worker(workerUrl, { type: "module" });
      counter.live++;
      team.#workers.push(worker);
      worker.onmessage = (event: MessageEvent<WasmWorkerMessage>) => team.#receive(event.data);
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        team.#fail(`worker ${i} failed: ${event.message}`);
      };
      worker.onmessageerror = () => team.#fail(`worker ${i} received an unreadable message`);
      worker.postMessage({ type: "start", module, memory, ctrl: ctrlAt, worker: i, threads });
    }
    try {
      await team.#until(() => team.#ready === count);
    } catch (error) {
      team.close();
      throw error;
    }
    return team;
  }

  #receive(message: WasmWorkerMessage): void {
    if (message.type === "ready") this.#ready++;
    else if (message.type === "finished") this.#finishedGeneration = message.generation;
    else if (this.#ready < this.count) this.#fail(`a worker could not start: ${message.message}`);
    else this.#errors.push(message.message);
    for (const listener of this.#listeners) listener();
  }

  #fail(reason: string): void {
    this.#crash ??= new Error(`Cannot run the wasm layer: ${reason}`);
    for (const listener of this.#listeners) listener();
  }

  /** Resolves when `condition` holds after a message, rejects when a worker crashes. */
  #until(condition: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#crash) reject(this.#crash);
        else if (condition()) resolve();
        else return;
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }

  /** Waits until `ctrl[index]` differs from `value`, or a worker crashes. */
  async #waitWord(index: number, value: number): Promise<void> {
    const ctrl = this.#ctrl;
    while (Atomics.load(ctrl, index) === value) {
      if (this.#crash) throw this.#crash;
      if (typeof Atomics.waitAsync !== "function") {
        // no Atomics.waitAsync (Firefox): poll once per event-loop turn
        await new Promise((resolve) => setTimeout(resolve, 0));
        continue;
      }
      const wait = Atomics.waitAsync(ctrl, index, value, 1000);
      if (wait.async) await wait.value;
    }
  }

  /** Waits until every worker has left the last job. */
  async #settle(): Promise<void> {
    for (let n = Atomics.load(this.#ctrl, CTRL.checkedIn); n < this.count;) {
      await this.#waitWord(CTRL.checkedIn, n);
      n = Atomics.load(this.#ctrl, CTRL.checkedIn);
    }
  }

  /**
   * Runs one job (plan at byte `plan`, the given units) on every thread: wakes the workers,
   * takes this thread's part (its own phase-two range first), then waits for the others.
   */
  async run(plan: number, unitsOne: number, unitsTwo: number): Promise<void> {
    if (this.#crash) throw this.#crash;
    const ctrl = this.#ctrl;
    await this.#settle();
    for (const word of JOB_WORDS) Atomics.store(ctrl, word, 0);
    resetQueues(ctrl, unitsTwo, this.threads);
    Atomics.store(ctrl, CTRL.plan, plan);
    Atomics.store(ctrl, CTRL.unitsOne, unitsOne);
    Atomics.store(ctrl, CTRL.unitsTwo, unitsTwo);
    Atomics.store(ctrl, CTRL.command, WASM_COMMAND.run);
    const before = Atomics.load(ctrl, CTRL.finished);
    const generation = Atomics.load(ctrl, CTRL.generation) + 1;
    Atomics.store(ctrl, CTRL.generation, generation);
    Atomics.notify(ctrl, CTRL.generation);
    // this thread's part: the last of the threads, so the workers keep their ranges
    const part = new JobPart(this.#kernels, ctrl, this.count, this.threads);
    part.phaseOne(plan);
    // Phase one is short: wait for the units the others hold by blocking where this thread
    // may (Deno's main thread, a worker) and by spinning where it may not (a page's main
    // thread). Not Atomics.waitAsync: one on this word, notified while it was being set up,
    // was seen to never settle in Deno 2.9.6.
    while (!part.phaseOneDone()) {
      if (CAN_BLOCK) Atomics.wait(ctrl, CTRL.doneOne, Atomics.load(ctrl, CTRL.doneOne), 1);
    }
    if (part.phaseTwo(plan)) {
      Atomics.store(ctrl, CTRL.finished, generation);
      this.#finishedGeneration = generation;
    } else if (ctrl[CTRL.completion] === 1) {
      await this.#until(() => this.#finishedGeneration === generation);
    } else if (CAN_BLOCK) {
      // the others are finishing their last units: blocking saves the event loop's wake-up
      while (Atomics.load(ctrl, CTRL.finished) !== generation) {
        Atomics.wait(ctrl, CTRL.finished, before, 1);
      }
    } else {
      // a short spin saves the event loop's wake-up (tens of microseconds, more when busy)
      const spinUntil = performance.now() + SPIN_MS;
      while (Atomics.load(ctrl, CTRL.finished) !== generation && performance.now() < spinUntil) {
        // spin
      }
      while (Atomics.load(ctrl, CTRL.finished) !== generation) {
        await this.#waitWord(CTRL.finished, before);
      }
    }
    if (Atomics.load(ctrl, CTRL.error) !== 0) {
      // a failing worker posts its message before it checks in
      await this.#settle();
      if (part.failure !== undefined) this.#errors.push(part.failure);
      await this.#until(() => this.#errors.length > 0);
      const messages = this.#errors.splice(0);
      throw new Error(`Cannot run the wasm layer: a thread failed: ${messages.join("; ")}`);
    }
  }

  /** Stops and terminates every worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    Atomics.store(this.#ctrl, CTRL.command, WASM_COMMAND.exit);
    Atomics.add(this.#ctrl, CTRL.generation, 1);
    Atomics.notify(this.#ctrl, CTRL.generation);
    for (const worker of this.#workers) {
      worker.terminate();
      this.#counter.live--;
    }
    this.#workers = [];
  }
}

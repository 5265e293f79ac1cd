/**
 * The workers of one `wasm` layer: each instantiates the kernels on the layer's shared
 * `WebAssembly.Memory`; jobs start and finish through control words in that memory (see
 * `worker.ts` for the protocol).
 * @module
 */
import { CTRL, CTRL_WORDS, WASM_COMMAND, type WasmWorkerMessage } from "./protocol.ts";

/** Live-worker bookkeeping shared by an adapter's layers. */
export interface WorkerCounter {
  live: number;
}

/** Control words every job starts from 0. */
const JOB_WORDS = [
  CTRL.nextOne,
  CTRL.doneOne,
  CTRL.nextTwo,
  CTRL.doneTwo,
  CTRL.checkedIn,
  CTRL.error,
] as const;

/** `count` workers on one memory. */
export class WasmTeam {
  readonly count: number;
  #ctrl: Int32Array;
  #workers: Worker[] = [];
  #counter: WorkerCounter;
  #errors: string[] = [];
  #listeners = new Set<() => void>();
  #crash?: Error;
  #ready = 0;
  #finishedGeneration = -1;
  #closed = false;

  private constructor(count: number, counter: WorkerCounter, ctrl: Int32Array) {
    this.count = count;
    this.#counter = counter;
    this.#ctrl = ctrl;
  }

  /** Starts `count` workers on `memory` (control words at byte `ctrlAt`); waits until ready. */
  static async start(
    count: number,
    counter: WorkerCounter,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    ctrlAt: number,
    completion: "atomics" | "message",
    workerUrl: string | URL = new URL("./worker.ts", import.meta.url),
  ): Promise<WasmTeam> {
    const ctrl = new Int32Array(memory.buffer, ctrlAt, CTRL_WORDS);
    ctrl.fill(0);
    ctrl[CTRL.completion] = completion === "atomics" ? 0 : 1;
    ctrl[CTRL.checkedIn] = count;
    const team = new WasmTeam(count, counter, ctrl);
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
      worker.postMessage({ type: "start", module, memory, ctrl: ctrlAt, worker: i, count });
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

  /** Runs one job (plan at byte `plan`, the given units) on every worker. */
  async run(plan: number, unitsOne: number, unitsTwo: number): Promise<void> {
    if (this.#crash) throw this.#crash;
    const ctrl = this.#ctrl;
    await this.#settle();
    for (const word of JOB_WORDS) Atomics.store(ctrl, word, 0);
    Atomics.store(ctrl, CTRL.plan, plan);
    Atomics.store(ctrl, CTRL.unitsOne, unitsOne);
    Atomics.store(ctrl, CTRL.unitsTwo, unitsTwo);
    Atomics.store(ctrl, CTRL.command, WASM_COMMAND.run);
    const before = Atomics.load(ctrl, CTRL.finished);
    const generation = Atomics.load(ctrl, CTRL.generation) + 1;
    Atomics.store(ctrl, CTRL.generation, generation);
    Atomics.notify(ctrl, CTRL.generation);
    if (ctrl[CTRL.completion] === 1) {
      await this.#until(() => this.#finishedGeneration === generation);
    } else {
      while (Atomics.load(ctrl, CTRL.finished) !== generation) {
        await this.#waitWord(CTRL.finished, before);
      }
    }
    if (Atomics.load(ctrl, CTRL.error) !== 0) {
      // a failing worker posts its message before it checks in
      await this.#settle();
      await this.#until(() => this.#errors.length > 0);
      const messages = this.#errors.splice(0);
      throw new Error(`Cannot run the wasm layer: a worker failed: ${messages.join("; ")}`);
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

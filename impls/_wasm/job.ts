/**
 * One thread's part in a `wasm` job: the same steps on a worker (`worker.ts`) and on the
 * thread that called `run` (`team.ts`), which computes too instead of idling until the
 * workers are done.
 *
 * Phase one units (channel means, input panels) come from one shared counter. Phase two units
 * are split into one contiguous range per thread, each with its own counter: a thread runs
 * its own range first, so from run to run it touches the same expert rows (which then stay
 * in its core's caches), then takes what is left of the others' ranges, so a thread that the
 * system deschedules holds nobody up.
 * @module
 */
import { CTRL } from "./protocol.ts";

/** The kernels' exports that a thread calls. */
export interface Kernels {
  phaseOne(plan: number, unit: number): void;
  route(plan: number, thread: number): void;
  phaseTwo(plan: number, unit: number, thread: number): void;
}

/** The first phase-two unit of thread `t` when `units` are split among `threads`. */
export function rangeStart(units: number, threads: number, t: number): number {
  return Math.floor((units * t) / threads);
}

/** Sets each thread's phase-two counter to the start of its range (before a job starts). */
export function resetQueues(ctrl: Int32Array, units: number, threads: number): void {
  for (let t = 0; t < threads; t++) {
    Atomics.store(ctrl, CTRL.queues + t, rangeStart(units, threads, t));
  }
}

/** Thread `thread` of `threads` in the job whose control words are `ctrl`. */
export class JobPart {
  /** the first failing unit's error, if any */
  failure?: string;
  readonly #kernels: Kernels;
  readonly #ctrl: Int32Array;
  readonly #thread: number;
  readonly #threads: number;

  constructor(kernels: Kernels, ctrl: Int32Array, thread: number, threads: number) {
    this.#kernels = kernels;
    this.#ctrl = ctrl;
    this.#thread = thread;
    this.#threads = threads;
  }

  #attempt(work: () => void): void {
    try {
      work();
    } catch (error) {
      Atomics.store(this.#ctrl, CTRL.error, 1);
      this.failure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
  }

  /** Runs phase-one units until none is left to claim. */
  phaseOne(plan: number): void {
    const ctrl = this.#ctrl, one = Atomics.load(ctrl, CTRL.unitsOne);
    for (
      let u = Atomics.add(ctrl, CTRL.nextOne, 1);
      u < one;
      u = Atomics.add(ctrl, CTRL.nextOne, 1)
    ) {
      this.#attempt(() => this.#kernels.phaseOne(plan, u));
      if (Atomics.add(ctrl, CTRL.doneOne, 1) + 1 === one) Atomics.notify(ctrl, CTRL.doneOne);
    }
  }

  /** Whether every phase-one unit is done. */
  phaseOneDone(): boolean {
    return Atomics.load(this.#ctrl, CTRL.doneOne) >= Atomics.load(this.#ctrl, CTRL.unitsOne);
  }

  /**
   * Runs phase-two units, its own range first, then the others' (the routing weights first,
   * once); true when this thread completed the job's last unit.
   */
  phaseTwo(plan: number): boolean {
    const ctrl = this.#ctrl, two = Atomics.load(ctrl, CTRL.unitsTwo), threads = this.#threads;
    let routed = false, last = false;
    for (let i = 0; i < threads; i++) {
      const q = (this.#thread + i) % threads, end = rangeStart(two, threads, q + 1);
      for (
        let u = Atomics.add(ctrl, CTRL.queues + q, 1);
        u < end;
        u = Atomics.add(ctrl, CTRL.queues + q, 1)
      ) {
        if (!routed) {
          this.#attempt(() => this.#kernels.route(plan, this.#thread));
          routed = true;
        }
        this.#attempt(() => this.#kernels.phaseTwo(plan, u, this.#thread));
        if (Atomics.add(ctrl, CTRL.doneTwo, 1) + 1 === two) last = true;
      }
    }
    return last;
  }
}

/**
 * How the units of a `ts` job are handed out: `TsSchedule` is the contract, `TsSerialSchedule`
 * the single-thread one (the workers' shared one is in `worker.ts`).
 * @module
 */

/**
 * Hands out the units of a job: the main thread's is a pair of counters, the workers' are
 * atomics in shared memory, so an idle worker takes what a busy or descheduled one has not.
 */
export interface TsSchedule {
  /** Claims the next unit of `phase`; any value `>= total` means none is left. */
  claim(phase: 1 | 2): number;
  /** Marks one claimed unit of `phase` done; `total` is the phase's unit count. */
  complete(phase: 1 | 2, total: number): void;
  /** Blocks until every one of the `total` units of phase 1 is done. */
  awaitPhaseOne(total: number): void;
  /** Records that a unit failed (the job still runs to its end). */
  fail(): void;
}

/** The schedule of a single thread: units in order. */
export class TsSerialSchedule implements TsSchedule {
  #next = [0, 0, 0];

  /** Starts a new job. */
  reset(): void {
    this.#next[1] = this.#next[2] = 0;
  }

  claim(phase: 1 | 2): number {
    return this.#next[phase]++;
  }

  complete(): void {}

  awaitPhaseOne(): void {}

  fail(): void {}
}

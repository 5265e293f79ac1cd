/**
 * The roofline probe's workers, seen from the main thread: start them, ask one to calibrate,
 * release some of them together on a kernel and collect their times. Web APIs only (a browser
 * page needs cross-origin isolation for `SharedArrayBuffer`).
 * @module
 */
import type { FmaKernelShape } from "./_roofline_wasm.ts";
import {
  BARRIER,
  type ProbeKernel,
  type RooflineRequest,
  type RooflineResponse,
} from "./_roofline_kernels.ts";

/** One barrier-released run: each participant's time from its release to its end. */
export interface TeamRun {
  elapsedMs: number[];
  results: number[];
}

/** Workers that run the probe's kernels, started together behind a barrier. */
export class ProbeTeam {
  readonly #workers: Worker[];
  readonly #pending: (((response: RooflineResponse) => void) | undefined)[];
  readonly #barrier: Int32Array;
  #generation = 0;

  private constructor(workers: Worker[], barrier: Int32Array) {
    this.#workers = workers;
    this.#barrier = barrier;
    this.#pending = workers.map(() => undefined);
    workers.forEach((worker, index) => {
      worker.onmessage = (event: MessageEvent<RooflineResponse>) => this.#answer(index, event.data);
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#answer(index, { type: "error", message: event.message });
      };
    });
  }

  /**
   * Starts `threads` workers; worker 0 allocates `triadFloats` floats per triad array (for the
   * one-thread run), the others `sliceFloats`.
   */
  static async start(
    threads: number,
    shape: FmaKernelShape,
    triadFloats: number,
    sliceFloats: number,
  ): Promise<ProbeTeam> {
    const control = new SharedArrayBuffer(BARRIER.words * Int32Array.BYTES_PER_ELEMENT);
    const workers = Array.from(
      { length: threads },
      () => new Worker(new URL("./_roofline_worker.ts", import.meta.url), { type: "module" }),
    );
    const team = new ProbeTeam(workers, new Int32Array(control));
    try {
      await Promise.all(workers.map((_, index) =>
        team.#request(index, {
          type: "init",
          shape,
          control,
          triadFloats: index === 0 ? triadFloats : sliceFloats,
        }, "ready")
      ));
    } catch (error) {
      team.close();
      throw error;
    }
    return team;
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Worker 0, alone, finds the work of `kernel` that takes at least `blockMs`. */
  async calibrate(kernel: ProbeKernel, blockMs: number): Promise<number> {
    const answer = await this.#request(0, { type: "calibrate", kernel, blockMs }, "calibrated");
    return answer.work;
  }

  /** Workers `0 .. participants - 1` run `work` units of `kernel`, released together. */
  async run(
    kernel: ProbeKernel,
    work: number,
    participants: number,
    triadFloats: number,
  ): Promise<TeamRun> {
    Atomics.store(this.#barrier, BARRIER.arrived, 0);
    const generation = ++this.#generation;
    const answers = await Promise.all(
      Array.from({ length: participants }, (_, index) =>
        this.#request(index, {
          type: "run",
          kernel,
          work,
          triadFloats,
          participants,
          generation,
        }, "done")),
    );
    return {
      elapsedMs: answers.map((answer) => answer.elapsedMs),
      results: answers.map((answer) => answer.result),
    };
  }

  close(): void {
    for (const worker of this.#workers) worker.terminate();
  }

  #answer(index: number, response: RooflineResponse) {
    const resolve = this.#pending[index];
    this.#pending[index] = undefined;
    resolve?.(response);
  }

  #request<T extends RooflineResponse["type"]>(
    index: number,
    request: RooflineRequest,
    expected: T,
  ): Promise<Extract<RooflineResponse, { type: T }>> {
    if (this.#pending[index]) {
      throw new RangeError(`Cannot send "${request.type}" to probe worker ${index}: it is busy`);
    }
    return new Promise((resolve, reject) => {
      this.#pending[index] = (response) => {
        if (response.type === expected) {
          resolve(response as Extract<RooflineResponse, { type: T }>);
        } else if (response.type === "error") {
          reject(new Error(`Roofline probe worker ${index} failed: ${response.message}`));
        } else {
          reject(new TypeError(`Roofline probe worker ${index} answered "${response.type}"`));
        }
      };
      this.#workers[index].postMessage(request);
    });
  }
}

/**
 * A worker of the roofline probe (`roofline.ts`): runs one kernel a fixed amount of work,
 * released together with the other workers by a barrier in shared memory. Web APIs only.
 *
 * Protocol (main thread to worker, each answered once):
 * 1. `init`: instantiate the probe module, allocate and fill the triad arrays in its own
 *    memory, warm every kernel up; answers `ready`.
 * 2. `calibrate`: alone, double the work of one kernel until it takes `blockMs`; answers
 *    `calibrated` with that work.
 * 3. `run`: check in at the barrier (`BARRIER.arrived`); the last of `participants` to arrive
 *    stores `generation` in `BARRIER.release` and notifies the others, which wait for it in
 *    `Atomics.wait`. Each then times its own run of the kernel from its release to its end
 *    and answers `done` with that time and the kernel's result.
 * @module
 */
import {
  type FmaKernelShape,
  instantiateProbe,
  type ProbeExports,
  TRIAD_VECTOR_FLOATS,
} from "./_roofline_wasm.ts";
import {
  BARRIER,
  type ProbeKernel,
  type RooflineRequest,
  type RooflineResponse,
  scalarMultiplyAdd,
  TRIAD_SCALAR,
} from "./_roofline_kernels.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<RooflineRequest>) => void) | null;
  postMessage(message: RooflineResponse): void;
}

const scope = globalThis as unknown as WorkerScope;

/** One worker's probe: the module, its triad arrays and how to run each kernel. */
class ProbeRunner {
  readonly #probe: ProbeExports;
  /** byte addresses of the triad's `a`, `b`, `c` in the module's memory */
  readonly #arrays: [number, number, number];
  /** the triad's next element */
  #cursor = 0;

  constructor(probe: ProbeExports, triadFloats: number) {
    this.#probe = probe;
    const bytes = triadFloats * 4;
    const pages = Math.ceil((3 * bytes) / 65536);
    probe.memory.grow(pages);
    this.#arrays = [0, bytes, 2 * bytes];
    const floats = new Float32Array(probe.memory.buffer);
    floats.fill(0, 0, triadFloats);
    floats.fill(1, triadFloats, 2 * triadFloats);
    floats.fill(2, 2 * triadFloats, 3 * triadFloats);
  }

  /**
   * Runs `kernel` for `work` units. The triad's unit is one element: it walks on from where
   * the last run stopped, wrapping at `triadFloats` (at most what was allocated), so that a
   * short block still streams from memory rather than from the caches.
   */
  run(kernel: ProbeKernel, work: number, triadFloats: number): number {
    if (kernel === "wasmSimd") return this.#probe.fma(work, 0.5, 1);
    if (kernel === "scalarJs") return scalarMultiplyAdd(work, 0.5, 1);
    const [a, b, c] = this.#arrays;
    let cursor = this.#cursor % triadFloats, last = cursor;
    for (let remaining = work; remaining > 0;) {
      const count = Math.min(remaining, triadFloats - cursor);
      this.#probe.triad(a + 4 * cursor, b + 4 * cursor, c + 4 * cursor, count, TRIAD_SCALAR);
      last = cursor + count - 1;
      cursor = (cursor + count) % triadFloats;
      remaining -= count;
    }
    this.#cursor = cursor;
    return new Float32Array(this.#probe.memory.buffer, a + 4 * last, 1)[0];
  }
}

let runner: ProbeRunner | undefined;
let barrier: Int32Array | undefined;
let allocatedFloats = 0;

function timed(kernel: ProbeKernel, work: number, triadFloats: number) {
  const start = performance.now();
  const result = runner!.run(kernel, work, triadFloats);
  return { elapsedMs: performance.now() - start, result };
}

async function init(shape: FmaKernelShape, control: SharedArrayBuffer, triadFloats: number) {
  runner = new ProbeRunner(await instantiateProbe(shape), triadFloats);
  barrier = new Int32Array(control);
  allocatedFloats = triadFloats;
  // Enough calls for the engine to tier the kernels up to optimized code.
  for (let call = 0; call < 40; call++) {
    runner.run("wasmSimd", 2000, 0);
    runner.run("scalarJs", 20000, 0);
    runner.run("triad", 1 << 14, triadFloats);
  }
}

function calibrate(kernel: ProbeKernel, blockMs: number, start: number) {
  let work = start;
  for (;;) {
    const { elapsedMs } = timed(kernel, work, allocatedFloats);
    if (elapsedMs >= blockMs || work >= 2 ** 30) return work;
    // Grow towards the target, at most 8x a step, at least 2x; the triad in whole vectors.
    work = Math.ceil(work * Math.min(8, Math.max(2, blockMs / Math.max(elapsedMs, 0.01))));
    if (kernel === "triad") work = Math.ceil(work / TRIAD_VECTOR_FLOATS) * TRIAD_VECTOR_FLOATS;
  }
}

function waitAtBarrier(participants: number, generation: number) {
  const control = barrier!;
  if (Atomics.add(control, BARRIER.arrived, 1) + 1 === participants) {
    Atomics.store(control, BARRIER.release, generation);
    Atomics.notify(control, BARRIER.release);
    return;
  }
  for (let seen = Atomics.load(control, BARRIER.release); seen !== generation;) {
    Atomics.wait(control, BARRIER.release, seen);
    seen = Atomics.load(control, BARRIER.release);
  }
}

scope.onmessage = async (event) => {
  const request = event.data;
  try {
    if (request.type === "init") {
      await init(request.shape, request.control, request.triadFloats);
      scope.postMessage({ type: "ready" });
    } else if (request.type === "calibrate") {
      const work = calibrate(
        request.kernel,
        request.blockMs,
        request.kernel === "triad" ? 1 << 14 : 1000,
      );
      scope.postMessage({ type: "calibrated", work });
    } else {
      if (request.triadFloats > allocatedFloats) {
        throw new RangeError(
          `Cannot run the triad on ${request.triadFloats} floats: this worker has ${allocatedFloats}`,
        );
      }
      waitAtBarrier(request.participants, request.generation);
      const { elapsedMs, result } = timed(request.kernel, request.work, request.triadFloats);
      scope.postMessage({ type: "done", elapsedMs, result });
    }
  } catch (error) {
    scope.postMessage({ type: "error", message: String((error as Error)?.stack ?? error) });
  }
};

/**
 * A worker of the `wasm` adapter: instantiates the kernels on the layer's shared memory and
 * serves jobs. Started by `impls/wasm.ts` with
 * `new Worker(new URL("./_wasm/worker.ts", import.meta.url), { type: "module" })`.
 *
 * Protocol (control words `CTRL` in the shared memory, see `protocol.ts`): after a `start`
 * message the worker instantiates the module, posts `ready` and blocks in `Atomics.wait`
 * until `CTRL.generation` changes. For `run` it takes its part in the job (`job.ts`): phase
 * one units until none is left, a wait until all are done, then phase two units. Whoever
 * completes the last phase two unit stores the generation in `CTRL.finished` and notifies it
 * (or posts `finished`); every worker then checks in. A unit that traps sets `CTRL.error` and
 * the worker posts `error` before it checks in. `exit` returns to the event loop for good.
 * @module
 */
import {
  CTRL,
  ctrlWords,
  WASM_COMMAND,
  type WasmStartMessage,
  type WasmWorkerMessage,
} from "./protocol.ts";
import { JobPart, type Kernels } from "./job.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<WasmStartMessage>) => void) | null;
  postMessage(message: WasmWorkerMessage): void;
}

const scope = globalThis as unknown as WorkerScope;

function serve(
  kernels: Kernels,
  ctrl: Int32Array,
  worker: number,
  threads: number,
  from: number,
): void {
  const workers = threads - 1;
  let seen = from;
  for (;;) {
    Atomics.wait(ctrl, CTRL.generation, seen);
    seen = Atomics.load(ctrl, CTRL.generation);
    if (Atomics.load(ctrl, CTRL.command) !== WASM_COMMAND.run) return;
    const plan = Atomics.load(ctrl, CTRL.plan);
    const part = new JobPart(kernels, ctrl, worker, threads);
    part.phaseOne(plan);
    for (let done = Atomics.load(ctrl, CTRL.doneOne); !part.phaseOneDone();) {
      Atomics.wait(ctrl, CTRL.doneOne, done);
      done = Atomics.load(ctrl, CTRL.doneOne);
    }
    if (part.phaseTwo(plan)) {
      Atomics.store(ctrl, CTRL.finished, seen);
      if (Atomics.load(ctrl, CTRL.completion) === 1) {
        scope.postMessage({ type: "finished", generation: seen });
      } else Atomics.notify(ctrl, CTRL.finished);
    }
    if (part.failure !== undefined) scope.postMessage({ type: "error", message: part.failure });
    if (Atomics.add(ctrl, CTRL.checkedIn, 1) + 1 === workers) {
      Atomics.notify(ctrl, CTRL.checkedIn);
    }
  }
}

// Only inside a worker: imported anywhere else (a test runner given every file) it does nothing.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function") {
  scope.onmessage = async (event) => {
    const { module, memory, ctrl, worker, threads } = event.data;
    try {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      const words = new Int32Array(memory.buffer, ctrl, ctrlWords(threads));
      // read before "ready": the first job may bump the generation as soon as it arrives
      const from = Atomics.load(words, CTRL.generation);
      scope.postMessage({ type: "ready" });
      serve(instance.exports as unknown as Kernels, words, worker, threads, from);
    } catch (error) {
      scope.postMessage({
        type: "error",
        message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  };
}

/**
 * A worker of the `wasm` adapter: instantiates the kernels on the layer's shared memory and
 * serves jobs. Started by `impls/wasm.ts` with
 * `new Worker(new URL("./_wasm/worker.ts", import.meta.url), { type: "module" })`.
 *
 * Protocol (control words `CTRL` in the shared memory, see `protocol.ts`): after a `start`
 * message the worker instantiates the module, posts `ready` and blocks in `Atomics.wait`
 * until `CTRL.generation` changes. For `run` it claims phase one units until none is left,
 * waits until all are done, computes the job's routing weights into its scratch, then
 * claims phase two units. Whoever completes the last phase two unit stores the generation in
 * `CTRL.finished` and notifies it (or posts `finished`); every worker then checks in. A unit
 * that traps sets `CTRL.error` and the worker posts `error` before it checks in. `exit`
 * returns to the event loop for good.
 * @module
 */
import {
  CTRL,
  CTRL_WORDS as CTRL_VIEW,
  WASM_COMMAND,
  type WasmStartMessage,
  type WasmWorkerMessage,
} from "./protocol.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent<WasmStartMessage>) => void) | null;
  postMessage(message: WasmWorkerMessage): void;
}

interface Kernels {
  phaseOne(plan: number, unit: number): void;
  route(plan: number, worker: number): void;
  phaseTwo(plan: number, unit: number, worker: number): void;
}

const scope = globalThis as unknown as WorkerScope;

function serve(
  kernels: Kernels,
  ctrl: Int32Array,
  worker: number,
  count: number,
  from: number,
): void {
  let seen = from;
  for (;;) {
    Atomics.wait(ctrl, CTRL.generation, seen);
    seen = Atomics.load(ctrl, CTRL.generation);
    if (Atomics.load(ctrl, CTRL.command) !== WASM_COMMAND.run) return;
    const plan = Atomics.load(ctrl, CTRL.plan);
    let failure: string | undefined;
    const attempt = (work: () => void) => {
      try {
        work();
      } catch (error) {
        Atomics.store(ctrl, CTRL.error, 1);
        failure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    };
    const one = Atomics.load(ctrl, CTRL.unitsOne);
    for (
      let u = Atomics.add(ctrl, CTRL.nextOne, 1);
      u < one;
      u = Atomics.add(ctrl, CTRL.nextOne, 1)
    ) {
      attempt(() => kernels.phaseOne(plan, u));
      if (Atomics.add(ctrl, CTRL.doneOne, 1) + 1 === one) Atomics.notify(ctrl, CTRL.doneOne);
    }
    for (let done = Atomics.load(ctrl, CTRL.doneOne); done < one;) {
      Atomics.wait(ctrl, CTRL.doneOne, done);
      done = Atomics.load(ctrl, CTRL.doneOne);
    }
    const two = Atomics.load(ctrl, CTRL.unitsTwo);
    let routed = false;
    for (
      let u = Atomics.add(ctrl, CTRL.nextTwo, 1);
      u < two;
      u = Atomics.add(ctrl, CTRL.nextTwo, 1)
    ) {
      if (!routed) {
        attempt(() => kernels.route(plan, worker));
        routed = true;
      }
      attempt(() => kernels.phaseTwo(plan, u, worker));
      if (Atomics.add(ctrl, CTRL.doneTwo, 1) + 1 === two) {
        Atomics.store(ctrl, CTRL.finished, seen);
        if (Atomics.load(ctrl, CTRL.completion) === 1) {
          scope.postMessage({ type: "finished", generation: seen });
        } else Atomics.notify(ctrl, CTRL.finished);
      }
    }
    if (failure !== undefined) scope.postMessage({ type: "error", message: failure });
    if (Atomics.add(ctrl, CTRL.checkedIn, 1) + 1 === count) Atomics.notify(ctrl, CTRL.checkedIn);
  }
}

// Only inside a worker: imported anywhere else (a test runner given every file) it does nothing.
if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope === "function") {
  scope.onmessage = async (event) => {
    const { module, memory, ctrl, worker, count } = event.data;
    try {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      const words = new Int32Array(memory.buffer, ctrl, CTRL_VIEW);
      // read before "ready": the first job may bump the generation as soon as it arrives
      const from = Atomics.load(words, CTRL.generation);
      scope.postMessage({ type: "ready" });
      serve(instance.exports as unknown as Kernels, words, worker, count, from);
    } catch (error) {
      scope.postMessage({
        type: "error",
        message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  };
}

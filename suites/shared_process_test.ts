/**
 * Adapters share one process (conform and bench run them one after another): loading one
 * backend must not break another. Regression test: onnxruntime-web's Emscripten glue sets
 * `global.Worker = require("worker_threads").Worker` wherever `process.versions.node`
 * exists (Deno included), after which the `ts` adapter's web workers never loaded and its
 * `prepare` waited forever (`impls/_ort/adapter.ts` now puts the web `Worker` back).
 * @module
 */
import assert from "node:assert/strict";
import { ortWasmAdapter } from "../impls/ort_wasm.ts";
import { ortWebgpuAdapter } from "../impls/ort_webgpu.ts";
import { tsAdapter } from "../impls/ts.ts";
import { CondConvSpec } from "../condconv/spec.ts";

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

Deno.test({
  name: "loading onnxruntime-web leaves globalThis.Worker alone, so ts still starts workers",
  // onnxruntime-web keeps its wasm runtime (and WebGPU device) for the process's life
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const webWorker = globalThis.Worker;
    const wasm = await ortWasmAdapter.availability();
    assert.ok(wasm.available, `ort-wasm should run everywhere: ${JSON.stringify(wasm)}`);
    assert.equal(globalThis.Worker, webWorker, "ort-wasm replaced globalThis.Worker");
    const gpu = await ortWebgpuAdapter.availability();
    if (!gpu.available) console.warn(`ort-webgpu part skipped: ${gpu.reason}`);
    assert.equal(globalThis.Worker, webWorker, "ort-webgpu replaced globalThis.Worker");

    const ts = await tsAdapter.availability();
    assert.ok(ts.available, `ts should run here: ${JSON.stringify(ts)}`);
    const spec = CondConvSpec.parse({ inChannels: 2, outChannels: 2, kernelSize: 1 });
    const prepared = await within(
      tsAdapter.prepare(spec, {
        expertKernels: new Float32Array(12).fill(1),
        bias: new Float32Array(2),
        routingWeight: new Float32Array(6),
        routingBias: new Float32Array(3),
      }),
      30_000,
      "ts prepare after onnxruntime-web loaded",
    );
    try {
      assert.equal(tsAdapter.resourceCounts().workers, tsAdapter.workers);
      const out = await prepared.run({ shape: [1, 2, 1, 1], data: new Float32Array([1, 2]) });
      // routing sigmoid(0) = 0.5 for each of 3 experts: K = 1.5 everywhere, y = 1.5 * (1 + 2)
      assert.deepEqual(Array.from(out.data), [4.5, 4.5]);
    } finally {
      await prepared.dispose();
    }
  },
});

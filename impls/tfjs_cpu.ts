/**
 * `tfjs-cpu`: CondConv on TensorFlow.js's plain JavaScript backend
 * (`@tensorflow/tfjs-backend-cpu`), single-threaded float32. See `_tfjs/adapter.ts`.
 * @module
 */
import "@tensorflow/tfjs-backend-cpu";
import { createTfjsAdapter, type TfjsAdapter } from "./_tfjs/adapter.ts";

/** The `tfjs-cpu` adapter. */
export const tfjsCpuAdapter: TfjsAdapter = createTfjsAdapter({
  id: "tfjs-cpu",
  description: "TensorFlow.js 4.22, cpu backend (plain JavaScript kernels, float32)",
  toleranceClass: "cpu",
  backendName: "cpu",
  describe: () => Promise.resolve({ kernels: "JavaScript", threads: 1 }),
});

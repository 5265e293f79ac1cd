/**
 * The three TensorFlow.js adapters, one per backend, for `impls/registry.ts`.
 * @module
 */
import type { TfjsAdapter } from "./_tfjs_condconv.ts";
import { tfjsCpuAdapter } from "./tfjs_cpu.ts";
import { tfjsWasmAdapter } from "./tfjs_wasm.ts";
import { tfjsWebGpuAdapter } from "./tfjs_webgpu.ts";

export { tfjsCpuAdapter, tfjsWasmAdapter, tfjsWebGpuAdapter };

/** `tfjs-webgpu`, `tfjs-wasm` and `tfjs-cpu`, in the order reports list them. */
export const TFJS_ADAPTERS: readonly TfjsAdapter[] = [
  tfjsWebGpuAdapter,
  tfjsWasmAdapter,
  tfjsCpuAdapter,
];

/**
 * Every adapter, listed by hand (no directory scanning). Add a line here to register one.
 *
 * Each goes through `defineAdapter` (`_contract.ts`): the spec parsed and the weights checked
 * and copied at every `prepare`, a `run` after `dispose` refused. The adapter files wrap their
 * own records too; wrapping twice changes nothing, so the list holds whatever a file exports.
 * @module
 */
import type { CondConvAdapter } from "./adapter.ts";
import { defineAdapter } from "./_contract.ts";
import { referenceAdapter } from "./reference.ts";
import { tsAdapter } from "./ts.ts";
import { ortWasmAdapter } from "./ort_wasm.ts";
import { ortWebgpuAdapter } from "./ort_webgpu.ts";
import { ortNodeAdapter } from "./ort_node.ts";
import { wgslAdapter } from "./wgsl.ts";
import { tfjsCpuAdapter } from "./tfjs_cpu.ts";
import { tfjsWasmAdapter } from "./tfjs_wasm.ts";
import { tfjsWebGpuAdapter } from "./tfjs_webgpu.ts";

/** All registered adapters, in the order reports list them. */
export const ADAPTERS: readonly CondConvAdapter[] = [
  referenceAdapter,
  tsAdapter,
  ortWasmAdapter,
  ortWebgpuAdapter,
  ortNodeAdapter,
  wgslAdapter,
  tfjsWebGpuAdapter,
  tfjsWasmAdapter,
  tfjsCpuAdapter,
].map((adapter) => defineAdapter(adapter));

/**
 * The registered adapters that can run here, in `ADAPTERS` order; `onSkip` hears each one
 * that cannot, with its reason (a test prints it: skipped, never silently dropped).
 */
export async function availableAdapters(
  onSkip: (id: string, reason: string) => void,
): Promise<CondConvAdapter[]> {
  const available: CondConvAdapter[] = [];
  for (const adapter of ADAPTERS) {
    const a = await adapter.availability();
    if (a.available) available.push(adapter);
    else onSkip(adapter.id, a.reason);
  }
  return available;
}

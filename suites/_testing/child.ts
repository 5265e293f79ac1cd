/**
 * Test helper: an isolated-conformance child with misbehaving adapters beside the reference,
 * one that kills its process mid-run, one that hangs, one that throws.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { conformChild } from "../conform/child.ts";

const misbehaving = (id: string, run: () => Promise<never>): CondConvAdapter => ({
  ...referenceAdapter,
  id,
  async prepare(spec, weights) {
    const inner = await referenceAdapter.prepare(spec, weights);
    return { backend: inner.backend, run, dispose: () => inner.dispose() };
  },
});

/** The adapters this child knows. */
export const TESTING_ADAPTERS: readonly CondConvAdapter[] = [
  referenceAdapter,
  misbehaving("crashing", () => Deno.exit(134)),
  misbehaving("hanging", () => new Promise(() => {})),
  misbehaving("throwing", () => Promise.reject(new RangeError("Cannot run: out of memory"))),
];

if (import.meta.main) await conformChild(Deno.args, TESTING_ADAPTERS);

/**
 * condconv-bench: is your CondConv right, and how fast is it, backend by backend.
 *
 * The spec, its geometry and tolerance policy, the seeded tensors the goldens are made
 * from, the adapter interface and the registered adapters. Everything exported here is
 * runtime-neutral (web APIs only) and runs in a browser page as well as in Deno.
 *
 * @example Check the reference adapter on a tiny layer
 * ```ts
 * import { CondConvSpec, referenceAdapter } from "./mod.ts";
 * const spec = CondConvSpec.parse({ inChannels: 1, outChannels: 1, kernelSize: 1, numExperts: 1, bias: "none", routing: { kind: "supplied" } });
 * const layer = await referenceAdapter.prepare(spec, { expertKernels: new Float32Array([2]) });
 * const y = await layer.run({ shape: [1, 1, 1, 1], data: new Float32Array([3]) }, new Float32Array([0.5]));
 * if (y.data[0] !== 3) throw new Error(`expected 3, got ${y.data[0]}`);
 * ```
 * @module
 */
export * from "./condconv/spec.ts";
export * from "./condconv/geometry.ts";
export * from "./condconv/tolerance.ts";
export * from "./condconv/seeded.ts";
export * from "./condconv/cases.ts";
export * from "./condconv/formats/safetensors.ts";
export * from "./condconv/formats/weight_layouts.ts";
export * from "./condconv/formats/user_layer.ts";
export * from "./impls/adapter.ts";
export { defineAdapter } from "./impls/_contract.ts";
export * from "./impls/registry.ts";
export { referenceAdapter } from "./impls/reference.ts";

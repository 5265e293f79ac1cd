/**
 * The guard every adapter goes through: `defineAdapter(raw)` returns the adapter with its
 * entry points held to the contract of `adapter.ts`, whatever its engine does.
 *
 * - `prepare`, `prepareStatic` and a framework adapter's `prepareWith` and `prepareAutotuned`
 *   parse the spec with `CondConvSpec` (strict, cross-field rules included) and check the
 *   weights against it before the engine sees them, so a spread
 *   `{ ...spec, groups: 2 }` or a raw object gets a `TypeError` naming the field, never a
 *   crash deep in a kernel or a silent NaN;
 * - they hand the engine the parsed spec and copies of the weight arrays: later changes to
 *   the caller's objects have no effect, even on a run at a new batch size that builds a new
 *   session from the weights;
 * - a layer's `run` after its `dispose` rejects with a `TypeError` on every adapter; a second
 *   `dispose` resolves as the first did;
 * - `withoutWorkarounds`, where the adapter has it, gives its variant guarded the same way, so
 *   that the registry's adapters still offer it.
 * @module
 */
import {
  CondConvSpec,
  type CondConvWeights,
  specIssueText,
  type Tensor,
} from "../condconv/spec.ts";
import { checkWeights, staticConvSpec } from "../condconv/geometry.ts";
import type { CondConvAdapter, PreparedCondConv } from "./adapter.ts";

/** Marks an adapter `defineAdapter` already guards, so wrapping twice changes nothing. */
const GUARDED = Symbol("condconv.guardedAdapter");

/**
 * Parses `spec` as `CondConvSpec`; throws a `TypeError` naming the adapter and each field at
 * fault (`spec.groups: groups (2) must divide inChannels (3)`).
 */
export function parseAdapterSpec(spec: unknown, action: string): CondConvSpec {
  const parsed = CondConvSpec.safeParse(spec);
  if (!parsed.success) throw new TypeError(`Cannot ${action}: ${specIssueText(parsed.error)}`);
  return parsed.data;
}

/** Copies of the weight arrays, after `checkWeights` has vouched for them. */
function copyWeights(weights: CondConvWeights): CondConvWeights {
  const copy: CondConvWeights = { expertKernels: weights.expertKernels.slice() };
  if (weights.bias) copy.bias = weights.bias.slice();
  if (weights.routingWeight) copy.routingWeight = weights.routingWeight.slice();
  if (weights.routingBias) copy.routingBias = weights.routingBias.slice();
  return copy;
}

/**
 * `layer` with `run` refused once `dispose` was called. Every other member (a getter such as
 * `lastGpuTimeMs`, an engine's own extras) is read from the layer itself.
 */
function guardLayer<L extends PreparedCondConv>(layer: L, id: string): L {
  let disposed: Promise<void> | undefined;
  const run = (input: Tensor, routingWeights?: Float32Array): Promise<Tensor> => {
    if (disposed) {
      return Promise.reject(
        new TypeError(`Cannot run the ${id} layer: it was disposed (prepare it again)`),
      );
    }
    return layer.run(input, routingWeights);
  };
  const dispose = (): Promise<void> => disposed ??= layer.dispose();
  return new Proxy(layer, {
    get(target, key) {
      if (key === "run") return run;
      if (key === "dispose") return dispose;
      // the layer as receiver: its getters may read private (#) fields
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Wraps an adapter record so that every entry point keeps the contract of `adapter.ts`
 * (see the module doc). Idempotent: a guarded adapter is returned as it is. Members other
 * than `prepare`, `prepareWith`, `prepareAutotuned`, `prepareStatic` and `withoutWorkarounds`
 * (whose variant is guarded too, once) are kept as they are, extras included.
 *
 * @example A spec that skipped `CondConvSpec.parse` is refused with the field named
 * ```ts
 * import { defineAdapter } from "./_contract.ts";
 * import { referenceAdapter } from "./reference.ts";
 * const adapter = defineAdapter(referenceAdapter);
 * const spec = { inChannels: 3, outChannels: 4, kernelSize: 1, groups: 2 };
 * const failed = await adapter
 *   .prepare(spec as never, { expertKernels: new Float32Array(18) })
 *   .then(() => "", (error) => String(error));
 * if (!failed.includes("spec.groups")) throw new Error(`unexpected: ${failed}`);
 * ```
 */
export function defineAdapter<A extends CondConvAdapter>(raw: A): A {
  if ((raw as { [GUARDED]?: true })[GUARDED]) return raw;
  const guarded = Object.create(
    Object.getPrototypeOf(raw),
    Object.getOwnPropertyDescriptors(raw),
  ) as A;
  const id = raw.id;
  /** The parsed spec and copies of the checked weights, as every CondConv entry point takes them. */
  const owned = (spec: CondConvSpec, weights: CondConvWeights) => {
    const parsed = parseAdapterSpec(spec, `prepare the ${id} layer`);
    if (typeof weights !== "object" || weights === null) {
      throw new TypeError(`Cannot prepare the ${id} layer: weights must be an object of tensors`);
    }
    checkWeights(parsed, weights);
    return [parsed, copyWeights(weights)] as const;
  };
  const prepare = async (spec: CondConvSpec, weights: CondConvWeights) =>
    guardLayer(await raw.prepare(...owned(spec, weights)), id);
  const members: PropertyDescriptorMap = {
    [GUARDED]: { value: true },
    prepare: { value: prepare, enumerable: true },
  };
  // The framework adapters' formulation entry points (`prepareWith(spec, weights, options)`,
  // `prepareAutotuned(spec, weights)`) are CondConv entry points too: held to the same contract.
  for (const name of ["prepareWith", "prepareAutotuned"] as const) {
    const rawEntry = (raw as unknown as Record<string, unknown>)[name];
    if (typeof rawEntry !== "function") continue;
    const entry = async (spec: CondConvSpec, weights: CondConvWeights, ...rest: unknown[]) =>
      guardLayer(await rawEntry.call(raw, ...owned(spec, weights), ...rest), id);
    members[name] = { value: entry, enumerable: true };
  }
  const rawStatic = raw.prepareStatic;
  if (rawStatic) {
    const prepareStatic = async (spec: CondConvSpec, kernel: Float32Array, bias?: Float32Array) => {
      const parsed = parseAdapterSpec(spec, `prepare the static ${id} layer`);
      const weights = bias === undefined
        ? { expertKernels: kernel }
        : { expertKernels: kernel, bias };
      checkWeights(staticConvSpec(parsed), weights);
      const layer = await rawStatic.call(raw, parsed, kernel.slice(), bias?.slice());
      return guardLayer(layer, id);
    };
    members.prepareStatic = { value: prepareStatic, enumerable: true };
  }
  const rawWithout = raw.withoutWorkarounds;
  if (rawWithout) {
    let plain: CondConvAdapter | undefined;
    const withoutWorkarounds = () => plain ??= defineAdapter(rawWithout.call(raw));
    members.withoutWorkarounds = { value: withoutWorkarounds, enumerable: true };
  }
  return Object.defineProperties(guarded, members);
}

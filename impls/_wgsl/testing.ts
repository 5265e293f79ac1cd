/**
 * Helpers of the wgsl adapter's tests (`impls/wgsl_test.ts`, `impls/wgsl_agreement_test.ts`):
 * whether a GPU is here, seeded layers, one prepared layer at a time, agreement with the
 * reference adapter.
 * @module
 */
import assert from "node:assert/strict";
import type { CondConvSpecInput } from "../../condconv/spec.ts";
import { seededLayer } from "../../condconv/seeded.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../../condconv/tolerance.ts";
import { referenceAdapter } from "../reference.ts";
import { WGSL_BACKEND, wgslAdapter } from "../wgsl.ts";
import type { ConvPath } from "./plan.ts";

/** The wgsl adapter's availability here, asked once. */
export const availability = await wgslAdapter.availability();
/** `ignore` of every test that needs a GPU adapter. */
export const ignore = !availability.available;
if (!availability.available) console.warn(`wgsl GPU tests ignored: ${availability.reason}`);

/** A test that needs a GPU adapter: ignored where none is (the reason is printed once). */
export function gpuTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, ignore, fn });
}

/** A small 3x3 layer most lifecycle tests use. */
export const small = { inChannels: 4, outChannels: 8, kernelSize: 3, padding: 1 } as const;

/** `[batch, height, width]` of an input (the channels come from the spec). */
export type InputSize = [number, number, number];

/** Seeded tensors for `spec` on `[batch, C, height, width]`, as the golden cases make them. */
export function seededCase(seed: number, spec: CondConvSpecInput, size: InputSize) {
  const [batch, height, width] = size;
  return seededLayer(seed, spec, [batch, spec.inChannels, height, width]);
}

type WgslLayer = Awaited<ReturnType<typeof wgslAdapter.prepare>>;

/** Prepares the wgsl layer of `c`, hands it to `use`, and disposes of it whatever happens. */
export async function withLayer<T>(
  c: ReturnType<typeof seededCase>,
  use: (prepared: WgslLayer) => Promise<T>,
): Promise<T> {
  const prepared = await wgslAdapter.prepare(c.spec, c.weights);
  try {
    return await use(prepared);
  } finally {
    await prepared.dispose();
  }
}

/** Runs `spec` on the wgsl and reference adapters; checks the path taken and the agreement. */
export async function assertAgrees(
  seed: number,
  spec: CondConvSpecInput,
  size: InputSize,
  path: ConvPath,
): Promise<void> {
  const c = seededCase(seed, spec, size);
  const reference = await referenceAdapter.prepare(c.spec, c.weights);
  const truth = await reference.run(c.input, c.routingWeights);
  await withLayer(c, async (prepared) => {
    assert.equal(prepared.backend, WGSL_BACKEND);
    assert.equal(prepared.convPath(c.input.shape), path);
    const output = await prepared.run(c.input, c.routingWeights);
    assert.deepEqual(output.shape, truth.shape);
    const comparison = compareWithTruth(
      output.data,
      Float64Array.from(truth.data),
      TOLERANCE_CLASSES.webgpu,
    );
    assert.ok(
      comparison.pass,
      `index ${comparison.worstIndex}: ${output.data[comparison.worstIndex]} vs ` +
        `${truth.data[comparison.worstIndex]} (${comparison.worstRatio}x the tolerance)`,
    );
  });
}

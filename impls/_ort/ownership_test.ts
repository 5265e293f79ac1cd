/**
 * `prepare` owns what it needs: the ort adapters build a model at the first run of each batch
 * (or input) size, long after `prepare`, so they must build it from their own copies of the
 * spec and weights. Issue 14 item 1: ort-wasm read the caller's arrays late.
 */
import assert from "node:assert/strict";
import { GoldenCase } from "../../condconv/cases.ts";
import { caseTensors } from "../../condconv/seeded.ts";
import type { CondConvAdapter } from "../adapter.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { ortWebgpuAdapter } from "../ort_webgpu.ts";
import { referenceAdapter } from "../reference.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

/** A 3x3 layer (a session per batch size), bias per expert, routing computed. */
function layer() {
  const c = GoldenCase.parse({
    id: "ort-ownership",
    about: "weights changed after prepare",
    seed: 5,
    input: { batch: 2, height: 5, width: 5 },
    spec: { inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1, bias: "perExpert" },
  });
  return { spec: c.spec, ...caseTensors(c) };
}

for (const adapter of [ortWasmAdapter, ortWebgpuAdapter] as CondConvAdapter[]) {
  const availability = await adapter.availability();
  Deno.test({
    name: `${adapter.id}: changing the weights after prepare has no effect at a new batch size`,
    ignore: !availability.available,
    ...sanitizers,
    async fn() {
      const c = layer();
      const reference = await referenceAdapter.prepare(c.spec, c.weights);
      const truth = await reference.run(c.input);
      await reference.dispose();
      const one = { shape: [1, 4, 5, 5], data: c.input.data.slice(0, 100) };
      const prepared = await adapter.prepare(c.spec, c.weights);
      try {
        await prepared.run(one); // the batch-1 session is built now
        for (const array of Object.values(c.weights)) (array as Float32Array).fill(0);
        (c.spec as { paddingMode: string }).paddingMode = "circular";
        const output = await prepared.run(c.input); // the batch-2 session is built now
        assert.ok(output.data.some((v) => v !== 0), "the zeroed weights were used");
        for (let i = 0; i < output.data.length; i++) {
          assert.ok(Math.abs(output.data[i] - truth.data[i]) < 1e-3, `element ${i}`);
        }
      } finally {
        await prepared.dispose();
      }
    },
  });

  Deno.test({
    name: `${adapter.id}: changing the static kernel after prepareStatic has no effect`,
    ignore: !availability.available,
    ...sanitizers,
    async fn() {
      const c = layer();
      const kernel = c.weights.expertKernels.slice(0, 4 * 4 * 9);
      const bias = c.weights.bias!.slice(0, 4);
      const prepared = await adapter.prepareStatic!(c.spec, kernel, bias);
      try {
        kernel.fill(0);
        bias.fill(0);
        const output = await prepared.run(c.input); // the session is built now
        assert.ok(output.data.some((v) => v !== 0), "the zeroed kernel was used");
      } finally {
        await prepared.dispose();
      }
    },
  });
}

Deno.test({
  name: "ort-wasm: prepare refuses a spec that was changed after parsing, naming the field",
  ...sanitizers,
  async fn() {
    const c = layer();
    const spec = { ...c.spec, inChannels: 3, groups: 2 }; // type-checks, yet invalid
    await assert.rejects(ortWasmAdapter.prepare(spec, c.weights), {
      name: "TypeError",
      message: /invalid spec[\s\S]*groups/,
    });
  },
});

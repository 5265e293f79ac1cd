/**
 * ort-webgpu's workarounds of onnxruntime-web 1.30's WebGPU Conv bug: on each cause's layer
 * the plain graph is wrong (the known-failure rule says so, with the workarounds off), and the
 * changed graph is right; and the EP that runs is the native WebGPU EP, not JSEP.
 */
import assert from "node:assert/strict";
import { GoldenCase } from "../../condconv/cases.ts";
import type { CondConvSpecInput } from "../../condconv/spec.ts";
import { caseTensors } from "../../condconv/seeded.ts";
import { compareWithTruth, TOLERANCE_CLASSES } from "../../condconv/tolerance.ts";
import { knownFailure } from "../../suites/conform/known_failures.ts";
import { createOrtWebgpuAdapter, ortWebgpuAdapter } from "../ort_webgpu.ts";
import { referenceAdapter } from "../reference.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { defineAdapter } from "../_contract.ts";

const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

Deno.test("ort-webgpu imports the native WebGPU EP's bundle, not JSEP's", async () => {
  const dir = new URL("../../node_modules/onnxruntime-web/", import.meta.url);
  const pkg = JSON.parse(await Deno.readTextFile(new URL("package.json", dir)));
  const webgpu = pkg.exports["./webgpu"].import.default;
  assert.equal(webgpu, "./dist/ort.webgpu.bundle.min.mjs");
  const bundle = await Deno.readTextFile(new URL(webgpu, dir));
  assert.match(bundle, /ort-wasm-simd-threaded\.asyncify\.wasm/);
  assert.match(bundle, /webgpuInit/);
  assert.doesNotMatch(bundle, /jsepInit|\.jsep\.wasm/);
  // the plain entry's browser bundle is the JSEP one
  const plain = await Deno.readTextFile(new URL(pkg.exports["."].import.default, dir));
  assert.match(plain, /jsepInit/);
});

const raw = createOrtWebgpuAdapter({ workarounds: false });
const availability = await ortWebgpuAdapter.availability();

Deno.test({
  name:
    "ort-webgpu's withoutWorkarounds() is its workarounds-off adapter, kept by defineAdapter; " +
    "ort-wasm has none to turn off",
  ignore: !availability.available,
  ...sanitizers,
  async fn() {
    assert.equal(ortWasmAdapter.withoutWorkarounds, undefined);
    // as the registry lists it
    const registered = defineAdapter(ortWebgpuAdapter);
    const plain = registered.withoutWorkarounds?.();
    assert.ok(plain, "the registry's ort-webgpu offers withoutWorkarounds");
    assert.equal(plain, registered.withoutWorkarounds?.(), "made once");
    assert.equal(plain.id, "ort-webgpu");
    const info = (await plain.availability() as { info: Record<string, unknown> }).info;
    assert.match(String(info.workarounds), /^off: /);
    const on = (await registered.availability() as { info: Record<string, unknown> }).info;
    assert.match(String(on.workarounds), /^on: /);
  },
});

/** One layer per cause of the bug, as the adapter's CondConv graph meets it. */
const causes: [string, CondConvSpecInput, [number, number, number]][] = [
  ["5 output channels, batch 2", { inChannels: 1, outChannels: 5, kernelSize: 3, padding: 1 }, [
    2,
    5,
    5,
  ]],
  ["6 input channels, 8 outputs", { inChannels: 6, outChannels: 8, kernelSize: 3, padding: 1 }, [
    1,
    5,
    5,
  ]],
  ["a 2x2 kernel on a 2x2 input, TF same", {
    inChannels: 2,
    outChannels: 4,
    kernelSize: 2,
    padding: "same",
  }, [1, 2, 2]],
];

for (const [name, specInput, [batch, height, width]] of causes) {
  Deno.test({
    name: `ort-webgpu workaround: ${name}: wrong under the rule without it, right with it`,
    ignore: !availability.available,
    ...sanitizers,
    async fn() {
      const c = GoldenCase.parse({
        id: "ort-workaround",
        about: name,
        seed: 3 * batch + height,
        input: { batch, height, width },
        spec: specInput,
      });
      const { spec } = c;
      const { input, weights } = caseTensors(c);
      const layer = { spec, batch, height, width };
      assert.equal(knownFailure("ort-webgpu", layer), undefined);
      assert.equal(
        knownFailure("ort-webgpu", { ...layer, workarounds: false })?.id,
        "ort-webgpu-conv",
      );
      const reference = await referenceAdapter.prepare(spec, weights);
      const truth = Float64Array.from((await reference.run(input)).data);
      for (const [adapter, right] of [[raw, false], [ortWebgpuAdapter, true]] as const) {
        const prepared = await adapter.prepare(spec, weights);
        try {
          const output = await prepared.run(input);
          const comparison = compareWithTruth(output.data, truth, TOLERANCE_CLASSES.webgpu);
          assert.equal(comparison.pass, right, `${comparison.worstRatio}x the tolerance`);
          const applied = (prepared as { workarounds?: readonly string[] }).workarounds;
          assert.equal(applied?.length, right ? 1 : 0, String(applied));
        } finally {
          await prepared.dispose();
        }
      }
    },
  });
}

/**
 * Every formulation of the ort adapters over every golden case, through the one verify path
 * (`suites/_shared/verify.ts`) and the checked fixtures (`suites/_shared/fixtures.ts`): each
 * must pass, or be refused by `formulationProblem` with its reason (`depthwise-folded` on a
 * layer that is not depthwise). Prints the counts per formulation.
 *
 * `ort-wasm` always; `ort-webgpu` (workarounds on) when `CONDCONV_TEST_ORT_WEBGPU=1`, on the
 * backend `DENO_WEBGPU_BACKEND` picks (slow on a software adapter).
 * @module
 */
import assert from "node:assert/strict";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { ortWebgpuAdapter } from "../ort_webgpu.ts";
import type { OrtAdapter } from "./adapter.ts";
import { loadFixtureSet } from "../../suites/_shared/fixtures.ts";
import { loadTargets } from "../../suites/conform/run.ts";
import { verify } from "../../suites/_shared/verify.ts";

/** `adapter` with `prepare` forced to `formulation`. */
function forced(adapter: OrtAdapter, formulation: string): OrtAdapter {
  return {
    ...adapter,
    prepare: (spec, weights) =>
      adapter.prepareWith(spec, weights, {
        formulation: formulation as OrtAdapter["formulations"][number],
      }),
  };
}

const adapters = [ortWasmAdapter];
if (Deno.env.get("CONDCONV_TEST_ORT_WEBGPU") === "1") adapters.push(ortWebgpuAdapter);

for (const adapter of adapters) {
  Deno.test(`${adapter.id}: every formulation passes every golden or is refused with the reason`, async () => {
    const availability = await adapter.availability();
    assert.ok(availability.available, !availability.available ? availability.reason : "");
    const set = await loadFixtureSet();
    const targets = await loadTargets(set, set.fixtures);
    assert.ok(targets.length >= 71, `only ${targets.length} goldens`);
    const failures: string[] = [];
    for (const formulation of adapter.formulations) {
      const counts = { pass: 0, refused: 0, other: 0 };
      for (const target of targets) {
        const problem = adapter.formulationProblem(target.spec, formulation);
        if (problem) {
          // the one refusal the ort graph has: a depthwise-only formulation
          assert.equal(formulation, "depthwise-folded", problem);
          assert.notEqual(target.spec.groups, target.spec.inChannels);
          await assert.rejects(
            adapter.prepareWith(target.spec, target.weights, { formulation }),
            (e) => e instanceof RangeError && e.message.includes("groups == inChannels"),
          );
          counts.refused++;
          continue;
        }
        const verdict = await verify(forced(adapter, formulation), availability.backend, target, {
          timeoutMs: 120_000,
        });
        if (verdict.status === "pass") counts.pass++;
        else {
          counts.other++;
          failures.push(`${formulation} ${target.id}: ${verdict.status}: ${verdict.reason}`);
        }
      }
      console.log(
        `${adapter.id} ${formulation.padEnd(16)} pass ${counts.pass}, refused ${counts.refused}, ` +
          `fail/error ${counts.other} of ${targets.length}`,
      );
    }
    assert.deepEqual(failures, []);
  });
}

Deno.test("ort-wasm: a forced formulation is recorded on the layer; a bad one is a RangeError", async () => {
  const set = await loadFixtureSet();
  const [target] = await loadTargets(set, set.fixtures.slice(0, 1));
  const layer = await ortWasmAdapter.prepareWith(target.spec, target.weights, {
    formulation: "expert-sum",
  });
  try {
    assert.equal(layer.formulation, "expert-sum");
  } finally {
    await layer.dispose();
  }
  const chosen = await ortWasmAdapter.prepare(target.spec, target.weights);
  assert.ok(ortWasmAdapter.formulations.includes(chosen.formulation as "grouped"));
  await chosen.dispose();
  await assert.rejects(
    ortWasmAdapter.prepareWith(target.spec, target.weights, {
      formulation: "im2col" as "grouped",
    }),
    (e) => e instanceof RangeError && /unknown formulation "im2col"/.test(e.message),
  );
});

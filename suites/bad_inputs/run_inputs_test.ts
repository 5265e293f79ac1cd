import assert from "node:assert/strict";
import type { PreparedCondConv } from "../../impls/adapter.ts";
import { availableAdapters } from "../../impls/registry.ts";
import { assertRejects, sanitizers } from "./entry.ts";
import {
  COMPUTED,
  COMPUTED_WEIGHTS,
  GOOD,
  RUN_INPUTS,
  type RunEntry,
  SUPPLIED,
  SUPPLIED_WEIGHTS,
} from "./run_inputs.ts";

const available = await availableAdapters((id, reason) =>
  console.warn(`bad inputs: ${id} skipped: ${reason}`)
);

Deno.test({
  name: "every available adapter rejects bad inputs and routing weights alike",
  ...sanitizers,
  async fn(t) {
    for (const adapter of available) {
      await t.step(adapter.id, async () => {
        const layers: Record<RunEntry["layer"], PreparedCondConv> = {
          computed: await adapter.prepare(COMPUTED, COMPUTED_WEIGHTS),
          supplied: await adapter.prepare(SUPPLIED, SUPPLIED_WEIGHTS),
        };
        try {
          for (const entry of RUN_INPUTS) {
            await assertRejects(
              entry,
              () => layers[entry.layer].run(entry.input, entry.routing as Float32Array),
              ` on ${adapter.id}`,
            );
          }
          // and the layers still work afterwards
          const out = await layers.supplied.run(GOOD, new Float32Array([0.5, 0.5]));
          assert.deepEqual(out.shape, [1, 2, 4, 4]);
        } finally {
          await layers.computed.dispose();
          await layers.supplied.dispose();
        }
      });
    }
  },
});

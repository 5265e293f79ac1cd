import { availableAdapters } from "../../impls/registry.ts";
import { checkWeights } from "../../condconv/geometry.ts";
import { assertRejects, sanitizers } from "./entry.ts";
import { WEIGHTS } from "./weights.ts";

const available = await availableAdapters((id, reason) =>
  console.warn(`bad inputs: ${id} skipped: ${reason}`)
);

Deno.test("checkWeights rejects weights that do not match their spec", async (t) => {
  for (const entry of WEIGHTS) {
    await t.step(
      entry.name,
      () => assertRejects(entry, () => checkWeights(entry.spec, entry.weights)),
    );
  }
});

Deno.test({
  name: "every available adapter's prepare rejects weights that do not match their spec",
  ...sanitizers,
  async fn(t) {
    for (const adapter of available) {
      await t.step(adapter.id, async () => {
        for (const entry of WEIGHTS) {
          await assertRejects(entry, async () => {
            const prepared = await adapter.prepare(entry.spec, entry.weights);
            await prepared.dispose();
          }, ` on ${adapter.id}`);
        }
      });
    }
  },
});

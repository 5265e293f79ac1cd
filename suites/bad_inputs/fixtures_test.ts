import { loadCaseTensors, loadFixtureSet, loadGolden } from "../_shared/fixtures.ts";
import { copyFixtures } from "../_testing/adapters.ts";
import { assertRejects } from "./entry.ts";
import { FIXTURES } from "./fixtures.ts";

Deno.test("corrupt and truncated fixtures are refused with the file and the fault", async (t) => {
  for (const entry of FIXTURES) {
    await t.step(entry.name, async () => {
      const dir = await copyFixtures(["control"]);
      try {
        await entry.corrupt(dir);
        await assertRejects(entry, async () => {
          const set = await loadFixtureSet(dir);
          for (const fixture of set.fixtures) {
            await loadGolden(set, fixture);
            await loadCaseTensors(fixture);
          }
        });
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  }
});

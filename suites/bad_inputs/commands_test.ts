import { assertRejects, sanitizers } from "./entry.ts";
import { COMMANDS, type Scratch } from "./commands.ts";

Deno.test({
  name: "conform, bench and gate reject bad flags, ids, files and output paths with a UsageError",
  ...sanitizers,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "condconv-bad-inputs-" });
    const inReports = `reports/.test-bad-inputs-${crypto.randomUUID().slice(0, 8)}`;
    const scratch: Scratch = {
      dir,
      async reportsFolder(name) {
        await Deno.mkdir(`${inReports}/${name}`, { recursive: true });
        return `${inReports}/${name}`;
      },
    };
    try {
      for (const entry of COMMANDS) {
        await t.step(entry.name, async () => {
          const args = typeof entry.args === "function" ? await entry.args(scratch) : entry.args;
          await assertRejects(entry, () => entry.main([...args]));
        });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(inReports, { recursive: true }).catch(() => {});
    }
  },
});

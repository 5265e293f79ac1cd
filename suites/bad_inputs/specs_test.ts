import assert from "node:assert/strict";
import { z } from "zod";
import { assertRejects } from "./entry.ts";
import { SPEC_AND_SHAPE } from "./specs.ts";

Deno.test("bad specs, cases and geometries are rejected with the field named", async (t) => {
  for (const entry of SPEC_AND_SHAPE) {
    await t.step(entry.name, async () => {
      await assertRejects(entry, entry.act);
      if (entry.error === z.ZodError) {
        let issues: z.core.$ZodIssue[] = [];
        try {
          entry.act();
        } catch (error) {
          issues = (error as z.ZodError).issues;
        }
        const paths = issues.map((i) => i.path.join("."));
        assert.ok(
          paths.includes(entry.path!),
          `${entry.name}: expected an issue at "${entry.path}", got ${JSON.stringify(paths)}`,
        );
      }
    });
  }
});

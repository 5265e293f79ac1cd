import assert from "node:assert/strict";
import { CATALOGUE } from "./catalogue.ts";

Deno.test("the catalogue has at least 30 distinct bad inputs", () => {
  const names = Object.values(CATALOGUE).flat().map((e) => e.name);
  assert.equal(new Set(names).size, names.length, "duplicate entry names");
  assert.ok(names.length >= 30, `only ${names.length} entries`);
});

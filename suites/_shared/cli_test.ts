import assert from "node:assert/strict";
import { globToRegExp, parseFlags, selectByIds, UsageError } from "./cli.ts";

Deno.test("globToRegExp matches whole ids with * and ?", () => {
  assert.ok(globToRegExp("tfjs-*").test("tfjs-webgpu"));
  assert.ok(!globToRegExp("tfjs-*").test("x-tfjs-webgpu"));
  assert.ok(globToRegExp("effnet-b0.dw?-480-14").test("effnet-b0.dw5-480-14"));
  assert.ok(!globToRegExp("effnet-b0.dw5").test("effnet-b0Xdw5"));
});

Deno.test("selectByIds keeps order, unions patterns and names a pattern that matches nothing", () => {
  const items = [{ id: "a1" }, { id: "b1" }, { id: "a2" }];
  assert.deepEqual(selectByIds(items, [], "case"), items);
  assert.deepEqual(selectByIds(items, ["a2", "b*"], "case").map((i) => i.id), ["b1", "a2"]);
  assert.throws(() => selectByIds(items, ["c*"], "case"), UsageError);
  assert.throws(
    () => selectByIds(items, ["c*"], "case"),
    /Unknown case "c\*": it matches none of a1, b1, a2/,
  );
});

Deno.test("parseFlags rejects unknown flags and lists the known ones", () => {
  const options = { json: { type: "string" as const } };
  assert.deepEqual({ ...parseFlags(["--json", "x"], options) }, { json: "x" });
  assert.throws(
    () => parseFlags(["--jsn", "x"], options),
    /Unknown option '--jsn'.*known flags: --json/,
  );
  assert.throws(() => parseFlags(["extra"], options), UsageError);
});

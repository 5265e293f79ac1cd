import assert from "node:assert/strict";
import {
  globToRegExp,
  integerFlag,
  MAX_TIMER_MS,
  parseFlags,
  parseTaskFlags,
  positiveNumberFlag,
  selectByIds,
  timerDelay,
  UsageError,
} from "./cli.ts";
import { withTimeout } from "./calls.ts";

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

Deno.test("integerFlag and positiveNumberFlag: the fallback, the range, and the flag named", () => {
  assert.equal(integerFlag(undefined, "runs", 7), 7);
  assert.equal(integerFlag("12", "runs", 7, { min: 10 }), 12);
  assert.throws(
    () => integerFlag("1.5", "runs", 7),
    /^UsageError: Invalid --runs "1\.5": expected a positive integer$/,
  );
  assert.throws(
    () => integerFlag("5", "runs", 7, { min: 10 }),
    /expected an integer of at least 10$/,
  );
  assert.throws(() => integerFlag("", "runs", 7), /Invalid --runs "": expected a positive integer/);
  assert.throws(
    () => integerFlag("9", "runs", 7, { max: 8 }),
    /Invalid --runs "9": expected at most 8/,
  );
  assert.equal(positiveNumberFlag("0.25", "threshold", 0.1), 0.25);
  for (const bad of ["0", "-1", "abc", "Infinity", " "]) {
    assert.throws(() => positiveNumberFlag(bad, "threshold", 0.1), /expected a positive number/);
  }
});

Deno.test("a time flag beyond setTimeout's 2^31 - 1 ms is refused, and deadlines never overflow", async () => {
  // issue 14 item 11: with a huge --timeout-ms, timeout x (2 x cases + 2) overflowed the timer,
  // which then fired at once and turned every case into a false ERROR.
  assert.throws(
    () => integerFlag(String(2 ** 31), "timeout-ms", 1, { max: MAX_TIMER_MS }),
    /Invalid --timeout-ms "2147483648": expected at most 2147483647/,
  );
  assert.equal(timerDelay(MAX_TIMER_MS * 100), MAX_TIMER_MS);
  const late = new Promise((resolve) => setTimeout(() => resolve("done"), 20));
  assert.equal(await withTimeout(late, MAX_TIMER_MS * 100, "run"), "done");
});

Deno.test("parseTaskFlags adds --help: the usage is printed and no flags come back", () => {
  const options = { json: { type: "string" as const } };
  const printed: string[] = [];
  const log = console.log;
  console.log = (text: string) => printed.push(text);
  try {
    assert.equal(parseTaskFlags(["--help"], options, "usage: task"), undefined);
  } finally {
    console.log = log;
  }
  assert.deepEqual(printed, ["usage: task"]);
  assert.equal(parseTaskFlags(["--json", "x"], options, "usage")?.json, "x");
  assert.throws(
    () => parseTaskFlags(["--jsn", "x"], options, "usage"),
    /known flags: --json, --help/,
  );
});

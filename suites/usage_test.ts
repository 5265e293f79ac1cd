/**
 * Every task answers `--help` with a usage whose synopsis and explanations name exactly the
 * flags its parser accepts (`parseTaskFlags` records both), and `deno task` describes each.
 * @module
 */
import assert from "node:assert/strict";
import { TASK_SPECS, usageMismatches } from "./_shared/cli.ts";
import { conformMain } from "./conform.ts";
import { benchMain } from "./bench.ts";
import { gateMain } from "./gate.ts";
import { soakMain } from "./soak.ts";
import { reportMain } from "./report.ts";
import { selftestMain } from "./gate_selftest.ts";
import { exportOnnxMain } from "./export_onnx.ts";
import { browserMain } from "./browser.ts";

/** Each entry's main, by the `suites/<file>` its deno.json task runs. */
const MAINS: Record<string, (args: string[]) => Promise<number>> = {
  "suites/conform.ts": conformMain,
  "suites/bench.ts": benchMain,
  "suites/gate.ts": gateMain,
  "suites/soak.ts": soakMain,
  "suites/report.ts": reportMain,
  "suites/gate_selftest.ts": selftestMain,
  "suites/export_onnx.ts": exportOnnxMain,
  "suites/browser.ts": browserMain,
};

const config = JSON.parse(await Deno.readTextFile("deno.json")) as {
  tasks: Record<string, string | { description?: string; command?: string }>;
};

Deno.test("deno.json: every task has a description and a command", () => {
  for (const [name, task] of Object.entries(config.tasks)) {
    assert.equal(typeof task, "object", `task ${name} is a bare command line`);
    const { description, command } = task as { description?: string; command?: string };
    assert.ok(description && description.length > 10, `task ${name} has no description`);
    assert.ok(command, `task ${name} has no command`);
  }
});

Deno.test("every task that runs a suites/ entry answers --help with a usage that matches its parser", async () => {
  const entries = Object.entries(config.tasks).flatMap(([name, task]) => {
    const entry = /deno run .*(suites\/[a-z_]+\.ts)/.exec((task as { command: string }).command)
      ?.[1];
    return entry ? [[name, entry] as const] : [];
  });
  assert.ok(
    entries.length >= 8,
    "conform, bench, gate, gate:selftest, soak, report, export-onnx, browser",
  );
  const log = console.log;
  console.log = () => {}; // the usages themselves
  try {
    for (const [name, entry] of entries) {
      const main = MAINS[entry];
      assert.ok(main, `task ${name} runs ${entry}, which this test does not know: add it`);
      assert.equal(await main(["--help"]), 0, `deno task ${name} --help`);
    }
  } finally {
    console.log = log;
  }
  for (const [name] of entries) {
    const spec = TASK_SPECS.get(`deno task ${name}`);
    assert.ok(spec, `deno task ${name}: its usage does not start with "deno task ${name}"`);
    assert.deepEqual(usageMismatches(spec), [], `deno task ${name}`);
  }
});

Deno.test("usageMismatches: a flag left out, unexplained or unknown is named", () => {
  const usage = `deno task x [--a N] [--gone]

Does x.
  --a      a thing
  --b      b thing`;
  assert.deepEqual(usageMismatches({ usage, flags: ["a", "b"] }), [
    "--b is missing from the synopsis",
    "--gone is in the usage but not accepted",
  ]);
  assert.deepEqual(usageMismatches({ usage: "deno task y [--c]\n\n  --d  d", flags: ["c"] }), [
    "--c is not explained",
    "--d is in the usage but not accepted",
  ]);
});

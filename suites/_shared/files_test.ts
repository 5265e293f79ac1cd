import assert from "node:assert/strict";
import { checkOutputPaths, REPORTS_DIR, TRACKED_REPORTS } from "./files.ts";
import { UsageError } from "./cli.ts";

/** The message `checkOutputPaths` refuses `outputs` with (fails when it accepts them). */
async function refusal(
  outputs: Record<string, string>,
  options?: Parameters<typeof checkOutputPaths>[1],
): Promise<string> {
  try {
    await checkOutputPaths(outputs, options);
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    return error.message;
  }
  throw new assert.AssertionError({ message: `accepted ${JSON.stringify(outputs)}` });
}

Deno.test("checkOutputPaths refuses, before any work, an output path that would fail or clobber", async (t) => {
  const cases: [string, Record<string, string>, string][] = [
    ["a folder", { json: "reports" }, 'Cannot write --json "reports": it is a folder'],
    ["a folder given with a slash", { json: "reports/" }, "it names a folder"],
    ["an empty path", { json: "" }, 'Cannot write --json "": the path is empty'],
    [
      "the gate's tracked configuration",
      { json: "reports/accepted_changes.json" },
      "it is tracked: the gate's accepted slowdowns (configuration)",
    ],
    [
      "the published results, from a task that does not generate them",
      { markdown: "reports/RESULTS.md" },
      'Cannot write --markdown "reports/RESULTS.md": it is tracked',
    ],
    ["a fixture", { json: "fixtures/manifest.json" }, "it is inside the project"],
    ["the task configuration", { json: "deno.json" }, "it is inside the project"],
    ["the README, unasked", { markdown: "README.md" }, "it is inside the project"],
    ["a path under a file", { json: "README.md/x.json" }, '"README.md" is a file, not a folder'],
    ["a path that climbs out of reports/", { json: "reports/../deno.json" }, "inside the project"],
    [
      "the same file for two outputs",
      { json: "reports/x.json", markdown: "reports/./x.json" },
      'Cannot write --markdown "reports/./x.json": --json writes the same file',
    ],
  ];
  for (const [what, outputs, message] of cases) {
    await t.step(what, async () => {
      const text = await refusal(outputs);
      assert.ok(text.includes(message), `${what}: ${text}`);
    });
  }
});

Deno.test("checkOutputPaths refuses an existing folder whose name looks like a file", async () => {
  const root = await Deno.makeTempDir({ prefix: "condconv-outputs-" });
  try {
    await Deno.mkdir(`${root}/reports/existing-dir.json`, { recursive: true });
    const text = await refusal({ json: "reports/existing-dir.json" }, { root });
    assert.match(text, /^Cannot write --json "reports\/existing-dir\.json": it is a folder/);
    await checkOutputPaths({ json: "reports/new.json" }, { root });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("checkOutputPaths accepts new reports, paths outside the project and owned files", async () => {
  await checkOutputPaths({ json: "reports/conformance-test.json", markdown: "reports/b.md" });
  await checkOutputPaths({ json: "/tmp/condconv-elsewhere/x.json" });
  // report generates RESULTS.md; README.md only when asked to publish (and allowed to write)
  await checkOutputPaths({ results: "reports/RESULTS.md" }, { owned: ["reports/RESULTS.md"] });
});

Deno.test("TRACKED_REPORTS lists exactly the files git tracks in reports/", async () => {
  const { code, stdout } = await new Deno.Command("git", {
    args: ["ls-files", REPORTS_DIR],
    stdout: "piped",
  }).output();
  assert.equal(code, 0);
  const tracked = new TextDecoder().decode(stdout).split("\n").filter(Boolean).sort();
  assert.deepEqual(Object.keys(TRACKED_REPORTS).sort(), tracked);
});

import assert from "node:assert/strict";
import { referenceAdapter } from "../../impls/reference.ts";
import { BENCH_DEFAULTS, benchMain } from "../bench.ts";
import type { BenchReport } from "../results/bench.ts";
import { CASE_SETS, quickLookNote, quickLookOf, SMOKE_QUICK_LOOK } from "./cases.ts";

const defaultSets = BENCH_DEFAULTS.sets;

Deno.test("quickLookOf: the smoke set alone is a quick look; other sets, cases or a layer are not", () => {
  assert.deepEqual(quickLookOf({ sets: ["smoke"], defaultSets, picked: false }), SMOKE_QUICK_LOOK);
  assert.deepEqual(
    quickLookOf({ sets: ["smoke", "smoke"], defaultSets, picked: false }),
    SMOKE_QUICK_LOOK,
  );
  for (const sets of [["smoke", "effnet-b0"], ["gate"], ["effnet-b0"], [], ["no-such-set"]]) {
    assert.equal(quickLookOf({ sets, defaultSets, picked: false }), undefined, sets.join(","));
  }
  assert.equal(quickLookOf({ sets: ["smoke"], defaultSets, picked: true }), undefined);
  assert.equal(quickLookOf({ defaultSets, picked: false }), undefined, "the default set");
  assert.deepEqual(quickLookOf({ defaultSets: ["smoke"], picked: false }), SMOKE_QUICK_LOOK);
  assert.equal(quickLookOf({ defaultSets: ["smoke"], picked: true }), undefined);
});

Deno.test("the quick look is said where it changed the sampling, not where the flags undid it", () => {
  const look = SMOKE_QUICK_LOOK;
  const defaults = BENCH_DEFAULTS;
  const note = quickLookNote(["smoke"], look, look, defaults);
  assert.match(note!, /--set smoke is a quick look, not a figure to publish/);
  assert.match(note!, /at least 8 samples and 150 ms of them per measurement/);
  assert.match(quickLookNote(["smoke"], look, { ...look, minSamples: 3 }, defaults)!, /least 3 /);
  const undone = { ...look, budgetMs: defaults.budgetMs };
  assert.equal(quickLookNote(["smoke"], look, undone, defaults), undefined);
  assert.equal(quickLookNote(["effnet-b0"], undefined, look, defaults), undefined);
});

Deno.test("the README and bench --help state the smoke set's quick look as the code has it", async () => {
  const readme = (await Deno.readTextFile("README.md")).replace(/\s+/g, " ");
  const { minSamples, budgetMs } = SMOKE_QUICK_LOOK;
  assert.ok(
    readme.includes(`at least ${minSamples} samples and ${budgetMs} ms of them per measurement`),
    "the README's smoke paragraph gives other numbers",
  );
  assert.ok(
    readme.includes(
      `other runs take ${BENCH_DEFAULTS.minSamples} and ${BENCH_DEFAULTS.budgetMs} ms`,
    ),
    "the README's smoke paragraph gives other defaults",
  );
  assert.match(CASE_SETS.smoke.about, new RegExp(`at least ${minSamples} samples, ${budgetMs} ms`));
});

/** Runs bench in this process on the reference adapter; resolves to its report. */
async function benchReport(args: string[]): Promise<BenchReport> {
  const dir = await Deno.makeTempDir();
  try {
    const flags = ["--no-torch", "--no-roofline", "--no-static", "--adapter", "reference"];
    const out = ["--json", `${dir}/b.json`, "--markdown", `${dir}/b.md`];
    const status = await benchMain([...args, ...flags, ...out], { adapters: [referenceAdapter] });
    assert.equal(status, 0);
    return JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bench --set smoke samples as its quick look says, unless the flags say otherwise", async () => {
  const quick = await benchReport(["--set", "smoke"]);
  assert.equal(quick.settings.minSamples, SMOKE_QUICK_LOOK.minSamples);
  assert.equal(quick.settings.budgetMs, SMOKE_QUICK_LOOK.budgetMs);
  assert.equal(quick.results.length, 5, "every smoke case is still timed");
  for (const r of quick.results) {
    assert.equal(r.status, "timed", r.case);
    assert.ok(r.warm!.samples >= SMOKE_QUICK_LOOK.minSamples, r.case);
  }
  const flagged = await benchReport(["--set", "smoke", "--min-samples", "6"]);
  assert.deepEqual([flagged.settings.minSamples, flagged.settings.budgetMs], [6, 150]);
  const picked = await benchReport(["--set", "smoke", "--case", "control", "--budget-ms", "1"]);
  assert.equal(picked.settings.minSamples, BENCH_DEFAULTS.minSamples, "a case picked by id");
});

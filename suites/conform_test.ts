import assert from "node:assert/strict";
import type { CondConvAdapter } from "../impls/adapter.ts";
import { referenceAdapter } from "../impls/reference.ts";
import { UsageError } from "./_shared/cli.ts";
import { conformMain } from "./conform.ts";
import { loadTargets, runConformance } from "./conform/run.ts";
import { loadFixtureSet } from "./_shared/fixtures.ts";
import type { KnownFailure } from "./conform/known_failures.ts";
import {
  copyFixtures,
  editedReference,
  unavailableReference,
  workingAround,
} from "./_testing/adapters.ts";
import { defineAdapter } from "../impls/_contract.ts";
import { formatResultRow } from "./conform/print.ts";
import type { ConformReport } from "./results/conformance.ts";
import { oneWgpuBackend } from "./_testing/flags.ts";

/** An adapter that wraps the reference and changes one thing about it. */
function variant(id: string, overrides: Partial<CondConvAdapter>): CondConvAdapter {
  return { ...referenceAdapter, id, toleranceClass: "cpu", ...overrides };
}

const perturbed = editedReference("perturbed", (data) => data[3] += 1e-2);
const throwing = variant("throwing", {
  prepare: () => Promise.reject(new TypeError("Cannot compile: shader error")),
});
const hanging = variant("hanging", {
  async prepare(spec, weights) {
    const inner = await referenceAdapter.prepare(spec, weights);
    return {
      backend: inner.backend,
      run: () => new Promise(() => {}),
      dispose: () => inner.dispose(),
    };
  },
});
const unavailable = unavailableReference("unavailable", "no WebGPU adapter");
const fallingBack = variant("falling-back", {
  async prepare(spec, weights) {
    const inner = await referenceAdapter.prepare(spec, weights);
    return { backend: "cpu", run: inner.run.bind(inner), dispose: () => inner.dispose() };
  },
});

Deno.test("runConformance gives pass, fail, error and skip, each with its reason", async () => {
  const set = await loadFixtureSet();
  const fixtures = set.fixtures.filter((f) => ["control", "routing-supplied"].includes(f.entry.id));
  const run = await runConformance({
    adapters: [referenceAdapter, perturbed, throwing, hanging, unavailable, fallingBack],
    targets: await loadTargets(set, fixtures),
    timeoutMs: 500,
  });
  const status = (adapter: string) => run.results.filter((r) => r.adapter === adapter);
  assert.deepEqual(status("reference").map((r) => r.status), ["pass", "pass"]);
  for (const r of status("perturbed")) {
    assert.equal(r.status, "fail");
    assert.match(r.reason!, /worst element 3: .* the tolerance/);
    assert.ok(r.maxAbsErr! > 9e-3 && r.maxAbsErr! < 1.1e-2);
  }
  for (const r of status("throwing")) {
    assert.equal(r.status, "error");
    assert.match(r.reason!, /prepare failed: TypeError: Cannot compile: shader error/);
  }
  for (const r of status("hanging")) {
    assert.equal(r.status, "error");
    assert.match(r.reason!, /run took longer than 500 ms/);
  }
  for (const r of status("unavailable")) {
    assert.equal(r.status, "skip");
    assert.equal(r.reason, "no WebGPU adapter");
  }
  for (const r of status("falling-back")) {
    assert.equal(r.status, "error");
    assert.match(r.reason!, /ran on backend "cpu", not "typescript:float64"/);
  }
  assert.deepEqual(run.summary, { pass: 2, fail: 2, "known-fail": 0, skip: 2, error: 6 });
});

/** A known-failure rule for the test; control's routing is computed, routing-supplied's not. */
function rule(adapter: string, reason: string, affects: KnownFailure["affects"]): KnownFailure {
  return { id: `${adapter}-test`, adapter, reason, upstream: [], seenOn: [], affects };
}
const computedRouting: KnownFailure["affects"] = ({ spec }) => spec.routing.kind !== "supplied";

Deno.test("a listed library bug turns a fail into known-fail, never an error or a pass", async () => {
  const set = await loadFixtureSet();
  const fixtures = set.fixtures.filter((f) => ["control", "routing-supplied"].includes(f.entry.id));
  const reason = "the wrapped library adds 1e-2 to element 3";
  const run = await runConformance({
    adapters: [referenceAdapter, perturbed, throwing],
    targets: await loadTargets(set, fixtures),
    timeoutMs: 500,
    known: [
      rule("perturbed", reason, computedRouting),
      rule("reference", "once wrong on control", computedRouting),
      rule("throwing", "not an excuse for a throw", () => true),
    ],
  });
  const [refControl, refRouting, control, routing, thrown] = run.results;
  assert.equal(control.status, "known-fail");
  assert.match(control.reason!, /worst element 3: .*; known library bug: the wrapped library/);
  assert.equal(routing.status, "fail", "only the listed case is forgiven");
  assert.equal(refControl.status, "pass");
  assert.match(refControl.note!, /listed as a known failure but passed here: once wrong/);
  assert.equal(refRouting.note, undefined);
  assert.equal(thrown.status, "error");
  assert.deepEqual(run.summary, { pass: 2, fail: 1, "known-fail": 1, skip: 0, error: 2 });
});

Deno.test("a row records the workaround its layer applied; without it the raw bug is known-fail", async (t) => {
  const set = await loadFixtureSet();
  const targets = await loadTargets(set, set.fixtures.filter((f) => f.entry.id === "control"));
  const workaround = "made-up-bug: one more zero channel";
  // through defineAdapter, as the registry lists it: the variant must survive the wrapping
  const patched = defineAdapter(workingAround("patched", workaround));
  const known = [rule("patched", "a made-up bug", ({ workarounds }) => workarounds === false)];
  await t.step("with the workaround: a pass that names it", async () => {
    const run = await runConformance({ adapters: [patched], targets, known, timeoutMs: 5000 });
    const [row] = run.results;
    assert.equal(row.status, "pass");
    assert.deepEqual(row.workarounds, [workaround]);
    assert.match(formatResultRow(row), / PASS \(workaround: made-up-bug\) +abs /);
  });
  await t.step("workarounds off: the guarded variant runs, the rule applies", async () => {
    const raw = patched.withoutWorkarounds?.();
    assert.ok(raw && raw === patched.withoutWorkarounds?.(), "one guarded variant");
    assert.equal(defineAdapter(raw), raw, "already guarded: defineAdapter returns it as it is");
    const run = await runConformance({
      adapters: [patched],
      targets,
      known,
      timeoutMs: 5000,
      workarounds: false,
    });
    const [row] = run.results;
    assert.equal(row.status, "known-fail");
    assert.match(row.reason!, /worst element 3: .*; known library bug: a made-up bug/);
    assert.equal(row.workarounds, undefined);
  });
});

Deno.test({
  name: "conform --no-workarounds shows ort-webgpu's raw Conv bug as KNOWN-FAIL; without it " +
    "both cases pass and name their workaround",
  sanitizeResources: false,
  async fn(t) {
    const backend = await oneWgpuBackend();
    if (!backend) return;
    const dir = await Deno.makeTempDir();
    const args = ["--adapter", "ort-webgpu", "--case", "channels-6-8"]
      .concat(["--case", "channels-3-5-batch-2", ...backend]);
    const conform = async (extra: string[]) => {
      const path = `${dir}/r${extra.length}.json`;
      const status = await conformMain([...args, ...extra, "--json", path]);
      const report: ConformReport = JSON.parse(await Deno.readTextFile(path));
      const row = (id: string) => report.results.find((r) => r.case === id)!;
      return { status, report, sixEight: row("channels-6-8"), batch2: row("channels-3-5-batch-2") };
    };
    await t.step("--no-workarounds: both KNOWN-FAIL under ort-webgpu-conv, exit 0", async () => {
      const { status, report, sixEight, batch2 } = await conform(["--no-workarounds"]);
      assert.equal(status, 0);
      assert.equal(report.filters?.workarounds, false);
      assert.match(String(report.adapters[0].info?.workarounds), /^off/);
      for (const r of [sixEight, batch2]) {
        assert.equal(r.status, "known-fail", r.reason ?? "");
        assert.match(r.reason!, /known library bug: onnxruntime-web 1\.30's WebGPU EP/);
        assert.equal(r.workarounds, undefined);
      }
    });
    await t.step(
      "workarounds on (the default): both PASS, each naming its workaround",
      async () => {
        const { status, report, sixEight, batch2 } = await conform([]);
        assert.equal(status, 0);
        assert.equal(report.filters?.workarounds, true);
        for (
          const [r, cause] of [[sixEight, "conv2dmm-vec3-input"], [
            batch2,
            "grouped-vector-straddles-groups",
          ]] as const
        ) {
          assert.equal(r.status, "pass", r.reason ?? "");
          assert.equal(r.workarounds?.length, 1);
          assert.match(r.workarounds![0], new RegExp(`^${cause}: `));
          assert.match(formatResultRow(r), new RegExp(` PASS \\(workaround: ${cause}\\) `));
        }
      },
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("conform writes a complete report and exits 0 when everything passes", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/conformance.json`;
  const status = await conformMain(["--adapter", "reference", "--case", "control", "--json", path]);
  assert.equal(status, 0);
  const report = JSON.parse(await Deno.readTextFile(path));
  assert.equal(report.results.length, 1);
  assert.equal(report.results[0].status, "pass");
  assert.equal(typeof report.results[0].maxAbsErr, "number");
  assert.equal(typeof report.results[0].maxRelErr, "number");
  assert.equal(report.environment.deno, Deno.version.deno);
  assert.equal(report.adapters[0].backend, "typescript:float64");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("conform exits 1 when an adapter fails", async () => {
  const dir = await Deno.makeTempDir();
  const status = await conformMain(["--case", "control", "--json", `${dir}/r.json`], {
    adapters: [referenceAdapter, perturbed],
  });
  assert.equal(status, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("conform rejects unknown flags, adapters and cases by name", async () => {
  await assert.rejects(conformMain(["--adaptor", "x"]), UsageError);
  await assert.rejects(conformMain(["--adapter", "tfjs-gpu"]), /Unknown adapter "tfjs-gpu"/);
  await assert.rejects(conformMain(["--case", "nope*"]), /Unknown case "nope\*"/);
  await assert.rejects(conformMain(["--json"]), /--json/);
});

Deno.test("a run stopped by a bad fixture leaves the previous report untouched", async () => {
  const dir = await copyFixtures(["control"]);
  const path = `${dir}/report.json`;
  await Deno.writeTextFile(path, "previous report");
  const golden = `${dir}/goldens/control.f64`;
  await Deno.writeFile(golden, (await Deno.readFile(golden)).subarray(0, 16));
  await assert.rejects(
    conformMain(["--adapter", "reference", "--json", path], { fixturesDir: dir }),
    // thrown in the plan child, and carried to the parent under its name
    { name: "FixtureError" },
  );
  assert.equal(await Deno.readTextFile(path), "previous report");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("an isolated run survives an adapter that crashes, hangs or throws", async () => {
  const { TESTING_ADAPTERS } = await import("./_testing/child.ts");
  const dir = await Deno.makeTempDir();
  const path = `${dir}/report.json`;
  const status = await conformMain(
    ["--case", "control", "--case", "depthwise", "--timeout-ms", "1000", "--json", path],
    { adapters: TESTING_ADAPTERS, childScript: "suites/_testing/child.ts" },
  );
  assert.equal(status, 1);
  const report = JSON.parse(await Deno.readTextFile(path));
  const of = (adapter: string) =>
    report.results.filter((r: { adapter: string }) => r.adapter === adapter);
  assert.deepEqual(of("reference").map((r: { status: string }) => r.status), ["pass", "pass"]);
  for (const r of of("crashing")) {
    assert.equal(r.status, "error");
    assert.match(r.reason, /the adapter's process exited with code 134 before finishing/);
  }
  for (const r of of("hanging")) {
    assert.equal(r.status, "error");
    assert.match(r.reason, /run took longer than 1000 ms/);
  }
  for (const r of of("throwing")) assert.match(r.reason, /RangeError: Cannot run: out of memory/);
  assert.deepEqual(report.summary, { pass: 2, fail: 0, "known-fail": 0, skip: 0, error: 6 });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("conform --weights checks a user's exported layer in child processes", async (t) => {
  const { hasTorch, exportReferenceLayer, SMALL_LAYER } = await import("./_testing/user_layer.ts");
  if (!await hasTorch()) return;
  const dir = await Deno.makeTempDir();
  await exportReferenceLayer(dir, SMALL_LAYER);
  await t.step("every listed adapter passes on the layer", async () => {
    const status = await conformMain([
      "--weights",
      `${dir}/layer.safetensors`,
      "--adapter",
      "reference",
      "--json",
      `${dir}/report.json`,
    ]);
    assert.equal(status, 0);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.equal(report.results.length, 1);
    assert.equal(report.results[0].status, "pass");
    assert.equal(report.results[0].case, "layer");
  });
  await t.step("--weights and --case do not combine; a missing file is named", async () => {
    await assert.rejects(
      conformMain(["--weights", `${dir}/layer.safetensors`, "--case", "control"]),
      /Cannot combine --weights and --case/,
    );
    await assert.rejects(
      conformMain(["--weights", `${dir}/nope.safetensors`]),
      /Cannot load weights ".*nope.safetensors": file not found/,
    );
  });
  await Deno.remove(dir, { recursive: true });
});

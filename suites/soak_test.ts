import assert from "node:assert/strict";
import type { CondConvAdapter } from "../impls/adapter.ts";
import { referenceAdapter } from "../impls/reference.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { UsageError } from "./_shared/cli.ts";
import { soakMain } from "./soak.ts";
import { soakAdapter } from "./soak/measure.ts";
import { formatSoakRow, soakHeader } from "./soak/print.ts";

// tfjs and onnxruntime-web keep their runtimes (wasm modules) for the process's life.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

/** The CI soak: the same code as `deno task soak`, shorter, on the CPU adapters. */
const RUNS = 100;
const CYCLES = 10;

Deno.test({
  name: `soak: every available CPU adapter stays flat over ${RUNS} runs and ${CYCLES} cycles`,
  ...sanitizers,
  async fn(t) {
    const rows: string[] = [];
    for (const adapter of ADAPTERS.filter((a) => a.toleranceClass !== "webgpu")) {
      await t.step(adapter.id, async () => {
        const result = await soakAdapter(adapter, { runs: RUNS, cycles: CYCLES });
        rows.push(formatSoakRow(result));
        if (result.status === "skip") {
          console.warn(`soak: ${adapter.id} skipped: ${result.problems.join("; ")}`);
          return;
        }
        assert.equal(result.status, "pass", result.problems.join("; "));
        assert.ok(result.memory!.gcForced, "memory was read without a forced GC");
        assert.deepEqual(result.counts!.afterFirstRun, result.counts!.afterLastRun);
        assert.deepEqual(result.counts!.beforePrepare, result.counts!.afterCycles);
      });
    }
    console.log(`${soakHeader(RUNS)}\n${rows.join("\n")}`);
  },
});

/** The reference with one fault added to its prepared layers. */
function leaky(id: string, fault: "outputs" | "counts" | "dispose"): CondConvAdapter {
  const kept: Float32Array[] = [];
  let live = 0;
  return {
    ...referenceAdapter,
    id,
    resourceCounts: () => ({ handles: live }),
    async prepare(spec, weights) {
      const inner = await referenceAdapter.prepare(spec, weights);
      live++;
      return {
        backend: inner.backend,
        async run(input, routing) {
          const out = await inner.run(input, routing);
          if (fault === "outputs") kept.push(out.data);
          if (fault === "counts") live++;
          return out;
        },
        dispose() {
          if (fault !== "dispose") live--;
          return inner.dispose();
        },
      };
    },
  };
}

Deno.test("soak fails an adapter that keeps every output alive", async () => {
  const result = await soakAdapter(leaky("keeps-outputs", "outputs"), { runs: 60, cycles: 1 });
  assert.equal(result.status, "fail");
  // 50 outputs of 128 KiB after the warm run: 6.25 MiB
  assert.match(
    result.problems.join("; "),
    /ArrayBuffer memory \(external\) grew by 6\.\d MiB from run 10 to run 60, more than the 4 MiB/,
  );
});

Deno.test("soak fails an adapter whose resource count grows per run", async () => {
  const result = await soakAdapter(leaky("grows", "counts"), { runs: 20, cycles: 1 });
  assert.equal(result.status, "fail");
  assert.match(
    result.problems[0],
    /^resource counts grew over 20 runs: \{"handles":2\} after run 1, \{"handles":21\} after/,
  );
});

Deno.test("soak fails an adapter whose dispose leaves resources", async () => {
  const result = await soakAdapter(leaky("keeps-handles", "dispose"), { runs: 10, cycles: 3 });
  assert.equal(result.status, "fail");
  assert.match(
    result.problems.join("; "),
    /dispose left resources: \{"handles":0\} before prepare, \{"handles":1\} after dispose/,
  );
  assert.match(
    result.problems.join("; "),
    /prepare\/run\/dispose cycle 1 left resources: \{"handles":1\} before, \{"handles":2\}/,
  );
});

Deno.test("soak rejects bad flags and unknown adapters with a UsageError", async () => {
  await assert.rejects(soakMain(["--runs", "5"]), {
    name: "UsageError",
    message: 'Invalid --runs "5": expected an integer of at least 10',
  });
  await assert.rejects(soakMain(["--cycles", "1.5"]), UsageError);
  await assert.rejects(soakMain(["--adapter", "nope"]), /^UsageError: Unknown adapter "nope"/);
  await assert.rejects(soakMain(["--runz", "5"]), /Unknown option '--runz'/);
});

Deno.test("soak writes a report that its schema (suites/results/soak.ts) reads back", async () => {
  const { SoakReport } = await import("./results/soak.ts");
  const dir = await Deno.makeTempDir();
  const json = `${dir}/soak.json`;
  const args = ["--runs", "10", "--cycles", "1", "--json", json];
  assert.equal(await soakMain(args, { adapters: [referenceAdapter] }), 0);
  const report = SoakReport.parse(JSON.parse(await Deno.readTextFile(json)));
  assert.equal(report.results[0].adapter, "reference");
  assert.equal(report.results[0].status, "pass");
  await Deno.remove(dir, { recursive: true });
});

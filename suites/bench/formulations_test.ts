import assert from "node:assert/strict";
import type { CondConvAdapter, PreparedCondConv } from "../../impls/adapter.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { tfjsWasmAdapter } from "../../impls/tfjs_wasm.ts";
import { benchMain } from "../bench.ts";
import { reportMain } from "../report.ts";
import { BenchReport } from "../results/bench.ts";
import { fastBench } from "../_testing/flags.ts";
import { formulationAxis } from "./formulations.ts";

/**
 * A framework adapter made of the reference: `"batched-matmul"` (its default) and
 * `"per-example"` compute right, `"expert-sum"` adds 1 to the first value, `"grouped"` cannot
 * compute any layer, `slow` (default `"depthwise-folded"`) is right but takes 2 s more on its
 * first run, 80 ms more on every other; `"per-example"` takes 5 ms more on its warm runs.
 */
function fakeFramework(slow = "depthwise-folded"): CondConvAdapter {
  const layer = async (
    spec: Parameters<CondConvAdapter["prepare"]>[0],
    weights: Parameters<
      CondConvAdapter["prepare"]
    >[1],
    formulation: string,
  ): Promise<PreparedCondConv & { formulation: string }> => {
    const inner = await referenceAdapter.prepare(spec, weights);
    let runs = 0;
    return {
      backend: inner.backend,
      formulation,
      async run(input, routing) {
        const out = await inner.run(input, routing);
        if (formulation === "expert-sum") out.data[0] += 1;
        // the slow one: 2 s on its first (checked) run, 80 ms on every other; per-example
        // 5 ms more on its warm runs, so that the default (batched-matmul) is the fastest
        // beyond the noise, and its first run is not screened out
        const first = runs++ === 0;
        const ms = formulation === slow
          ? (first ? 2000 : 80)
          : formulation === "per-example" && !first
          ? 5
          : 0;
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
        return out;
      },
      dispose: () => inner.dispose(),
    };
  };
  return {
    ...referenceAdapter,
    id: "fake-framework",
    toleranceClass: "cpu",
    prepare: (spec, weights) => layer(spec, weights, "batched-matmul"),
    formulations: ["batched-matmul", "grouped", "per-example", "expert-sum", "depthwise-folded"],
    formulationProblem: (_spec: unknown, f: string) =>
      f === "grouped" ? "this framework has no grouped convolution" : undefined,
    prepareWith: (
      spec: Parameters<CondConvAdapter["prepare"]>[0],
      weights: Parameters<CondConvAdapter["prepare"]>[1],
      options: { formulation: string },
    ) => layer(spec, weights, options.formulation),
  } as CondConvAdapter;
}

Deno.test("bench --formulations checks and times every formulation, never a wrong one", async () => {
  const dir = await Deno.makeTempDir();
  const status = await benchMain(
    ["--case", "control", "--batch", "2", "--adapter", "*", "--no-torch", "--formulations"]
      .concat(fastBench(dir)),
    { adapters: [fakeFramework(), referenceAdapter] },
  );
  assert.equal(status, 0, "a wrong formulation is a finding, not a failed run");
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
  assert.equal(report.settings.formulations, true);
  const row = report.results.find((r) => r.adapter === "fake-framework")!;
  assert.equal(row.formulation, "batched-matmul");
  assert.deepEqual(row.formulationCell, { kernel: "general", batch: "2+", spatial: "<=100px" });
  const by = Object.fromEntries(row.formulations!.map((e) => [e.formulation, e]));
  assert.deepEqual(Object.keys(by), [
    "batched-matmul",
    "grouped",
    "per-example",
    "expert-sum",
    "depthwise-folded",
  ]);
  assert.equal(by["depthwise-folded"].status, "screened", "far slower first run: not timed warm");
  assert.match(by["depthwise-folded"].reason!, /x the fastest first run/);
  assert.equal(by["grouped"].status, "skip");
  assert.equal(by["grouped"].reason, "this framework has no grouped convolution");
  assert.equal(by["expert-sum"].status, "wrong");
  assert.equal(by["expert-sum"].warm, undefined, "a wrong formulation is never timed");
  for (const f of ["batched-matmul", "per-example"]) {
    assert.equal(by[f].status, "timed", f);
    assert.ok(by[f].warm!.samples >= 2 && by[f].overFastest! >= 1, f);
  }
  assert.deepEqual(row.formulations!.filter((e) => e.default).map((e) => e.formulation), [
    "batched-matmul",
  ]);
  assert.equal(by["batched-matmul"].overFastest, 1, "the default is the fastest");
  assert.ok(by["per-example"].overFastest! > 1.1);
  const plain = report.results.find((r) => r.adapter === "reference")!;
  assert.equal(plain.formulations, undefined, "an adapter without the axis has no matrix");
  const markdown = await Deno.readTextFile(`${dir}/b.md`);
  assert.match(markdown, /## Formulations/);
  // the same matrix through deno task report: RESULTS.md and the page
  await reportMain(["--input", `${dir}/b.json`, "--out-dir", `${dir}/out`]);
  const results = await Deno.readTextFile(`${dir}/out/RESULTS.md`);
  assert.match(results, /### Formulations/);
  assert.match(results, /#### fake-framework/);
  assert.match(results, /The default is within 1\.10x of the fastest formulation on 1 of 1 rows/);
  const page = await Deno.readTextFile(`${dir}/out/index.html`);
  assert.match(page, /<h3>Formulations<\/h3>/);
  assert.match(page, /<table class="formulations">.*<strong>[0-9.]+<\/strong>/s);
  assert.match(markdown, /\| control@b2 +\| general <=100px \|.*\| +wrong \| batched-matmul +\|/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench --formulations without --adapter times the CPU framework adapters only", async () => {
  const dir = await Deno.makeTempDir();
  const gpuFramework = { ...fakeFramework(), id: "fake-gpu-framework", toleranceClass: "webgpu" };
  await benchMain(
    ["--case", "control", "--no-torch", "--no-static", "--formulations", ...fastBench(dir)],
    { adapters: [fakeFramework(), referenceAdapter, gpuFramework as CondConvAdapter] },
  );
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
  assert.deepEqual(report.results.map((r) => r.adapter), ["fake-framework"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench --formulations times the default however slow its first run", async () => {
  const dir = await Deno.makeTempDir();
  await benchMain(
    ["--case", "control", "--no-torch", "--no-static", "--formulations", ...fastBench(dir)],
    { adapters: [fakeFramework("batched-matmul")] },
  );
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
  const mine = report.results[0].formulations!.find((e) => e.default)!;
  assert.equal(mine.formulation, "batched-matmul");
  assert.equal(mine.status, "timed", "the default is measured, so its distance to the fastest is");
  assert.ok(mine.overFastest! > 5);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench --formulations on tfjs-wasm: each formulation checked against the golden's truth", async () => {
  const dir = await Deno.makeTempDir();
  const status = await benchMain(
    ["--case", "depthwise", "--no-torch", "--no-static", "--formulations", ...fastBench(dir)],
    { adapters: [tfjsWasmAdapter] },
  );
  assert.equal(status, 0);
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
  const [row] = report.results;
  assert.equal(row.status, "timed");
  const axis = formulationAxis(tfjsWasmAdapter)!;
  assert.deepEqual(row.formulations!.map((e) => e.formulation), [...axis.formulations]);
  for (const e of row.formulations!) {
    assert.ok(["timed", "screened"].includes(e.status), `${e.formulation}: ${e.reason}`);
    assert.ok(e.maxAbsErr !== undefined, "checked before timing");
  }
  assert.equal(row.formulations!.find((e) => e.default)?.formulation, row.formulation);
  await Deno.remove(dir, { recursive: true });
});

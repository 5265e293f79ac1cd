import assert from "node:assert/strict";
import type { CondConvAdapter } from "../impls/adapter.ts";
import { referenceAdapter } from "../impls/reference.ts";
import { benchMain } from "./bench.ts";
import { BenchReport } from "./results/bench.ts";
import { MachineLimits } from "./results/machine_limits.ts";
import { computeCeiling, rowThreads, torchRunFor } from "./bench/threads.ts";
import { selectBenchCases } from "./bench/cases.ts";
import { loadFixtureSet } from "./_shared/fixtures.ts";
import { editedReference, unavailableReference, workingAround } from "./_testing/adapters.ts";
import { fastBench, oneWgpuBackend } from "./_testing/flags.ts";
import { formatBenchRow } from "./bench/report.ts";

const wrong = editedReference("wrong", (data) => data[0] += 1);
const unavailable = unavailableReference("gpu-less", "no WebGPU adapter");

Deno.test("bench times what is correct, never what is wrong, and explains skips", async () => {
  const dir = await Deno.makeTempDir();
  const json = `${dir}/bench.json`;
  const status = await benchMain([
    "--case",
    "control",
    "--batch",
    "1",
    "--batch",
    "3",
    "--min-samples",
    "3",
    "--budget-ms",
    "1",
    "--no-torch",
    "--no-roofline",
    "--json",
    json,
    "--markdown",
    `${dir}/bench.md`,
  ], { adapters: [referenceAdapter, wrong, unavailable] });
  assert.equal(status, 1, "a wrong adapter makes the run fail");
  const report: BenchReport = JSON.parse(await Deno.readTextFile(json));
  assert.deepEqual(report.settings.cases, ["control@b1", "control@b3"]);
  for (const r of report.results.filter((r) => r.adapter === "reference")) {
    assert.equal(r.status, "timed");
    assert.equal(r.correctness?.checkedAgainst, "reference", "batch 1 and 3 have no golden");
    assert.ok(r.warm!.samples >= 3 && r.warm!.samplesMs.length === r.warm!.samples);
    assert.ok(r.warm!.minMs <= r.warm!.p50Ms && r.warm!.p50Ms <= r.warm!.p99Ms);
    assert.ok(r.warm!.p99Ms <= r.warm!.maxMs);
    assert.ok(r.gflops! > 0 && r.cold!.prepareMs >= 0 && r.cold!.firstRunMs > 0);
    assert.equal(r.static?.status, "timed");
    assert.ok(r.overVsStatic! > 0);
    assert.ok(r.flops.total > r.flops.staticConv);
    assert.equal(r.readbackIncluded, true);
    assert.equal(r.gpu, null);
  }
  for (const r of report.results.filter((r) => r.adapter === "wrong")) {
    assert.equal(r.status, "wrong");
    assert.equal(r.warm, undefined);
    assert.match(r.reason!, /not timed/);
  }
  for (const r of report.results.filter((r) => r.adapter === "gpu-less")) {
    assert.equal(r.status, "skip");
    assert.equal(r.reason, "no WebGPU adapter");
  }
  assert.equal(report.torch.status, "not-measured");
  assert.equal(report.environment.deno, Deno.version.deno);
  const markdown = await Deno.readTextFile(`${dir}/bench.md`);
  // bench.md writes numbers as RESULTS.md does: padded columns, 3 significant digits; the
  // p50's interval follows it, and the flags of a noisy or within-the-noise figure
  assert.match(
    markdown,
    /\| control@b1 +\| +[0-9.]+ \[[0-9.]+, [0-9.]+\] \([0-9.e-]+, [0-9.]+x static( within noise)?\)( noisy)? \| +wrong +\|/,
  );
  const timed = report.results.find((r) => r.status === "timed")!;
  assert.ok(timed.warm!.p50Ci!.lowMs <= timed.warm!.p50Ms, "bench.json carries the interval");
  assert.ok(timed.warm!.p50Ms <= timed.warm!.p50Ci!.highMs);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench at a golden's own batch checks against the golden", async () => {
  const dir = await Deno.makeTempDir();
  await benchMain([
    "--case",
    "depthwise",
    "--min-samples",
    "2",
    "--budget-ms",
    "1",
    "--no-torch",
    "--no-roofline",
    "--json",
    `${dir}/b.json`,
    "--markdown",
    `${dir}/b.md`,
  ], { adapters: [referenceAdapter] });
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
  assert.equal(report.results[0].correctness?.checkedAgainst, "golden");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench rejects unknown sets and bad numbers by name", async () => {
  await assert.rejects(benchMain(["--set", "resnet"]), /Unknown set "resnet": the sets are/);
  await assert.rejects(benchMain(["--batch", "0"]), /Invalid --batch "0"/);
  await assert.rejects(benchMain(["--min-samples", "many"]), /Invalid --min-samples "many"/);
});

Deno.test("selectBenchCases: effnet-b0 is 13 layers at batch 1 and 8", async () => {
  const set = await loadFixtureSet();
  const cases = selectBenchCases(set.fixtures, ["effnet-b0"], [], []);
  assert.equal(cases.length, 26);
  assert.equal(cases.filter((c) => c.hasGolden).length, 13);
  assert.ok(selectBenchCases(set.fixtures, ["smoke"], [], []).length >= 3);
});

Deno.test("bench takes a software GPU from Availability.gpu, never from the info's text", async () => {
  const dir = await Deno.makeTempDir();
  const gpu = {
    vendor: "mesa",
    architecture: "",
    device: "",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
    isFallbackAdapter: null,
    software: true,
    timestampQuery: false,
    limits: {},
  };
  const posing = (
    id: string,
    availability: Awaited<ReturnType<typeof referenceAdapter.availability>>,
  ) => ({
    ...referenceAdapter,
    id,
    availability: () => Promise.resolve(availability),
  });
  const backend = (await referenceAdapter.availability() as { backend: string }).backend;
  await benchMain(
    ["--case", "control", "--min-samples", "3", "--budget-ms", "1", "--no-torch", "--no-static"]
      .concat(["--no-roofline"])
      .concat(["--json", `${dir}/bench.json`, "--markdown", `${dir}/bench.md`]),
    {
      adapters: [
        posing("soft", { available: true, backend, info: {}, gpu }),
        posing("text-only", { available: true, backend, info: { description: gpu.description } }),
      ],
    },
  );
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${dir}/bench.json`));
  const soft = report.adapters.find((a) => a.id === "soft")!;
  assert.equal(soft.softwareGpu, true);
  assert.deepEqual(soft.gpu, gpu);
  assert.equal(report.adapters.find((a) => a.id === "text-only")!.softwareGpu, false);
  assert.deepEqual(report.results.map((r) => [r.adapter, r.softwareGpu]), [
    ["soft", true],
    ["text-only", false],
  ]);
  assert.deepEqual(report.filters, {
    adapters: [],
    cases: ["control"],
    sets: [],
    batches: [],
    weights: null,
    goldenCases: (await loadFixtureSet()).fixtures.length,
    workarounds: true,
  });
});

Deno.test("bench --weights times a user's layer after checking it against PyTorch", async () => {
  const { hasTorch, exportReferenceLayer, SMALL_LAYER } = await import("./_testing/user_layer.ts");
  if (!await hasTorch()) return;
  const dir = await Deno.makeTempDir();
  const file = await exportReferenceLayer(dir, SMALL_LAYER);
  const status = await benchMain(["--weights", file, ...fastBench(dir)], {
    adapters: [referenceAdapter, wrong],
  });
  assert.equal(status, 1, "the wrong adapter fails the run");
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
  const [ok, bad] = report.results;
  assert.equal(ok.status, "timed");
  assert.equal(ok.correctness?.checkedAgainst, "pytorch");
  assert.equal(ok.goldenCase, "layer");
  assert.equal(bad.status, "wrong");
  await assert.rejects(
    benchMain(["--weights", file, "--set", "smoke"]),
    /Cannot combine --weights/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench runs each registered adapter in its own process by default", async () => {
  const dir = await Deno.makeTempDir();
  const status = await benchMain([
    ...["--case", "control", "--adapter", "reference", "--no-torch"],
    ...fastBench(dir),
  ]);
  assert.equal(status, 0);
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
  assert.equal(report.results.length, 1);
  assert.equal(report.results[0].status, "timed");
  assert.equal(report.adapters[0].backend, "typescript:float64");
  const leftovers = [...Deno.readDirSync("reports")].filter((e) =>
    e.name.startsWith(".bench-child-")
  );
  assert.deepEqual(leftovers, [], "the child's temporary report is removed");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench times a layer with its workaround named; --no-workarounds checks the raw variant", async (t) => {
  const dir = await Deno.makeTempDir();
  const adapters = [workingAround("patched", "made-up-bug: one more zero channel")];
  const bench = async (extra: string[]) => {
    const status = await benchMain(
      ["--case", "control", "--no-torch", "--no-static"]
        .concat([...extra, ...fastBench(dir)]),
      { adapters },
    );
    return { status, report: JSON.parse(await Deno.readTextFile(`${dir}/b.json`)) as BenchReport };
  };
  await t.step("workarounds on: timed, the row names the workaround", async () => {
    const { status, report } = await bench([]);
    assert.equal(status, 0);
    const [row] = report.results;
    assert.equal(row.status, "timed");
    assert.deepEqual(row.workarounds, ["made-up-bug: one more zero channel"]);
    assert.match(formatBenchRow(row), /static: not-measured \(workaround: made-up-bug\)$/);
  });
  await t.step("--no-workarounds: the raw variant is wrong, and no rule excuses it", async () => {
    const { status, report } = await bench(["--no-workarounds"]);
    assert.equal(status, 1);
    assert.equal(report.filters?.workarounds, false);
    const [row] = report.results;
    assert.equal(row.status, "wrong");
    assert.equal(row.knownFailure, undefined);
    assert.equal(row.workarounds, undefined);
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "bench --no-workarounds: ort-webgpu's raw Conv bug is a wrong row under its rule that " +
    "does not fail the run",
  sanitizeResources: false,
  async fn() {
    const backend = await oneWgpuBackend();
    if (!backend) return;
    const dir = await Deno.makeTempDir();
    const status = await benchMain([
      ...["--no-workarounds", "--adapter", "ort-webgpu", "--case", "channels-3-5-batch-2"],
      ...["--no-torch", "--no-static", ...backend, ...fastBench(dir)],
    ]);
    assert.equal(status, 0);
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${dir}/b.json`));
    assert.equal(report.filters?.workarounds, false);
    const [row] = report.results;
    assert.equal(row.status, "wrong", row.reason ?? "");
    assert.equal(row.knownFailure, "ort-webgpu-conv");
    assert.equal(row.correctness?.pass, false);
    assert.equal(row.warm, undefined, "a wrong layer is never timed");
    assert.match(formatBenchRow(row), / WRONG +known library bug ort-webgpu-conv /);
    await Deno.remove(dir, { recursive: true });
  },
});

/** A smoke bench's report and summary, with `flags` and `adapters` (in-process when given). */
async function smokeBench(flags: string[], adapters?: CondConvAdapter[]) {
  const dir = await Deno.makeTempDir();
  const status = await benchMain([
    ...["--set", "smoke", "--min-samples", "2", "--budget-ms", "1", "--no-static"],
    ...["--json", `${dir}/b.json`, "--markdown", `${dir}/b.md`, ...flags],
  ], adapters && { adapters });
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
  const markdown = await Deno.readTextFile(`${dir}/b.md`);
  await Deno.remove(dir, { recursive: true });
  return { status, report, markdown };
}

Deno.test("a smoke bench probes the machine first: a roofline on every timed CPU row", async () => {
  const { status, report, markdown } = await smokeBench([
    ...["--adapter", "reference", "--adapter", "ts", "--no-torch"],
  ]);
  assert.equal(status, 0);
  const limits = MachineLimits.parse(report.environment.machineLimits);
  assert.equal(limits.method.repetitions, 20, "the smoke set takes the short probe");
  const timed = report.results.filter((r) => r.status === "timed");
  assert.equal(timed.length, 2 * report.settings.cases.length);
  for (const r of timed) {
    assert.ok(r.roofline, `${r.adapter} ${r.case} has a roofline point`);
    assert.ok(r.roofline.percentOfCeiling > 0 && r.roofline.gflops > 0);
    assert.equal(r.roofline.compute, "scalarJs", "reference and ts are scalar JavaScript");
    assert.equal(r.roofline.threads, r.threads);
    assert.ok(Math.abs(r.roofline.gflops - r.gflops!) <= 1e-9 * r.gflops!);
  }
  const ts = report.adapters.find((a) => a.id === "ts")!;
  for (const r of timed) {
    const expected = r.adapter === "reference" ? 1 : ts.info!.workers;
    assert.equal(r.threads, expected, `${r.adapter}: threads from its info`);
  }
  assert.match(
    markdown,
    /\| reference +\| control@b2 +\| 1 \(reference: one thread\) +\| +[0-9.]+% \(/,
  );
  assert.match(markdown, /Measured limits on 1 \/ \d+ threads \(best of 20 rounds/);
});

Deno.test("a native adapter's rows carry their threads but no roofline point (no native peak is measured)", async () => {
  const native: CondConvAdapter = {
    ...referenceAdapter,
    id: "native-like",
    async availability() {
      const a = await referenceAdapter.availability();
      if (!a.available) return a;
      return { ...a, info: { ...a.info, threads: 2, native: "compiled kernels" } };
    },
  };
  const { report } = await smokeBench(["--no-torch"], [native, referenceAdapter]);
  const rows = report.results.filter((r) => r.status === "timed");
  for (const r of rows.filter((r) => r.adapter === "native-like")) {
    assert.equal(r.threads, 2, "its threads, for comparisons at equal threads");
    assert.equal(r.roofline, undefined, "no percent of a wasm or JavaScript peak");
  }
  assert.ok(rows.filter((r) => r.adapter === "reference").every((r) => r.roofline));
});

Deno.test("a GPU row gets no roofline; a static baseline gets its own; --no-roofline has none", async (t) => {
  const gpuLike: CondConvAdapter = {
    ...referenceAdapter,
    id: "gpu-like",
    toleranceClass: "webgpu",
  };
  const adapters = [referenceAdapter, gpuLike];
  await t.step("probed", async () => {
    const { report } = await smokeBench(["--no-torch", "--case", "control"], adapters);
    const rows = report.results.filter((r) => r.case === "control@b2");
    const [cpu, gpu] = rows;
    assert.equal(cpu.status, "timed");
    assert.equal(gpu.status, "timed");
    assert.ok(cpu.roofline!.percentOfCeiling > 0);
    assert.equal(gpu.roofline, undefined, "the CPU's limits say nothing of a GPU row");
    assert.equal(gpu.threads, undefined);
  });
  await t.step("with the static baseline, which places by its own FLOPs", async () => {
    const dir = await Deno.makeTempDir();
    await benchMain([
      ...["--set", "smoke", "--case", "control", "--min-samples", "2", "--budget-ms", "1"],
      ...["--no-torch", "--json", `${dir}/b.json`, "--markdown", `${dir}/b.md`],
    ], { adapters: [referenceAdapter] });
    const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(`${dir}/b.json`)));
    for (const r of report.results) {
      const s = r.static!;
      assert.equal(s.status, "timed");
      assert.ok(Math.abs(s.roofline!.gflops - s.gflops!) <= 1e-9 * s.gflops!);
      assert.ok(s.roofline!.arithmeticIntensity !== r.roofline!.arithmeticIntensity);
    }
    await Deno.remove(dir, { recursive: true });
  });
  await t.step("--no-roofline", async () => {
    const { report, markdown } = await smokeBench(["--no-torch", "--no-roofline"], adapters);
    assert.equal(report.environment.machineLimits, undefined);
    assert.ok(report.results.every((r) => r.roofline === undefined));
    assert.ok(report.results.some((r) => r.status === "timed"));
    assert.match(markdown, /The machine's limits were not measured \(`--no-roofline`\)/);
  });
});

Deno.test("PyTorch's baseline runs at each thread count; each row meets its own", async () => {
  const { hasTorch } = await import("./_testing/user_layer.ts");
  if (!await hasTorch()) {
    console.log("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
    return;
  }
  const { report, markdown } = await smokeBench([
    ...["--case", "control", "--no-roofline", "--torch-threads", "1", "--torch-threads", "2"],
  ], [referenceAdapter]);
  assert.equal(report.torch.status, "measured");
  if (report.torch.status !== "measured") return;
  assert.deepEqual(report.torch.runs!.map((r) => r.threads), [1, 2]);
  assert.equal(report.torch.threads, 2, "the run with the most threads stands for the baseline");
  for (const run of report.torch.runs!) assert.ok(run.results["control@b2"].condconvP50Ms > 0);
  assert.match(markdown, /runs at 1 and 2 threads/);
  assert.match(markdown, /\| reference +\| control@b2 +\| 1 \(reference: one thread\) .*\(1t\) \|/);
});

Deno.test("rowThreads, computeCeiling and torchRunFor follow their rules", () => {
  assert.deepEqual(rowThreads("reference", { workers: 4 }, 8), {
    threads: 1,
    from: "reference: one thread",
  });
  assert.deepEqual(rowThreads("ort-wasm", { wasmThreads: 2 }, 8).from, "info.wasmThreads");
  assert.deepEqual(rowThreads("tfjs-wasm", { threads: 1 }, 8), {
    threads: 1,
    from: "info.threads",
  });
  assert.deepEqual(rowThreads("ts", { threads: "the calling thread" }, 8), {
    threads: 8,
    from: "assumed: all cores",
  });
  assert.equal(computeCeiling("wasm"), "wasmSimd");
  assert.equal(computeCeiling("cpu"), "scalarJs");
  assert.equal(computeCeiling("exact"), "scalarJs");
  assert.equal(computeCeiling("webgpu"), undefined);
  assert.throws(() => computeCeiling("gpu"), /Invalid toleranceClass "gpu"/);
  const runs = [{ threads: 1, results: {} }, { threads: 4, results: {} }];
  assert.equal(torchRunFor(runs, 1)!.threads, 1);
  assert.equal(torchRunFor(runs, 3)!.threads, 4);
  assert.equal(torchRunFor(runs, undefined)!.threads, 4, "a GPU row meets the most threads");
  assert.equal(torchRunFor([], 1), undefined);
});

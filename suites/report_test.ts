import assert from "node:assert/strict";
import { fasterThanStaticWithinNoise } from "./report/noise.ts";
import { UsageError } from "./_shared/cli.ts";
import { reportMain } from "./report.ts";
import type { BencherMetrics, BenchmarkActionEntry } from "./report/export.ts";
import { buildMachines, gpusOf, parseResultFile, ReportInputError } from "./report/input.ts";
import { fmtMs, mdTable, wrap } from "./report/format.ts";
import { README_MARKERS, renderResultsMarkdown, replaceReadmeBlock } from "./report/markdown.ts";
import { makeRealRun } from "./report/_real_run.ts";
const README = `# Project

Intro text.

## Latest results

${README_MARKERS.start}
${README_MARKERS.end}

## After

Kept as it is.
`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("report renders RESULTS.md, both export formats, the page and the README block", async () => {
  const { dir, bench, conformance, benchReport } = await makeRealRun();
  const out = `${dir}/out`;
  const readme = `${dir}/README.md`;
  await Deno.writeTextFile(readme, README);
  const args = [
    ...["--input", bench, "--input", conformance],
    ...["--out-dir", out, "--publish", "--readme", readme],
  ];
  assert.equal(await reportMain(args), 0);

  const timed = benchReport.results[0];
  assert.equal(timed.case, "control@b2");
  assert.equal(timed.status, "timed");
  const p50 = timed.warm!.p50Ms;

  const results = await Deno.readTextFile(`${out}/RESULTS.md`);
  const env = benchReport.environment;
  assert.match(results, /^# condconv-bench results/);
  assert.ok(results.includes(`## machine-1: ${env.cpuModel}, ${env.logicalCores} logical cores`));
  assert.ok(results.includes(`Deno ${Deno.version.deno}, V8 ${Deno.version.v8}`));
  assert.ok(results.includes(`zod ${env.packages.zod}`), "package versions are listed");
  assert.match(results, /\*\*PyTorch CPU baseline\*\*: not measured \(--no-torch\)/);
  assert.match(
    results,
    /\| case +\| adapter +\| +p50 ms \| +p50 95% CI \| +min ms \| +p99 ms \| +max ms \| +GFLOP\/s \|/,
  );
  const row = results.split("\n").find((l) => l.startsWith("| control@b2 "));
  assert.ok(row, "the control case has a row");
  const cells = row.split("|").slice(1, -1).map((c) => c.trim());
  assert.equal(cells[1], "reference");
  assert.equal(cells[2], fmtMs(p50));
  const ci = timed.warm!.p50Ci!;
  assert.ok(ci.lowMs <= p50 && p50 <= ci.highMs, "the interval holds the p50");
  assert.equal(cells[3], `[${fmtMs(ci.lowMs)}, ${fmtMs(ci.highMs)}]`, "p50 95% CI");
  assert.deepEqual([cells[4], cells[6]], [fmtMs(timed.warm!.minMs), fmtMs(timed.warm!.maxMs)]);
  assert.ok(Number(cells[7]) > 0, "GFLOP/s");
  assert.equal(cells[8], "1.00x", "reference against itself");
  assert.equal(cells[9], "-", "no ts adapter measured");
  assert.match(cells[10], /^[0-9.]+x$/, "over static");
  assert.match(cells[12], /^pass \([0-9.]+ of tol\)$/, "conformance from the conformance file");
  assert.match(cells[13], /^[0-9.]+e[-+][0-9]+$/, "max abs err");
  const noisy = timed.warm!.p99Ms / p50 > 3;
  const interval = (w: typeof timed.warm) =>
    w && { p50Ms: w.p50Ms, lowMs: w.p50Ci?.lowMs, highMs: w.p50Ci?.highMs };
  // a reference run may come out faster than its static conv within the noise: flagged so
  const withinNoise = fasterThanStaticWithinNoise(
    interval(timed.warm),
    interval(timed.static?.warm),
  );
  const flags = [noisy ? "noisy" : "", withinNoise ? "x static within noise" : ""];
  assert.equal(cells[14] ?? "", flags.filter(Boolean).join(", "), "flags");
  assert.match(results, /`noisy` marks a timing whose p99 is more than 3x its p50/);
  assert.ok(!results.includes("software GPU"), "no software GPU on this run");

  const action: BenchmarkActionEntry[] = JSON.parse(
    await Deno.readTextFile(`${out}/benchmark-action.json`),
  );
  assert.equal(action.length, 1);
  assert.equal(action[0].name, "reference/control@b2");
  assert.equal(action[0].unit, "ms");
  assert.equal(action[0].value, p50);
  assert.equal(action[0].range, `95% CI ${fmtMs(ci.lowMs)} to ${fmtMs(ci.highMs)}`);
  assert.match(action[0].extra!, /p99 .* ms/);
  assert.deepEqual(Object.keys(action[0]).sort(), ["extra", "name", "range", "unit", "value"]);

  const bencher: BencherMetrics = JSON.parse(await Deno.readTextFile(`${out}/bencher.json`));
  assert.deepEqual(Object.keys(bencher), ["reference/control@b2"]);
  const latency = bencher["reference/control@b2"].latency;
  assert.deepEqual(Object.keys(latency).sort(), ["lower_value", "upper_value", "value"]);
  assert.ok(Math.abs(latency.value - p50 * 1e6) < 1, "nanoseconds");
  assert.ok(latency.lower_value! <= latency.value && latency.value <= latency.upper_value!);
  assert.ok(Math.abs(latency.upper_value! - timed.warm!.p99Ms * 1e6) < 1);

  const html = await Deno.readTextFile(`${out}/index.html`);
  assert.ok(html.includes(`<tr data-adapter="reference" data-case="control@b2"`));
  for (const lib of ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"]) {
    assert.ok(html.includes(`<script src="vendor/${lib}"></script>`));
    assert.ok((await Deno.stat(`${out}/vendor/${lib}`)).size > 10_000, `vendor/${lib} copied`);
  }
  const data = JSON.parse(/id="report-data">(.*?)<\/script>/s.exec(html)![1]);
  const targets = data.charts.map((c: { target: string }) => c.target);
  assert.deepEqual(targets, [
    "chart-machine-1-conformance",
    "chart-machine-1-0-times",
    "chart-machine-1-0-relative",
    "chart-machine-1-0-overhead",
  ]);
  assert.equal(data.charts[1].spec.data.values[0].p50Ms, p50);
  assert.equal(data.charts[1].spec.width, "container", "charts follow their container");
  assert.match(html, /<strong>Roofline: GFLOP\/s against FLOP\/byte<\/strong>: No roofline: no/);
  assert.match(html, /batch against batch<\/strong>: No layer of this set was timed at two/);
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), "nothing is loaded from the network");

  const first = await Deno.readTextFile(readme);
  assert.ok(first.startsWith("# Project\n\nIntro text.\n\n## Latest results\n\n"));
  assert.ok(first.endsWith(`${README_MARKERS.end}\n\n## After\n\nKept as it is.\n`));
  const block = first.slice(
    first.indexOf(README_MARKERS.start) + README_MARKERS.start.length,
    first.indexOf(README_MARKERS.end),
  );
  assert.ok(block.includes(`Newest bench run: ${env.cpuModel}`), "names the machine");
  assert.match(block, /\*\*selected cases\*\*: warm p50 per run in ms/);
  assert.match(block, /\| case +\| reference \|\n\| -+ \| -+: \|\n\| control@b2 \| +[0-9.]+ \|/);
  assert.ok(block.split("\n").every((l) => l.startsWith("|") || l.length <= 100));

  // Idempotent: a second run leaves the README as it is.
  assert.equal(await reportMain(args), 0);
  assert.equal(await Deno.readTextFile(readme), first);
});

Deno.test("report tells machines apart and labels software-GPU figures loudly", async () => {
  const { dir, bench, conformance } = await makeRealRun();
  const other = JSON.parse(await Deno.readTextFile(bench));
  // The same run as seen from another machine, one with a software WebGPU adapter.
  other.environment.cpuModel = "Other CPU";
  other.environment.date = "2999-01-01T00:00:00.000Z";
  other.adapters[0].softwareGpu = true;
  other.adapters[0].info = {
    gpu: { vendor: "mesa", architecture: "", device: "0", description: "llvmpipe (LLVM 15)" },
  };
  for (const r of other.results) r.softwareGpu = true;
  const otherPath = `${dir}/bench-other.json`;
  await Deno.writeTextFile(otherPath, JSON.stringify(other));
  const out = `${dir}/out-two`;
  assert.equal(
    await reportMain([
      "--input",
      bench,
      "--input",
      conformance,
      "--input",
      otherPath,
      "--out-dir",
      out,
    ]),
    0,
  );
  const results = await Deno.readTextFile(`${out}/RESULTS.md`);
  const first = results.indexOf("## machine-1: Other CPU");
  const second = results.indexOf(`## machine-2: ${
    JSON.parse(await Deno.readTextFile(bench))
      .environment.cpuModel
  }`);
  assert.ok(first > 0 && second > first, "newest bench run first");
  const section1 = results.slice(first, second);
  assert.match(section1, /Warning: software GPU/);
  assert.match(section1, /GPU: llvmpipe \(LLVM 15\) \(software adapter\)/);
  assert.match(section1, /\| control@b2 +\| reference \(software GPU\) \|/);
  assert.match(section1, /\| not run +\|/, "no conformance file from that machine");
  assert.ok(!results.slice(second).includes("software GPU"));
  assert.match(results.slice(second), /\| pass \(/);

  const action: BenchmarkActionEntry[] = JSON.parse(
    await Deno.readTextFile(`${out}/benchmark-action.json`),
  );
  assert.equal(action.length, 2);
  assert.equal(new Set(action.map((a) => a.name)).size, 2, "names stay unique");
  assert.ok(action.some((a) => a.name.includes("[Other CPU") && /software GPU/.test(a.extra!)));
  const html = await Deno.readTextFile(`${out}/index.html`);
  assert.match(html, /<div class="warning" role="alert"><strong>Warning: software GPU/);
  assert.match(html, /reference <span class="badge">software GPU<\/span>/);
});

Deno.test("every environment fact names its file; a bench-only run never borrows a GPU", async () => {
  const { dir, bench, conformance } = await makeRealRun();
  // An older conformance run on the same machine saw llvmpipe; the bench run saw no GPU.
  const older = JSON.parse(await Deno.readTextFile(conformance));
  older.environment.date = "2000-01-01T00:00:00.000Z";
  older.environment.gitCommit = "0123456789abcdef";
  older.adapters[0].info = {
    gpu: { vendor: "mesa", architecture: "", device: "0", description: "llvmpipe (LLVM 15)" },
  };
  const olderPath = `${dir}/conformance-older.json`;
  await Deno.writeTextFile(olderPath, JSON.stringify(older));
  const out = `${dir}/out-provenance`;
  assert.equal(await reportMain(["--input", bench, "--input", olderPath, "--out-dir", out]), 0);
  const results = await Deno.readTextFile(`${out}/RESULTS.md`);
  const heading = results.split("\n").find((l) => l.startsWith("## machine-1: "))!;
  assert.ok(
    heading.endsWith("GPU: llvmpipe (LLVM 15) (software adapter) [conformance]; none in bench"),
    heading,
  );
  const facts = results.slice(results.indexOf(heading), results.indexOf("Result files:"));
  const gpu = facts.slice(facts.indexOf("**GPU adapter**"), facts.indexOf("**packages**"))
    .replace(/\s+/g, " ");
  assert.ok(gpu.includes("differs between runs:"), gpu);
  assert.ok(gpu.includes(`none reported by any adapter (from bench \`${bench}\`)`), gpu);
  assert.ok(gpu.includes(`llvmpipe (LLVM 15) (software adapter) (from conformance \``), gpu);
  for (const fact of ["runtime", "CPU", "OS", "PyTorch CPU baseline", "machine limits"]) {
    const line = facts.slice(facts.indexOf(`**${fact}**`)).split("\n- ")[0];
    assert.match(line.replace(/\s+/g, " "), /\(from (bench|conformance) `/, `${fact} names a file`);
  }
  assert.match(facts.replace(/\s+/g, " "), /come from 2 runs at 2 commits: .*0123456789/);
  const html = await Deno.readTextFile(`${out}/index.html`);
  assert.match(html, /<p class="mixed" role="note">The figures of this machine come from 2 runs/);
  // the newest run's adapters use no GPU: no software-GPU warning borrowed from the older run
  assert.ok(!html.includes('class="warning"'));
});

Deno.test("older bench files get intervals from their samples; noisy and within-noise rows are flagged", async () => {
  const { bench, benchReport } = await makeRealRun();
  const old = structuredClone(benchReport);
  for (const r of old.results) {
    delete r.warm?.p50Ci;
    delete r.static?.warm?.p50Ci;
  }
  const [fresh] = buildMachines([parseResultFile(bench, JSON.stringify(benchReport))]);
  const [legacy] = buildMachines([parseResultFile(bench, JSON.stringify(old))]);
  const ci = benchReport.results[0].warm!.p50Ci!;
  assert.deepEqual(
    [legacy.rows[0].p50LowMs, legacy.rows[0].p50HighMs],
    [ci.lowMs, ci.highMs],
    "the same seeded bootstrap as bench's",
  );
  assert.deepEqual(legacy.rows[0], fresh.rows[0]);

  // A noisy timing that looks faster than its static convolution, within the noise.
  const flagged = structuredClone(benchReport);
  const warm = flagged.results[0].warm!, stat = flagged.results[0].static!.warm!;
  warm.p99Ms = warm.p50Ms * 4;
  Object.assign(stat, { p50Ms: warm.p50Ms * 1.02, p50Ci: { ...warm.p50Ci!, highMs: 1e9 } });
  flagged.results[0].overVsStatic = 1 / 1.02;
  const row = buildMachines([parseResultFile(bench, JSON.stringify(flagged))])[0].rows[0];
  assert.deepEqual([row.noisy, row.staticWithinNoise], [true, true]);
  const md = renderResultsMarkdown(
    buildMachines([parseResultFile(bench, JSON.stringify(flagged))]),
  );
  assert.match(md, /\| control@b2 .*\| noisy, x static within noise \|/);
});

Deno.test("report refuses a missing or invalid input and overwrites nothing", async () => {
  const { dir, bench, conformance } = await makeRealRun();
  const out = `${dir}/out-errors`;
  const readme = `${dir}/README-errors.md`;
  await Deno.writeTextFile(readme, README);
  const run = (...inputs: string[]) =>
    reportMain([
      ...inputs.flatMap((i) => ["--input", i]),
      ...["--out-dir", out, "--publish", "--readme", readme],
    ]);

  await assert.rejects(
    run(bench, `${dir}/missing.json`),
    (e: Error) =>
      e instanceof ReportInputError &&
      e.message === `Read result file "${dir}/missing.json": the file does not exist ` +
          "(run `deno task bench` or `deno task conform` first)",
  );
  const broken = JSON.parse(await Deno.readTextFile(bench));
  broken.results[0].warm.p50Ms = "fast";
  await Deno.writeTextFile(`${dir}/broken.json`, JSON.stringify(broken));
  await assert.rejects(
    run(conformance, `${dir}/broken.json`),
    (e: Error) =>
      e instanceof ReportInputError &&
      e.message.startsWith(`Fix result file "${dir}/broken.json": it is not a valid bench`) &&
      e.message.includes("→ at results[0].warm.p50Ms"),
  );
  await Deno.writeTextFile(`${dir}/kindless.json`, JSON.stringify({ results: [] }));
  await assert.rejects(
    run(`${dir}/kindless.json`),
    /Fix result file ".*kindless.json": its "kind" is missing, expected "bench"/,
  );
  await Deno.writeTextFile(`${dir}/truncated.json`, '{"kind": "bench"');
  await assert.rejects(run(`${dir}/truncated.json`), /Fix result file ".*": it is not JSON/);
  assert.equal(await exists(out), false, "nothing was written");
  assert.equal(await Deno.readTextFile(readme), README);

  // With earlier outputs present, a failing run leaves them alone.
  assert.equal(await run(bench), 0);
  const before = await Deno.readTextFile(`${out}/RESULTS.md`);
  const readmeBefore = await Deno.readTextFile(readme);
  await Deno.writeTextFile(`${dir}/README-no-markers.md`, "# Nothing to replace\n");
  await assert.rejects(
    reportMain([
      ...["--input", conformance, "--out-dir", out],
      ...["--publish", "--readme", `${dir}/README-no-markers.md`],
    ]),
    /Add the results markers to README ".*README-no-markers.md": the markers/,
  );
  await assert.rejects(run(`${dir}/broken.json`), ReportInputError);
  assert.equal(await Deno.readTextFile(`${out}/RESULTS.md`), before);
  assert.equal(await Deno.readTextFile(readme), readmeBefore);

  await assert.rejects(reportMain(["--inptu", bench]), UsageError);
  await assert.rejects(
    reportMain(["--input", bench, "--readme", readme, "--no-readme"]),
    /Choose one of --readme ".*" and --no-readme: not both/,
  );
  await assert.rejects(
    reportMain(["--input", bench, "--readme", readme]),
    /Add --publish to write a README: without it the report touches no tracked file/,
  );
});

Deno.test("report touches no tracked file unless --publish, and labels a filtered run", async () => {
  const { bench, conformance } = await makeRealRun();
  const tracked = ["README.md", "reports/RESULTS.md"];
  const before = await Promise.all(tracked.map((p) => Deno.readTextFile(p)));
  try {
    assert.equal(await reportMain(["--input", bench, "--input", conformance]), 0);
    assert.deepEqual(await Promise.all(tracked.map((p) => Deno.readTextFile(p))), before);
    const results = await Deno.readTextFile("reports/local/RESULTS.md");
    // conform ran --case control: 1 of the manifest's cases, never "every"
    const total = JSON.parse(await Deno.readTextFile(conformance)).filters.goldenCases;
    assert.ok(results.includes(`Conformance (1 of ${total} golden cases):`), results);
    assert.ok(!results.includes("every golden case"));
    const html = await Deno.readTextFile("reports/local/index.html");
    assert.ok(html.includes(`Conformance over 1 of ${total} golden cases:`));
  } finally {
    // what the report wrote, not the page test's screenshots beside it
    const written = ["RESULTS.md", "index.html", "vendor", "benchmark-action.json", "bencher.json"];
    for (const path of written) {
      await Deno.remove(`reports/local/${path}`, { recursive: true }).catch(() => {});
    }
    await Deno.remove("reports/local").catch(() => {}); // only when nothing else is there
  }
});

Deno.test("README markers are replaced in place, and only when they are sound", () => {
  const { start, end } = README_MARKERS;
  const once = replaceReadmeBlock(`a\n${start}\nold\n${end}\nb\n`, "new");
  assert.equal(once, `a\n${start}\n\nnew\n\n${end}\nb\n`);
  assert.equal(replaceReadmeBlock(once, "new"), once);
  assert.throws(() => replaceReadmeBlock("no markers", "x"), /are not both there/);
  assert.throws(() => replaceReadmeBlock(`${end}\n${start}`, "x"), /comes before/);
  assert.throws(() => replaceReadmeBlock(`${start}${start}${end}`, "x"), /once each/);
});

Deno.test("markdown tables and prose come out as deno fmt writes them", () => {
  assert.equal(
    mdTable(["case", "p50"], [["a", "1.5"], ["longer|x", "10.25"]], ["left", "right"]),
    "| case      |   p50 |\n| --------- | ----: |\n| a         |   1.5 |\n| longer\\|x | 10.25 |",
  );
  const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
  const lines = wrap(text).split("\n");
  assert.ok(lines.every((l) => l.length <= 100));
  assert.ok(lines.slice(0, -1).every((l, i) => `${l} ${lines[i + 1].split(" ")[0]}`.length > 100));
});

Deno.test("gpusOf takes Availability.gpu, and reads older files' info wherever it put one", () => {
  const gpu = { vendor: "v", architecture: "a", device: "d", description: "llvmpipe" };
  const summary = { ...gpu, isFallbackAdapter: null, timestampQuery: false, limits: {} };
  assert.deepEqual(gpusOf({ gpu: { ...summary, software: false }, info: { gpu } }), [
    { ...gpu, software: false },
  ]);
  assert.deepEqual(gpusOf({ info: { gpu } }), [{ ...gpu, software: true }]);
  assert.deepEqual(gpusOf({ info: { gpuAdapter: { ...gpu, description: "NVIDIA H100" } } }), [
    { ...gpu, description: "NVIDIA H100", software: false },
  ]);
  assert.equal(gpusOf({ info: { ...gpu, isFallbackAdapter: true } })[0].software, true);
  assert.deepEqual(gpusOf({ info: { threads: 1, wasm: { simd: true } } }), []);
});

Deno.test("a conformance file alone makes a machine without bench rows", async () => {
  const { conformance } = await makeRealRun();
  const file = parseResultFile(conformance, await Deno.readTextFile(conformance));
  const [machine] = buildMachines([file]);
  assert.equal(machine.rows.length, 0);
  assert.equal(machine.latestBenchDate, null);
});

Deno.test("an unknown CPU model joins a known one; two known models are two machines", async () => {
  const { bench, conformance } = await makeRealRun();
  const benchFile = parseResultFile(bench, await Deno.readTextFile(bench));
  const withCpu = (model: string | null) => {
    const file = parseResultFile(conformance, Deno.readTextFileSync(conformance));
    file.report.environment.cpuModel = model;
    return file;
  };
  const merged = buildMachines([benchFile, withCpu(null)]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0].cpuModel, benchFile.report.environment.cpuModel);
  assert.equal(merged[0].rows[0].conformance?.status, "pass");
  assert.equal(buildMachines([benchFile, withCpu("Another CPU")]).length, 2);
});

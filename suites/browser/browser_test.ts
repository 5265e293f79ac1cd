/**
 * Tests of `deno task browser`. The end-to-end test runs the task (a child process with the
 * task's own permissions) on two cases and three adapters in Debian's headless Chromium, and
 * checks both reports with their schemas; it is skipped, saying why, where
 * `/usr/bin/chromium` is missing.
 * @module
 */
import assert from "node:assert/strict";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import { loadTargets } from "../conform/run.ts";
import { UsageError } from "../_shared/cli.ts";
import { ConformReport } from "../results/conformance.ts";
import { BenchReport } from "../results/bench.ts";
import { browserMain } from "../browser.ts";
import { buildMachines, parseResultFile } from "../report/input.ts";
import { NoChromiumError, requireChromium } from "./driver.ts";
import { BrowserBenchReport, BrowserConformReport } from "./report.ts";
import { decodeTarget, encodeTarget } from "./targets.ts";

/** Chromium's version line, or why it cannot run (without read permission on /usr/bin). */
async function chromiumVersion(): Promise<{ version: string } | { reason: string }> {
  try {
    const out = await new Deno.Command("/usr/bin/chromium", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    return { version: new TextDecoder().decode(out.stdout).trim() };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { reason: "/usr/bin/chromium is missing (apt-get install -y chromium)" };
    }
    throw error;
  }
}

const chromium = await chromiumVersion();
if ("reason" in chromium) console.log(`browser_test: end-to-end test skipped: ${chromium.reason}`);

Deno.test("a target survives the trip to the page bit for bit", async () => {
  const set = await loadFixtureSet();
  const fixtures = set.fixtures.filter((f) =>
    ["routing-supplied-depthwise", "bias-per-expert"].includes(f.entry.id)
  );
  for (const target of await loadTargets(set, fixtures)) {
    const meta = { goldenCase: target.id, batch: 2, checkedAgainst: "golden" as const };
    const { target: back, bench } = decodeTarget(encodeTarget(target, meta));
    assert.deepEqual(bench, meta);
    assert.deepEqual(back, { ...target, outputShape: [...target.outputShape] });
    const bytes = encodeTarget(target);
    assert.throws(() => decodeTarget(bytes.slice(0, bytes.length - 4)), RangeError);
  }
});

Deno.test("a missing Chromium is a clear error naming the package", async () => {
  await assert.rejects(
    () => requireChromium("/tmp/no-such-dir-condconv/chromium"),
    (error: Error) =>
      error instanceof NoChromiumError && /apt-get install -y chromium/.test(error.message),
  );
});

Deno.test("bad flags are usage errors naming the flag", async () => {
  for (
    const [args, flag] of [
      [["--gpu", "metal"], "--gpu"],
      [["--ort-threads", "0"], "--ort-threads"],
      [["--tfjs-threads", "9"], "--tfjs-threads"],
      [["--runs", "two"], "--runs"],
    ] as const
  ) {
    await assert.rejects(
      () => browserMain([...args]),
      (error: Error) => error instanceof UsageError && error.message.includes(flag),
    );
  }
});

Deno.test({
  name:
    "deno task browser: conformance and bench reports of 4 adapters in Chromium, our wasm included",
  ignore: "reason" in chromium,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: "reports", prefix: ".test-browser-" });
    try {
      const conformJson = `${dir}/conformance.json`;
      const benchJson = `${dir}/bench.json`;
      const adapters = ["ts", "wasm", "ort-wasm", "wgsl"];
      const cases = ["control", "routing-supplied-depthwise"];
      const out = await new Deno.Command("deno", {
        args: [
          "task",
          "browser",
          ...adapters.flatMap((a) => ["--adapter", a]),
          ...cases.flatMap((c) => ["--case", c]),
          "--bench-case",
          "depthwise",
          "--runs",
          "3",
          "--warmup",
          "1",
          "--conform-json",
          conformJson,
          "--bench-json",
          benchJson,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, text);

      const conform = BrowserConformReport.parse(JSON.parse(await Deno.readTextFile(conformJson)));
      ConformReport.parse(conform); // what deno task report reads
      const env = conform.environment.browser;
      assert.match(env.name, /^chromium \d+$/);
      assert.equal(env.crossOriginIsolated, true, "COOP/COEP make the page isolated");
      assert.equal(env.executablePath, "/usr/bin/chromium");
      assert.equal(conform.summary.pass, adapters.length * cases.length, text);
      assert.deepEqual(
        conform.results.map((r) => `${r.adapter} ${r.case}`),
        adapters.flatMap((a) => cases.map((c) => `${a} ${c}`)),
      );
      for (const r of conform.results) {
        const expected = r.adapter === "wgsl" ? `${env.name} / dawn ` : env.name;
        assert.ok(r.implementation?.startsWith(expected), `${r.adapter}: ${r.implementation}`);
      }
      const ort = conform.adapters.find((a) => a.id === "ort-wasm")!;
      assert.equal(ort.info?.wasmThreads, env.threads.ort.running);
      assert.equal(env.threads.ort.running, env.threads.ort.requested);
      if (env.hardwareConcurrency.real > 1) {
        assert.ok(env.threads.ort.running! > 1, "ort-wasm runs threads in an isolated page");
        assert.ok(env.threads.ts.running! > 1, "ts runs workers");
      }
      if (!("reason" in env.gpu)) {
        const wgsl = conform.adapters.find((a) => a.id === "wgsl")!;
        assert.equal(wgsl.gpu?.vendor, env.gpu.vendor);
      }
      // deno task report shows the browser's rows apart from a Deno run on the same machine
      const text2 = await Deno.readTextFile(conformJson);
      const denoLike = JSON.parse(text2);
      delete denoLike.environment.browser;
      const machines = buildMachines([
        parseResultFile("browser.json", text2),
        parseResultFile("deno.json", JSON.stringify(denoLike)),
      ]);
      assert.equal(machines.length, 2);
      assert.ok(machines.some((m) => m.label.includes(`in ${env.name}`)));

      const bench = BrowserBenchReport.parse(JSON.parse(await Deno.readTextFile(benchJson)));
      BenchReport.parse(bench);
      assert.deepEqual(bench.settings.cases, ["depthwise@b1"]);
      for (const r of bench.results) {
        assert.equal(r.status, "timed", `${r.adapter}: ${r.reason}`);
        assert.equal(r.correctness?.pass, true);
        assert.equal(r.correctness?.checkedAgainst, "reference", "batch 1 is not the golden's");
        assert.equal(r.warm?.samples, 3);
        assert.ok(r.warm!.p50Ms > 0);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "deno task browser exits 1 on an error in the page (a call past --timeout-ms)",
  ignore: "reason" in chromium,
  async fn() {
    const dir = await Deno.makeTempDir({ dir: "reports", prefix: ".test-browser-" });
    try {
      const out = await new Deno.Command("deno", {
        args: [
          "task",
          "browser",
          "--no-build",
          "--no-bench",
          "--adapter",
          "ort-wasm",
          "--case",
          "control",
          "--timeout-ms",
          "1",
          "--conform-json",
          `${dir}/conformance.json`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, text);
      const report = BrowserConformReport.parse(
        JSON.parse(await Deno.readTextFile(`${dir}/conformance.json`)),
      );
      assert.equal(report.summary.error, 1, text);
      assert.match(report.results[0].reason ?? "", /1 ms/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

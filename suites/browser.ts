/**
 * `deno task browser`: the adapters in headless Chromium. Bundles them for the browser
 * (`browser/build.ts`), serves the page cross-origin isolated on 127.0.0.1
 * (`browser/server.ts`), drives Debian's `/usr/bin/chromium` with puppeteer-core
 * (`browser/driver.ts`; WebGPU on Dawn over SwiftShader), and runs there the conformance check
 * of `deno task conform` and a smoke benchmark (`browser/page.ts`). Writes
 * `reports/browser-conformance.json` and `reports/browser-bench.json`, of the same kinds as
 * conform and bench, which `deno task report --input` reads.
 *
 * Exit status: 0 when nothing failed, 1 on a fail or an error (a known library bug is
 * KNOWN-FAIL and does not fail the run), 2 on a bad flag, a bad fixture or no Chromium.
 * @module
 */
import { CALL_TIMEOUT_MS } from "./_shared/calls.ts";
import { loadTargets } from "./conform/run.ts";
import { formatResultRow, printConformSummary } from "./conform/print.ts";
import { selectBenchCases } from "./bench/cases.ts";
import { loadBenchCase } from "./bench/load.ts";
import { formatBenchRow } from "./bench/report.ts";
import { tolerancePolicy } from "./conform.ts";
import {
  integerFlag,
  MAX_TIMER_MS,
  parseTaskFlags,
  runMain,
  selectByIds,
  UsageError,
} from "./_shared/cli.ts";
import { describeEnvironment } from "./_shared/environment.ts";
import { FixtureError, loadFixtureSet } from "./_shared/fixtures.ts";
import { assertWritable, writeJsonAtomic } from "./_shared/files.ts";
import type { ConformResult } from "./results/conformance.ts";
import { emptySummary } from "./results/conformance.ts";
import type { BenchAdapter, BenchResult } from "./results/bench.ts";
import type { AdapterSummary } from "./results/adapter_summary.ts";
import type { ConformRun } from "./conform/run.ts";
import { buildPage, DIST_DIR } from "./browser/build.ts";
import { startServer } from "./browser/server.ts";
import {
  CHROMIUM,
  GPU_FLAGS,
  NoChromiumError,
  openPage,
  requireChromium,
} from "./browser/driver.ts";
import type { PageEnvironment } from "./browser/page.ts";
import type { PageBench } from "./browser/page_bench.ts";
import { encodeTarget } from "./browser/targets.ts";
import {
  BrowserBenchReport,
  BrowserConformReport,
  checked,
  runningThreads,
} from "./browser/report.ts";
import type { BrowserInfo } from "./results/environment.ts";

/** Where the reports go unless flags say otherwise. */
export const DEFAULT_CONFORM_JSON = "reports/browser-conformance.json";
export const DEFAULT_BENCH_JSON = "reports/browser-bench.json";

const USAGE = `deno task browser [--adapter <id or glob>]... [--case <id or glob>]...
                  [--no-conform] [--no-bench] [--set NAME]... [--bench-case <id or glob>]...
                  [--batch N] [--runs N] [--warmup N] [--gpu swiftshader|vulkan|none]
                  [--ort-threads N] [--tfjs-threads N] [--ts-workers N]
                  [--hardware-concurrency N] [--conform-json PATH] [--bench-json PATH]
                  [--timeout-ms MS] [--no-build]

Runs the adapters in headless Chromium (${CHROMIUM}, Debian's package: apt-get install -y
chromium; no browser is ever downloaded), in a cross-origin-isolated page served on 127.0.0.1.
  --adapter        only adapters whose id matches (repeatable; * and ? are wildcards)
  --case           conformance: only golden cases whose id matches (repeatable; default all)
  --no-conform     skip the conformance check
  --no-bench       skip the smoke benchmark
  --set            bench: case sets (repeatable; default smoke; see deno task bench --help)
  --bench-case     bench: golden cases to time besides the sets (repeatable)
  --batch          bench: the batch size (default 1; the reference gives the truth where it
                   is not the golden's own batch, as in deno task bench)
  --runs           bench: timed runs per adapter and case, after the check (default 20)
  --warmup         bench: untimed runs before them (default 3)
  --gpu            Chromium's WebGPU flags: swiftshader (default: Dawn on SwiftShader),
                   vulkan (Dawn's own choice of Vulkan adapter: a real GPU where there is
                   one; without one it still picks SwiftShader), none (no WebGPU: the WebGPU
                   adapters skip, saying why)
  --ort-threads    onnxruntime-web numThreads (default: the machine's logical cores)
  --tfjs-threads   tfjs-wasm XNNPACK threads (default: the logical cores, at most 8)
  --ts-workers     ts adapter workers (default: the logical cores)
  --hardware-concurrency
                   what navigator.hardwareConcurrency says in the page, set over the DevTools
                   protocol (default: twice --tfjs-threads where the machine has fewer logical
                   cores, since tfjs-wasm runs at most hardwareConcurrency / 2 threads; else
                   no override). The report's environment.browser says which was used
  --conform-json   where to write the conformance report (default ${DEFAULT_CONFORM_JSON})
  --bench-json     where to write the bench report (default ${DEFAULT_BENCH_JSON})
  --timeout-ms     time limit of one availability check, prepare or run (default ${CALL_TIMEOUT_MS})
  --no-build       use the page already built in ${DIST_DIR}/`;

/** The `browser` command; resolves to the exit status. */
export async function browserMain(args: string[]): Promise<number> {
  const flags = parseTaskFlags(args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    "no-conform": { type: "boolean" },
    "no-bench": { type: "boolean" },
    set: { type: "string", multiple: true },
    "bench-case": { type: "string", multiple: true },
    batch: { type: "string" },
    runs: { type: "string" },
    warmup: { type: "string" },
    gpu: { type: "string" },
    "ort-threads": { type: "string" },
    "tfjs-threads": { type: "string" },
    "ts-workers": { type: "string" },
    "hardware-concurrency": { type: "string" },
    "conform-json": { type: "string" },
    "bench-json": { type: "string" },
    "timeout-ms": { type: "string" },
    "no-build": { type: "boolean" },
  }, USAGE);
  if (!flags) return 0;
  const cores = navigator.hardwareConcurrency;
  const gpu = flags.gpu ?? "swiftshader";
  if (!Object.hasOwn(GPU_FLAGS, gpu)) {
    throw new UsageError(`Invalid --gpu "${gpu}": expected one of ${Object.keys(GPU_FLAGS)}`);
  }
  const threads = {
    ort: integerFlag(flags["ort-threads"], "ort-threads", cores, { max: 64 }),
    tfjs: integerFlag(flags["tfjs-threads"], "tfjs-threads", Math.min(8, cores), { max: 8 }),
    ts: integerFlag(flags["ts-workers"], "ts-workers", cores, { max: 64 }),
  };
  const pageCores = integerFlag(
    flags["hardware-concurrency"],
    "hardware-concurrency",
    Math.max(cores, 2 * threads.tfjs),
    { max: 256 },
  );
  const override = pageCores === cores
    ? null
    : flags["hardware-concurrency"] !== undefined
    ? `--hardware-concurrency ${pageCores}`
    : `tfjs-wasm runs at most hardwareConcurrency / 2 threads: told ${pageCores} so that it ` +
      `may run ${threads.tfjs}`;
  const timeoutMs = integerFlag(flags["timeout-ms"], "timeout-ms", CALL_TIMEOUT_MS, {
    max: MAX_TIMER_MS,
  });
  const bench = {
    batch: integerFlag(flags.batch, "batch", 1, { max: 1024 }),
    runs: integerFlag(flags.runs, "runs", 20, { max: 10_000 }),
    warmup: integerFlag(flags.warmup, "warmup", 3, { min: 0, max: 10_000 }),
  };
  const conformJson = flags["conform-json"] ?? DEFAULT_CONFORM_JSON;
  const benchJson = flags["bench-json"] ?? DEFAULT_BENCH_JSON;
  if (!flags["no-conform"]) await assertWritable(conformJson, "conform-json");
  if (!flags["no-bench"]) await assertWritable(benchJson, "bench-json");
  await requireChromium();

  // Every target is loaded and verified here, in Deno, before the browser starts.
  const set = await loadFixtureSet();
  const fixtures = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
  const conformTargets = flags["no-conform"]
    ? []
    : await loadTargets(set, selectByIds(fixtures, flags.case ?? [], "case"));
  const picked = selectByIds(fixtures, flags["bench-case"] ?? [], "bench-case")
    .filter(() => flags["bench-case"] !== undefined);
  // the smoke set unless --set or --bench-case says what to time
  const benchSets = flags.set ?? (picked.length > 0 ? [] : ["smoke"]);
  const benchCases = flags["no-bench"]
    ? []
    : selectBenchCases(set.fixtures, benchSets, picked, [bench.batch]);
  const loadedBench = [];
  for (const c of benchCases) loadedBench.push(await loadBenchCase(c, set));

  if (!flags["no-build"]) {
    console.log(`browser: built ${DIST_DIR}/ in ${(await buildPage()).toFixed(1)} s`);
  }
  const server = startServer(DIST_DIR);
  const conformUrls = conformTargets.map((t) => server.addTarget(encodeTarget(t)));
  const benchUrls = loadedBench.map((c) =>
    server.addTarget(encodeTarget(c.target, {
      goldenCase: c.goldenCase,
      batch: c.batch,
      checkedAgainst: c.checkedAgainst,
    }))
  );
  const query = new URLSearchParams({
    ortThreads: String(threads.ort),
    tfjsThreads: String(threads.tfjs),
    tsWorkers: String(threads.ts),
  });
  let opened;
  try {
    opened = await openPage({
      url: `${server.origin}/?${query}`,
      gpu,
      hardwareConcurrency: override === null ? undefined : pageCores,
      // one page.evaluate runs one adapter over every target: availability, then prepare,
      // run and dispose of each, every call bounded by --timeout-ms in the page, and the
      // bench's timed runs besides
      protocolTimeoutMs: Math.min(
        MAX_TIMER_MS,
        60_000 + timeoutMs * (1 + 3 * conformUrls.length +
              (3 + bench.warmup + bench.runs) * benchUrls.length),
      ),
    });
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  const { page, name } = opened;
  let failed = 0;
  try {
    const pageEnv: PageEnvironment = await page.evaluate(() =>
      globalThis.condconvBrowser.environment()
    );
    const allIds: string[] = await page.evaluate(() => globalThis.condconvBrowser.adapterIds);
    const ids = selectByIds(allIds.map((id) => ({ id })), flags.adapter ?? [], "adapter")
      .map((a) => a.id);
    const gpuLine = "reason" in pageEnv.gpu
      ? `no WebGPU (${pageEnv.gpu.reason})`
      : `WebGPU on ${pageEnv.gpu.architecture || pageEnv.gpu.description || pageEnv.gpu.vendor}`;
    console.log(
      `browser: ${name} (${opened.version}), ${
        pageEnv.crossOriginIsolated ? "cross-origin isolated" : "NOT cross-origin isolated"
      }, hardwareConcurrency ${pageEnv.hardwareConcurrency}, ${gpuLine}`,
    );
    const environment = async (adapters: readonly AdapterSummary[]) => ({
      ...await describeEnvironment(),
      browser: browserInfo(opened, pageEnv, cores, override, threads, adapters),
    });
    const filters = {
      adapters: flags.adapter ?? [],
      cases: flags.case ?? [],
      sets: [] as string[],
      batches: [] as number[],
      weights: null,
      goldenCases: set.fixtures.length,
    };

    if (!flags["no-conform"]) {
      console.log(`browser conform: ${ids.length} adapters x ${conformUrls.length} cases`);
      const run: ConformRun = { adapters: [], results: [], summary: emptySummary() };
      for (const id of ids) {
        const part: ConformRun = await page.evaluate(
          (urls, id, name, timeoutMs) =>
            globalThis.condconvBrowser.conform(urls, [id], name, timeoutMs),
          conformUrls,
          id,
          name,
          timeoutMs,
        );
        run.adapters.push(...part.adapters);
        run.results.push(...part.results);
        part.results.forEach((r: ConformResult) => console.log(formatResultRow(r)));
      }
      for (const r of run.results) run.summary[r.status]++;
      const report = checked(BrowserConformReport, {
        kind: "conformance",
        environment: await environment(run.adapters),
        filters,
        tolerancePolicy: tolerancePolicy(),
        ...run,
      }, "conformance");
      await writeJsonAtomic(conformJson, report);
      printConformSummary(run, conformJson);
      failed += run.summary.fail + run.summary.error;
    }

    if (!flags["no-bench"]) {
      console.log(
        `browser bench: ${ids.length} adapters x ${benchUrls.length} cases, ` +
          `${bench.warmup} warmup + ${bench.runs} timed runs each`,
      );
      const adapters: BenchAdapter[] = [];
      const results: BenchResult[] = [];
      for (const id of ids) {
        const part: PageBench = await page.evaluate(
          (urls, id, name, options) => globalThis.condconvBrowser.bench(urls, [id], name, options),
          benchUrls,
          id,
          name,
          { runs: bench.runs, warmup: bench.warmup, timeoutMs },
        );
        adapters.push(...part.adapters);
        results.push(...part.results);
        part.results.forEach((r) => console.log(formatBenchRow(r)));
      }
      const report = checked(BrowserBenchReport, {
        kind: "bench",
        environment: await environment(adapters),
        filters: {
          ...filters,
          cases: flags["bench-case"] ?? [],
          sets: benchSets,
          batches: [bench.batch],
        },
        settings: {
          sets: benchSets,
          cases: loadedBench.map((c) => c.id),
          minSamples: bench.runs,
          budgetMs: 0,
          torchThreads: null,
          readback: "every wall time includes reading the output back to the CPU; " +
            `${bench.warmup} warmup runs, then ${bench.runs} timed runs (no time budget)`,
        },
        adapters,
        results,
        torch: { status: "not-measured", reason: "the browser runner times the adapters only" },
      }, "bench");
      await writeJsonAtomic(benchJson, report);
      const bad = results.filter((r) =>
        r.status === "error" || (r.status === "wrong" && r.knownFailure === undefined)
      );
      console.log(
        `browser bench: ${results.filter((r) => r.status === "timed").length} timed, ` +
          `${bad.length} wrong or errors; report: ${benchJson}`,
      );
      failed += bad.length;
    }
    const pageErrors = opened.logs.filter((l) => l.startsWith("[pageerror]"));
    for (const line of pageErrors) console.log(`browser: page error: ${line}`);
  } finally {
    await opened.close();
    await server.shutdown();
  }
  return failed > 0 ? 1 : 0;
}

function browserInfo(
  opened: { name: string; version: string; flags: string[] },
  page: PageEnvironment,
  cores: number,
  override: string | null,
  threads: { ort: number; tfjs: number; ts: number },
  adapters: readonly AdapterSummary[],
): BrowserInfo {
  const running = (id: string, key: string) => runningThreads(adapters, id, key);
  return {
    name: opened.name,
    version: opened.version,
    executablePath: CHROMIUM,
    userAgent: page.userAgent,
    flags: opened.flags,
    crossOriginIsolated: page.crossOriginIsolated,
    sharedArrayBuffer: page.sharedArrayBuffer,
    hardwareConcurrency: { real: cores, page: page.hardwareConcurrency, override },
    threads: {
      ort: { requested: threads.ort, running: running("ort-wasm", "wasmThreads") },
      tfjs: { requested: threads.tfjs, running: running("tfjs-wasm", "threads") },
      ts: { requested: threads.ts, running: running("ts", "workers") },
    },
    gpu: page.gpu,
  };
}

if (import.meta.main) {
  await runMain(() => browserMain(Deno.args), [FixtureError, NoChromiumError]);
}

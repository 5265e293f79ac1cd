/**
 * The page of `deno task browser`, bundled for the browser by `build.ts` into
 * `reports/browser-dist/page.js`. It sets the adapters up for a bundled, cross-origin-isolated
 * page (where the wasm files are, how many threads, the `ts` worker's own bundle), then offers
 * `globalThis.condconvBrowser` for the driver to call with `page.evaluate`: the page's
 * environment, a conformance run (`conform/run.ts`, the same run as `deno task conform`) and
 * a smoke benchmark, every check through the one verify path (`_shared/verify.ts`).
 *
 * Page URL parameters (set by the driver): `ortThreads`, `tfjsThreads`, `tsWorkers`.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { ADAPTERS } from "../../impls/registry.ts";
import { configureOrt } from "../../impls/_ort/runtime.ts";
import { configureTfjsWasm } from "../../impls/tfjs_wasm.ts";
import { createWasmAdapter } from "../../impls/wasm.ts";
import { createTsAdapter } from "../../impls/ts.ts";
import { type GpuSummary, requestGpuAdapter } from "../../impls/_webgpu.ts";
import { type ConformRun, runConformance } from "../conform/run.ts";
import type { AdapterSummary } from "../results/adapter_summary.ts";
import type { CheckTarget } from "../_shared/verify.ts";
import { type BenchMeta, decodeTarget } from "./targets.ts";
import { benchInPage, type BenchOptions, type PageBench } from "./page_bench.ts";

const params = new URLSearchParams(location.search);
const isolated = globalThis.crossOriginIsolated === true;

function threadParam(name: string): number {
  const value = params.get(name);
  const n = Number(value);
  if (value === null || !Number.isInteger(n) || n < 1) {
    throw new RangeError(`Invalid page parameter ${name}: "${value}", expected a whole number`);
  }
  return n;
}

const threads = {
  ort: threadParam("ortThreads"),
  tfjs: threadParam("tfjsThreads"),
  ts: threadParam("tsWorkers"),
};

// Where build.ts put the files the libraries fetch at run time: beside this bundle.
const here = (path: string) => new URL(path, import.meta.url).href;
configureOrt({ numThreads: threads.ort, wasmPaths: here("./ort/") });
configureTfjsWasm({ wasmPaths: here("./tfjs-wasm/"), threads: threads.tfjs });

/**
 * The registry's adapters, `ts` and `wasm` re-made to start their workers from their own
 * bundles (and `wasm` to fetch its kernels from beside this one).
 */
const adapters: CondConvAdapter[] = ADAPTERS.map((a) =>
  a.id === "ts"
    ? createTsAdapter({ id: "ts", workers: threads.ts, workerUrl: here("./ts_worker.js") })
    : a.id === "wasm"
    ? createWasmAdapter({
      id: "wasm",
      threads: threads.ts,
      workerUrl: here("./wasm_worker.js"),
      moduleUrl: here("./wasm/condconv.wasm"),
    })
    : a
);

/** What the page says about itself. */
export interface PageEnvironment {
  userAgent: string;
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  hardwareConcurrency: number;
  /** the thread counts the page asked each engine for */
  threadsRequested: { ort: number; tfjs: number; ts: number };
  /** the GPU adapter `navigator.gpu` gives, or why there is none */
  gpu: GpuSummary | { reason: string };
}

async function environment(): Promise<PageEnvironment> {
  const probe = await requestGpuAdapter();
  return {
    userAgent: navigator.userAgent,
    crossOriginIsolated: isolated,
    sharedArrayBuffer: typeof SharedArrayBuffer === "function",
    hardwareConcurrency: navigator.hardwareConcurrency,
    threadsRequested: threads,
    gpu: "gpu" in probe ? probe.gpu : { reason: probe.reason },
  };
}

async function loadTarget(url: string): Promise<{ target: CheckTarget; bench?: BenchMeta }> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status} ${response.statusText}`);
  return decodeTarget(new Uint8Array(await response.arrayBuffer()));
}

function pick(ids: readonly string[]): CondConvAdapter[] {
  return adapters.filter((a) => ids.includes(a.id));
}

/**
 * Where an adapter ran, as every row records it: the browser (`chromium 156`), and for a
 * WebGPU adapter Dawn on its GPU adapter (`chromium 156 / dawn swiftshader`).
 */
function implementationOf(browser: string) {
  return (summary: AdapterSummary): string => {
    const gpu = summary.gpu;
    if (!gpu) return summary.toleranceClass === "webgpu" ? `${browser} / dawn` : browser;
    return `${browser} / dawn ${gpu.architecture || gpu.description || gpu.vendor}`;
  };
}

/** A conformance run of `ids` on the targets at `urls`, as `deno task conform` runs it. */
async function conform(
  urls: string[],
  ids: string[],
  browser: string,
  timeoutMs: number,
): Promise<ConformRun> {
  const targets: CheckTarget[] = [];
  for (const url of urls) targets.push((await loadTarget(url)).target);
  return await runConformance({
    adapters: pick(ids),
    targets,
    timeoutMs,
    implementationOf: implementationOf(browser),
  });
}

/** The smoke benchmark of `ids` on the bench targets at `urls`. */
async function bench(
  urls: string[],
  ids: string[],
  browser: string,
  options: BenchOptions,
): Promise<PageBench> {
  const cases = [];
  for (const url of urls) {
    const { target, bench } = await loadTarget(url);
    if (!bench) throw new Error(`${url} is no bench target`);
    cases.push({ target, ...bench });
  }
  return await benchInPage(pick(ids), cases, implementationOf(browser), options);
}

/** What the driver calls. */
export interface CondConvBrowser {
  adapterIds: string[];
  environment: typeof environment;
  conform: typeof conform;
  bench: typeof bench;
}

declare global {
  var condconvBrowser: CondConvBrowser;
}

globalThis.condconvBrowser = {
  adapterIds: adapters.map((a) => a.id),
  environment,
  conform,
  bench,
};
document.title = "condconv ready";

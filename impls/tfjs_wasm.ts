/**
 * `tfjs-wasm`: CondConv on TensorFlow.js's WebAssembly backend
 * (`@tensorflow/tfjs-backend-wasm`, XNNPACK kernels). See `_tfjs/adapter.ts`.
 *
 * ## Where the `.wasm` files are
 * By default the binaries are loaded from the package's own `dist/` folder, found with
 * `import.meta.resolve` (a `file:` URL under Deno, read with read permission only). A browser
 * page cannot resolve the package that way: it calls `configureTfjsWasm({ wasmPaths })` with
 * the URL of the folder it serves them from, before the adapter's first `availability()` or
 * `prepare()`:
 *
 * ```ts ignore
 * import { configureTfjsWasm, tfjsWasmAdapter } from "./impls/tfjs_wasm.ts";
 * configureTfjsWasm({ wasmPaths: new URL("/wasm/tfjs/", location.href).href });
 * const availability = await tfjsWasmAdapter.availability();
 * ```
 *
 * ## Threads
 * tfjs turns WebAssembly threads off whenever it detects Node.js, which includes Deno's Node
 * compatibility (`WASM_HAS_MULTITHREAD_SUPPORT` is then false), so this backend runs the SIMD
 * binary on one thread under Deno. In a cross-origin-isolated page (SharedArrayBuffer
 * available) it loads the threaded binary, whose XNNPACK pool has as many threads as
 * `configureTfjsWasm({ threads })` asks, or by default the most tfjs allows:
 * `min(8, navigator.hardwareConcurrency / 2)` (`info.threadsMax`; so 1 on a 2-core
 * machine). The thread count the backend really uses (`getThreadsCount()`) is
 * `availability().info.threads`; asking for more threads than the runtime gives makes the
 * adapter unavailable, with the reason, rather than silently running fewer.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { getThreadsCount, setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createTfjsAdapter, type TfjsAdapter } from "./_tfjs/adapter.ts";

/** The three binaries tfjs-wasm chooses from (SIMD and threads support decide which). */
export const TFJS_WASM_BINARIES = [
  "tfjs-backend-wasm.wasm",
  "tfjs-backend-wasm-simd.wasm",
  "tfjs-backend-wasm-threaded-simd.wasm",
] as const;

/** Settings that tfjs-wasm reads once, when its backend initialises. */
export interface TfjsWasmConfig {
  /**
   * Where the `.wasm` files are: the URL of their folder, ending in `/`, or the URL of each
   * binary by its name (`TFJS_WASM_BINARIES`). Default: the package's `dist/` folder, found
   * with `import.meta.resolve` (works in Deno, not in a browser page).
   */
  wasmPaths?: string | Readonly<Record<(typeof TFJS_WASM_BINARIES)[number], string>>;
  /**
   * XNNPACK threads to ask for, at least 1 and at most `min(8, hardwareConcurrency / 2)`.
   * More than 1 needs wasm threads (a cross-origin-isolated page; never Deno). Default:
   * tfjs's own choice, which is that most.
   */
  threads?: number;
}

let config: TfjsWasmConfig = {};
/** The settings handed to tfjs, once `setup` has run (tfjs reads them only once). */
let applied: { wasmPaths: string | Record<string, string> } | undefined;

/**
 * Tells tfjs-wasm where its `.wasm` files are and how many threads to use. Call it before
 * the adapter's first `availability()` or `prepare()`. Throws a `TypeError` or `RangeError`
 * naming a bad field, and an `Error` once the backend has been set up (tfjs reads these
 * settings only when it initialises the backend).
 */
export function configureTfjsWasm(next: TfjsWasmConfig): void {
  const { wasmPaths, threads } = next;
  if (typeof wasmPaths === "string") {
    if (!wasmPaths.endsWith("/")) {
      throw new TypeError(
        `Cannot configure tfjs-wasm: wasmPaths must be a folder URL ending in "/", got ` +
          `"${wasmPaths}"`,
      );
    }
  } else if (wasmPaths !== undefined) {
    const missing = TFJS_WASM_BINARIES.filter((name) => typeof wasmPaths[name] !== "string");
    if (typeof wasmPaths !== "object" || wasmPaths === null || missing.length > 0) {
      throw new TypeError(
        `Cannot configure tfjs-wasm: wasmPaths must be a folder URL or give the URL of each ` +
          `binary; missing: ${missing.map((name) => `"${name}"`).join(", ")}`,
      );
    }
  }
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    throw new RangeError(
      `Cannot configure tfjs-wasm: threads must be a whole number of at least 1, got ${threads}`,
    );
  }
  if (applied !== undefined || tf.engine().registry["wasm"] !== undefined) {
    throw new Error(
      "Cannot configure tfjs-wasm: its backend is already set up (call configureTfjsWasm " +
        "before the adapter's first availability() or prepare())",
    );
  }
  config = { ...next };
}

/**
 * The most threads tfjs-wasm 4.22 gives XNNPACK: its `init_with_threads_count` caps the count
 * at 8 (the web workers it pre-creates) and at `navigator.hardwareConcurrency / 2` (it takes
 * half the logical cores to be physical ones); 1 where wasm threads are off.
 */
function mostThreads(multithread: boolean): number {
  if (!multithread) return 1;
  const logicalCores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
  return Math.min(8, Math.max(1, Math.floor(logicalCores / 2)));
}

/** Why wasm threads are off here. */
function whyThreadsOff(): string {
  return tf.env().getBool("IS_NODE")
    ? "tfjs disables wasm threads when it detects Node.js (Deno included)"
    : "wasm threads need SharedArrayBuffer (a cross-origin-isolated page)";
}

/** Why tfjs-wasm cannot use `threads` threads here, or `undefined`. */
function threadsProblem(threads: number, multithread: boolean): string | undefined {
  const most = mostThreads(multithread);
  if (threads <= most) return undefined;
  if (!multithread) return `cannot use ${threads} threads: ${whyThreadsOff()}`;
  return `cannot use ${threads} threads: tfjs-wasm gives XNNPACK at most min(8, ` +
    `navigator.hardwareConcurrency / 2) = ${most} here`;
}

/** Hands the configuration to tfjs once, before the backend starts. */
async function setUpWasm(): Promise<string | undefined> {
  if (config.threads !== undefined) {
    const multithread = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT") === true;
    const problem = threadsProblem(config.threads, multithread);
    if (problem !== undefined) return problem;
  }
  if (applied === undefined) {
    let wasmPaths = config.wasmPaths;
    if (wasmPaths === undefined) {
      try {
        wasmPaths = new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href;
      } catch (error) {
        return `cannot locate @tensorflow/tfjs-backend-wasm's .wasm files (` +
          `${error instanceof Error ? error.message : error}); a browser page names their ` +
          `folder with configureTfjsWasm({ wasmPaths })`;
      }
    }
    setWasmPaths(wasmPaths);
    if (config.threads !== undefined) setThreadsCount(config.threads);
    applied = { wasmPaths: typeof wasmPaths === "string" ? wasmPaths : { ...wasmPaths } };
  }
  return undefined;
}

/** A reason when the backend runs another thread count than the one asked for. */
function checkThreads(): string | undefined {
  const threads = getThreadsCount();
  if (config.threads === undefined || threads === config.threads) return undefined;
  return `tfjs-wasm runs ${threads} thread(s), not the ${config.threads} asked for`;
}

async function describeWasm() {
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") === true;
  const multithread = await tf.env().getAsync("WASM_HAS_MULTITHREAD_SUPPORT") === true;
  const binary = TFJS_WASM_BINARIES[simd ? (multithread ? 2 : 1) : 0];
  return {
    wasmPaths: applied?.wasmPaths,
    wasmBinary: binary,
    simd,
    multithreadSupported: multithread,
    threads: getThreadsCount(),
    threadsAsked: config.threads ?? "tfjs default",
    threadsMax: mostThreads(multithread),
    threadsNote: multithread
      ? "XNNPACK thread pool on web workers"
      : `single-threaded: ${whyThreadsOff()}`,
  };
}

/** The `tfjs-wasm` adapter. */
export const tfjsWasmAdapter: TfjsAdapter = createTfjsAdapter({
  id: "tfjs-wasm",
  description: "TensorFlow.js 4.22, wasm backend (XNNPACK, float32)",
  toleranceClass: "wasm",
  backendName: "wasm",
  setup: setUpWasm,
  checkActive: checkThreads,
  initHint: () => `the .wasm files were looked for at ${JSON.stringify(applied?.wasmPaths)}`,
  describe: describeWasm,
});

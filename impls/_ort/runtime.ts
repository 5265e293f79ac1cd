/**
 * Loading onnxruntime-web for the `ort-*` adapters: the module, its WebAssembly, and for
 * WebGPU the execution provider's device, proven by a probe session; and the session options
 * that keep every node on the one EP asked for.
 *
 * ## No silent fallback
 *
 * onnxruntime-web drops an execution provider (EP) that fails to initialise with a warning and
 * runs the next one, and ONNX Runtime places every node its EPs cannot run on the CPU EP. So:
 * - each session gets exactly one EP;
 * - WebGPU sessions also set `session.disable_cpu_ep_fallback`, so session creation fails
 *   when any node would land on the CPU, instead of running it there;
 * - WebGPU needs `navigator.gpu` and an adapter, checked before anything else; after every
 *   session is created, `ort.env.webgpu.device` (which onnxruntime-web sets only when its
 *   WebGPU EP made a session) must be a `GPUDevice`, the one the probe session got. The
 *   adapter that device came from (`GPUDevice.adapterInfo`) is recorded field by field (its
 *   fields are getters). The EP's own device is used rather than one made here: with a device
 *   passed in `{name: "webgpu", device}`, onnxruntime-web 1.30 never reports the device back,
 *   so the check above would have nothing to check.
 *
 * ## Which WebGPU kernels run: the native EP, not JSEP
 *
 * onnxruntime-web 1.30 ships two WebGPU implementations: JSEP (kernels written in TypeScript,
 * in the `.jsep` wasm build) and the native WebGPU EP (the C++ EP of
 * `onnxruntime/core/providers/webgpu`, compiled into the `.asyncify` build). Which one runs
 * is decided by the entry point, not by a session option. `ort-webgpu` imports
 * `onnxruntime-web/webgpu`, whose `import` export is `dist/ort.webgpu.bundle.min.mjs`: that
 * bundle names only `ort-wasm-simd-threaded.asyncify.{mjs,wasm}` and initialises the EP with
 * the module's `webgpuInit` (no `jsepInit`). The plain `onnxruntime-web` entry gives browsers
 * `dist/ort.bundle.min.mjs`, which loads the `.jsep` build (JSEP); under Deno it resolves
 * through the `node` condition to `dist/ort.node.min.mjs`, which has no WebGPU at all. So
 * `ort-webgpu` runs the native EP everywhere; `impls/_ort/adapter_test.ts` checks the bundle
 * it resolves, and the info records it (`webgpuKernels`, `webgpuKernelsSource`).
 *
 * ## WebAssembly threads: one
 *
 * `env.wasm.numThreads` is set to 1 explicitly. With more threads, onnxruntime-web 1.30 loads
 * `ort-wasm-simd-threaded.mjs` through a `blob:` URL whenever the file is not same-origin
 * with `location.origin`, and Deno has no `location` (without `--location`, which only takes
 * http(s) URLs) while `file:` URLs have an opaque origin, so every path counts as
 * cross-origin. What was tried: (1) the default bundle: `import()` of the `blob:` URL fails
 * inside an npm package (`ERR_UNSUPPORTED_ESM_URL_SCHEME`: only file and data URLs);
 * (2) `env.wasm.wasmPaths` as a `file://` prefix to `node_modules/onnxruntime-web/dist/`, and
 * as `{mjs, wasm}`: the same `blob:` import, since the cross-origin check comes first;
 * (3) importing `dist/ort.wasm.min.mjs` by path: Deno still treats it as npm code, same error;
 * (4) a stand-in `globalThis.location`: onnxruntime-web uses `location.origin` both as a URL
 * base and for the same-origin comparison, and a file URL's origin `"null"` is no valid base.
 * The limit is recorded in the adapter info (`wasmThreads`, `wasmThreadsLimit`).
 * @module
 */
import type { GpuSummary } from "../adapter.ts";
import { requestGpuAdapter, summarizeGpuAdapter } from "../_webgpu.ts";
import {
  buildCondConvOnnx,
  INPUT_NAME,
  ONNX_OPSET,
  OUTPUT_NAME,
} from "../../condconv/formats/onnx_graph.ts";

/** The onnxruntime-web module (every entry point has the same API). */
export type Ort = typeof import("onnxruntime-web/wasm");
export type Session = import("onnxruntime-web/wasm").InferenceSession;
type SessionOptions = import("onnxruntime-web/wasm").InferenceSession.SessionOptions;

/** Why `env.wasm.numThreads` is 1 (see the module doc). */
export const WASM_THREADS_LIMIT =
  "numThreads > 1 needs onnxruntime-web to import its worker script from a blob: URL, " +
  "which Deno refuses inside npm packages (ERR_UNSUPPORTED_ESM_URL_SCHEME); set to 1";

/** Settings onnxruntime-web reads once, when a runtime starts (see `configureOrt`). */
export interface OrtRuntimeConfig {
  /**
   * `env.wasm.numThreads` of both onnxruntime-web adapters, at least 1. Default 1, the only
   * count that works under Deno (see the module doc); a cross-origin-isolated page can use
   * more. The info's `wasmThreads` is the count onnxruntime-web kept after the first session
   * (it falls back to 1 where wasm threads cannot run).
   */
  numThreads?: number;
  /**
   * `env.wasm.wasmPaths`: the folder URL, ending in `/`, serving `ort-wasm-simd-threaded*.mjs`
   * and `.wasm`. Default: beside the onnxruntime-web entry point. A bundled page must set it.
   */
  wasmPaths?: string;
}

let runtimeConfig: OrtRuntimeConfig = {};
let runtimeStarted = false;

/**
 * Configures the runtime of `ort-wasm` and `ort-webgpu`. Call it before either adapter's
 * first `availability()` or `prepare()`; a `TypeError`/`RangeError` names a bad field, an
 * `Error` says the runtime has already started.
 */
export function configureOrt(next: OrtRuntimeConfig): void {
  const { numThreads, wasmPaths } = next;
  if (numThreads !== undefined && (!Number.isInteger(numThreads) || numThreads < 1)) {
    throw new RangeError(
      `Cannot configure onnxruntime-web: numThreads must be a whole number of at least 1, ` +
        `got ${numThreads}`,
    );
  }
  if (wasmPaths !== undefined && (typeof wasmPaths !== "string" || !wasmPaths.endsWith("/"))) {
    throw new TypeError(
      `Cannot configure onnxruntime-web: wasmPaths must be a folder URL ending in "/", got ` +
        `"${wasmPaths}"`,
    );
  }
  if (runtimeStarted) {
    throw new Error(
      "Cannot configure onnxruntime-web: a runtime has already started (call configureOrt " +
        "before the adapters' first availability() or prepare())",
    );
  }
  runtimeConfig = { ...next };
}

/** Which WebGPU implementation of onnxruntime-web runs, and how that was determined. */
export const WEBGPU_KERNELS = {
  webgpuKernels: "native",
  webgpuKernelsSource: "the onnxruntime-web/webgpu entry (dist/ort.webgpu.bundle.min.mjs) " +
    "loads only ort-wasm-simd-threaded.asyncify.wasm and starts the EP with webgpuInit: the " +
    "native C++ WebGPU EP; JSEP (.jsep.wasm, jsepInit) is the plain entry's browser bundle",
} as const;

/** What a runtime is loaded for. */
export interface RuntimeSpec {
  /** the one execution provider sessions get */
  executionProvider: "wasm" | "webgpu";
  /** the WebAssembly build the entry point loads (from beside itself, `import.meta.url`) */
  wasmArtifact: string;
  /** the onnxruntime-web entry point, as a thunk so that loading it is lazy */
  load(): Promise<Ort>;
}

/** A runtime ready to create sessions: the module, and for WebGPU the EP's device. */
export interface Runtime {
  ort: Ort;
  executionProvider: "wasm" | "webgpu";
  backend: string;
  info: Record<string, unknown>;
  /** the GPU adapter the WebGPU EP's device came from */
  gpu?: GpuSummary;
  /** the device the WebGPU EP created (read from `ort.env.webgpu.device`) */
  device?: GPUDevice;
  /** the WebGPU probe session, never released (it holds the EP's device) */
  keepAlive?: Session;
}

/** An error's name and message (`"RangeError: ..."`); a non-error as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Options of every session on `executionProvider`: exactly one EP, no CPU fallback. */
export function ortSessionOptions(executionProvider: "wasm" | "webgpu"): SessionOptions {
  if (executionProvider === "wasm") {
    return { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  }
  return {
    executionProviders: ["webgpu"],
    graphOptimizationLevel: "all",
    extra: { session: { disable_cpu_ep_fallback: "1" } },
  };
}

/** Fails clearly where WebGPU cannot run; returns the adapter `requestAdapter()` gives. */
async function requireGpuAdapter(): Promise<GPUAdapter> {
  const probe = await requestGpuAdapter();
  if ("reason" in probe) throw new Error(`Cannot use WebGPU: ${probe.reason}`);
  return probe.adapter;
}

/**
 * The smallest CondConv model (1 channel, 1x1, one expert) run once to prove the EP works:
 * routing `sigmoid(0) = 0.5` mixes the expert kernel 2 into 1, so the output equals the input.
 */
function probeModel(): Uint8Array<ArrayBuffer> {
  return buildCondConvOnnx(
    {
      inChannels: 1,
      outChannels: 1,
      kernelSize: 1,
      stride: 1,
      padding: 0,
      dilation: 1,
      paddingMode: "zeros",
      groups: 1,
      bias: "none",
      numExperts: 1,
      routing: { kind: "sigmoid" },
      dropoutRate: 0,
    },
    {
      expertKernels: new Float32Array([2]),
      routingWeight: new Float32Array([0]),
      routingBias: new Float32Array([0]),
    },
    { height: 1, width: 1, batch: 1 },
  ).bytes;
}

/**
 * The device the WebGPU EP ran the last session created on, or an error when there is none.
 * onnxruntime-web sets `env.webgpu.device` when a session on its own device is created.
 */
async function deviceInUse(ort: Ort): Promise<GPUDevice> {
  const device = await ort.env.webgpu.device;
  if (typeof GPUDevice === "undefined" || !(device instanceof GPUDevice)) {
    throw new Error(
      "Cannot verify the WebGPU EP: ort.env.webgpu.device is not a GPUDevice after the " +
        `session was created (got "${String(device)}")`,
    );
  }
  return device;
}

/** Checks that a new session really runs on the runtime's EP (for WebGPU: the same device). */
export async function verifySession(runtime: Runtime): Promise<void> {
  if (runtime.executionProvider !== "webgpu") return;
  if (await deviceInUse(runtime.ort) !== runtime.device) {
    throw new Error(
      "Cannot verify the WebGPU EP: the session got another device than the probe session",
    );
  }
}

/** Loads onnxruntime-web and proves its EP with a probe session. */
async function init(spec: RuntimeSpec): Promise<Runtime> {
  runtimeStarted = true;
  const ort = await spec.load();
  const numThreads = runtimeConfig.numThreads ?? 1;
  ort.env.wasm.numThreads = numThreads;
  if (runtimeConfig.wasmPaths !== undefined) ort.env.wasm.wasmPaths = runtimeConfig.wasmPaths;
  ort.env.logLevel = "error";
  const ep = spec.executionProvider;
  const info: Record<string, unknown> = {
    onnxruntimeWeb: ort.env.versions.web,
    onnxruntimeCommon: ort.env.versions.common,
    executionProvider: ep,
    wasmArtifact: spec.wasmArtifact,
    opset: ONNX_OPSET,
    wasmThreadsRequested: numThreads,
    wasmThreads: numThreads,
    wasmThreadsLimit: WASM_THREADS_LIMIT,
    ...(runtimeConfig.wasmPaths !== undefined ? { wasmPaths: runtimeConfig.wasmPaths } : {}),
    ...(ep === "webgpu" ? WEBGPU_KERNELS : {}),
  };
  const requested = ep === "webgpu" ? await requireGpuAdapter() : undefined;
  const result: Runtime = { ort, executionProvider: ep, backend: `onnxruntime-web:${ep}`, info };
  const probe = await ort.InferenceSession.create(probeModel(), ortSessionOptions(ep));
  try {
    if (requested) {
      const device = result.device = await deviceInUse(ort);
      // GPUDevice.adapterInfo names the adapter the EP really used; the adapter
      // requestAdapter() gives here is the fallback where a runtime lacks it
      const used = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
      result.gpu = summarizeGpuAdapter(requested, used ?? requested.info);
      info.gpuAdapterSource = used ? "GPUDevice.adapterInfo" : "navigator.gpu.requestAdapter()";
      info.cpuFallback = "disabled (session.disable_cpu_ep_fallback = 1)";
    }
    // onnxruntime-web sets numThreads back to 1 (with a warning) where threads cannot run
    info.wasmThreads = ort.env.wasm.numThreads;
    if (ort.env.wasm.numThreads !== 1) delete info.wasmThreadsLimit;
    const input = new ort.Tensor("float32", new Float32Array([3]), [1, 1, 1, 1]);
    const output = (await probe.run({ [INPUT_NAME]: input }))[OUTPUT_NAME];
    if ((output.data as Float32Array)[0] !== 3) {
      throw new Error(`Cannot trust the probe session: it returned ${output.data}, expected 3`);
    }
  } catch (error) {
    await probe.release();
    throw error;
  }
  if (requested) {
    // The WebGPU EP destroys its device when its last session is released and makes a new
    // one (shader caches empty) for the next: the probe session stays open to keep one
    // device, the one every layer's session is checked to run on.
    result.keepAlive = probe;
  } else {
    await probe.release();
  }
  return result;
}

/**
 * A lazy loader of one runtime: the first call loads it, later calls share it, and a failed
 * load is tried again by the next call.
 */
export function runtimeLoader(spec: RuntimeSpec): () => Promise<Runtime> {
  let runtime: Promise<Runtime> | undefined;
  return () => {
    if (!runtime) {
      // onnxruntime-web's Emscripten glue runs `global.Worker = require("worker_threads")
      // .Worker` wherever `process.versions.node` exists (Deno included), and a web-style
      // worker started through that class never loads (the ts adapter's prepare then waits
      // forever): put the web Worker back once the runtime is up (1 thread: ort needs none)
      const webWorker = globalThis.Worker;
      runtime = init(spec).finally(() => {
        if (globalThis.Worker !== webWorker) globalThis.Worker = webWorker;
      });
      runtime.catch(() => {
        runtime = undefined;
      });
    }
    return runtime;
  };
}

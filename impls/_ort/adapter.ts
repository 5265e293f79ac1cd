/**
 * Shared code of the onnxruntime-web adapters (`ort-wasm`, `ort-webgpu`): the CondConv layer
 * is exported to ONNX by `onnx_graph.ts` and run by one `InferenceSession` per input shape.
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
 * ## Sessions
 *
 * `prepare` validates the weights and initialises the runtime (wasm instantiated, GPU device
 * made, a probe session run). The model depends on the input's spatial size, and for kernels
 * larger than 1x1 on the batch size too (`onnx_graph.ts`, `chooseFormulation`: one grouped
 * `Conv` with `group = batch x groups`, measured faster than the dynamic-batch formulation
 * there; 1x1 layers are one dynamic-batch `MatMul`), so the session for a shape is created by
 * the first `run` that needs it and reused by the next ones; `dispose` releases them all.
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
import type { CondConvSpec, CondConvWeights, Tensor } from "../../condconv/spec.ts";
import { checkRunInputs, checkWeights, type Geometry } from "../../condconv/geometry.ts";
import type {
  Availability,
  CondConvAdapter,
  GpuSummary,
  PreparedCondConv,
  ToleranceClass,
} from "../adapter.ts";
import { requestGpuAdapter, summarizeGpuAdapter } from "../_webgpu.ts";
import {
  buildCondConvOnnx,
  buildStaticConvOnnx,
  checkStaticConvWeights,
  chooseFormulation,
  INPUT_NAME,
  type KernelMixing,
  ONNX_OPSET,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
} from "../../condconv/formats/onnx_graph.ts";

/** The onnxruntime-web module (every entry point has the same API). */
export type Ort = typeof import("onnxruntime-web/wasm");
type Session = import("onnxruntime-web/wasm").InferenceSession;
type SessionOptions = import("onnxruntime-web/wasm").InferenceSession.SessionOptions;
type OrtTensor = import("onnxruntime-web/wasm").Tensor;

/** Why `env.wasm.numThreads` is 1 (see the module doc). */
export const WASM_THREADS_LIMIT =
  "numThreads > 1 needs onnxruntime-web to import its worker script from a blob: URL, " +
  "which Deno refuses inside npm packages (ERR_UNSUPPORTED_ESM_URL_SCHEME); set to 1";

/** What differs between the two adapters. */
export interface OrtFlavor {
  id: string;
  description: string;
  toleranceClass: ToleranceClass;
  /** the one execution provider sessions get */
  executionProvider: "wasm" | "webgpu";
  /** how the expert kernels are mixed on this EP (measured: see `onnx_graph.ts`) */
  kernelMixing: KernelMixing;
  /** the WebAssembly build the entry point loads (from beside itself, `import.meta.url`) */
  wasmArtifact: string;
  /** the onnxruntime-web entry point, as a thunk so that loading it is lazy */
  load(): Promise<Ort>;
}

/** A runtime ready to create sessions: the module, and for WebGPU the EP's device. */
interface Runtime {
  ort: Ort;
  backend: string;
  info: Record<string, unknown>;
  /** the GPU adapter the WebGPU EP's device came from */
  gpu?: GpuSummary;
  /** the device the WebGPU EP created (read from `ort.env.webgpu.device`) */
  device?: GPUDevice;
  /** the WebGPU probe session, never released (it holds the EP's device) */
  keepAlive?: Session;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Fails clearly where WebGPU cannot run; returns the adapter `requestAdapter()` gives. */
async function requireGpuAdapter(): Promise<GPUAdapter> {
  const probe = await requestGpuAdapter();
  if ("reason" in probe) throw new Error(`Cannot use WebGPU: ${probe.reason}`);
  return probe.adapter;
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

/** Checks that a session really runs on the flavor's EP (for WebGPU: on the same device). */
async function verifySession(flavor: OrtFlavor, runtime: Runtime): Promise<void> {
  if (flavor.executionProvider !== "webgpu") return;
  if (await deviceInUse(runtime.ort) !== runtime.device) {
    throw new Error(
      "Cannot verify the WebGPU EP: the session got another device than the probe session",
    );
  }
}

/**
 * Creates the CondConv adapter of one onnxruntime-web flavor. The runtime is loaded on the
 * first `availability()` or `prepare()` and shared by all layers the adapter prepares.
 */
export function makeOrtAdapter(flavor: OrtFlavor): CondConvAdapter {
  let runtime: Promise<Runtime> | undefined;
  let liveSessions = 0;

  const init = async (): Promise<Runtime> => {
    const ort = await flavor.load();
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    const info: Record<string, unknown> = {
      onnxruntimeWeb: ort.env.versions.web,
      onnxruntimeCommon: ort.env.versions.common,
      executionProvider: flavor.executionProvider,
      wasmArtifact: flavor.wasmArtifact,
      opset: ONNX_OPSET,
      kernelMixing: flavor.kernelMixing,
      formulation: "1x1 kernels: im2col-matmul, one dynamic-batch session per input size; " +
        "other kernels: grouped-conv, one session per batch and input size",
      wasmThreads: 1,
      wasmThreadsLimit: WASM_THREADS_LIMIT,
    };
    const requested = flavor.executionProvider === "webgpu" ? await requireGpuAdapter() : undefined;
    const result: Runtime = {
      ort,
      backend: `onnxruntime-web:${flavor.executionProvider}`,
      info,
    };
    const probe = await ort.InferenceSession.create(
      probeModel(),
      ortSessionOptions(flavor.executionProvider),
    );
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
  };

  const ready = (): Promise<Runtime> => {
    if (!runtime) {
      // onnxruntime-web's Emscripten glue runs `global.Worker = require("worker_threads")
      // .Worker` wherever `process.versions.node` exists (Deno included), and a web-style
      // worker started through that class never loads (the ts adapter's prepare then waits
      // forever): put the web Worker back once the runtime is up (1 thread: ort needs none)
      const webWorker = globalThis.Worker;
      runtime = init().finally(() => {
        if (globalThis.Worker !== webWorker) globalThis.Worker = webWorker;
      });
      runtime.catch(() => {
        runtime = undefined;
      });
    }
    return runtime;
  };

  /** Validates a run's inputs and gives their geometry. */
  type CheckInputs = (input: Tensor, routingWeights?: Float32Array) => Geometry;
  /** Which session a geometry needs (its key), and how to build its model. */
  type ModelFor = (g: Geometry) => { key: string; build: () => Uint8Array<ArrayBuffer> };

  /** A layer on onnxruntime-web: one session per model key, made by the first run needing it. */
  class OrtLayer implements PreparedCondConv {
    readonly backend: string;
    #runtime: Runtime;
    #check: CheckInputs;
    #model: ModelFor;
    #sessions = new Map<string, Promise<Session>>();
    #disposed = false;

    constructor(rt: Runtime, check: CheckInputs, model: ModelFor) {
      this.#runtime = rt;
      this.#check = check;
      this.#model = model;
      this.backend = rt.backend;
    }

    #session(g: Geometry): Promise<Session> {
      const { key, build } = this.#model(g);
      let session = this.#sessions.get(key);
      if (!session) {
        const rt = this.#runtime;
        session = rt.ort.InferenceSession.create(
          build(),
          ortSessionOptions(flavor.executionProvider),
        )
          .then(async (created) => {
            liveSessions++;
            try {
              await verifySession(flavor, rt);
            } catch (error) {
              await created.release();
              liveSessions--;
              throw error;
            }
            return created;
          });
        this.#sessions.set(key, session);
        session.catch(() => this.#sessions.delete(key));
      }
      return session;
    }

    async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
      if (this.#disposed) throw new TypeError("Cannot run: the layer was disposed");
      const g = this.#check(input, routingWeights);
      const session = await this.#session(g);
      const { ort } = this.#runtime;
      const feeds: Record<string, OrtTensor> = {
        [INPUT_NAME]: new ort.Tensor("float32", input.data, [...input.shape]),
      };
      if (routingWeights) {
        feeds[ROUTING_INPUT_NAME] = new ort.Tensor("float32", routingWeights, [
          g.batch,
          g.numExperts,
        ]);
      }
      const outputs = await session.run(feeds);
      const output = outputs[OUTPUT_NAME];
      const data = output.data;
      if (!(data instanceof Float32Array)) {
        throw new TypeError(`Cannot read the output: expected float32 data, got "${output.type}"`);
      }
      for (const tensor of Object.values(outputs)) tensor.dispose();
      return { shape: [...output.dims], data };
    }

    async dispose(): Promise<void> {
      if (this.#disposed) return;
      this.#disposed = true;
      const sessions = [...this.#sessions.values()];
      this.#sessions.clear();
      for (const pending of sessions) {
        let session: Session;
        try {
          session = await pending;
        } catch {
          continue; // never created: nothing to release
        }
        await session.release();
        liveSessions--;
      }
    }
  }

  return {
    id: flavor.id,
    description: flavor.description,
    toleranceClass: flavor.toleranceClass,
    async availability(): Promise<Availability> {
      try {
        const rt = await ready();
        return { available: true, backend: rt.backend, info: { ...rt.info }, gpu: rt.gpu };
      } catch (error) {
        return { available: false, reason: messageOf(error) };
      }
    },
    async prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<PreparedCondConv> {
      checkWeights(spec, weights);
      const formulation = chooseFormulation(spec);
      return new OrtLayer(
        await ready(),
        (input, routingWeights) => checkRunInputs(spec, input, routingWeights),
        (g) => {
          // a dynamic batch where it costs nothing (1x1), else a session per batch size
          const batch = formulation === "im2col-matmul" ? "dynamic" : g.batch;
          return {
            key: `${batch}x${g.inHeight}x${g.inWidth}`,
            build: () =>
              buildCondConvOnnx(spec, weights, {
                height: g.inHeight,
                width: g.inWidth,
                batch,
                formulation,
                kernelMixing: flavor.kernelMixing,
              }).bytes,
          };
        },
      );
    },
    async prepareStatic(
      spec: CondConvSpec,
      kernel: Float32Array,
      bias?: Float32Array,
    ): Promise<PreparedCondConv> {
      checkStaticConvWeights(spec, kernel, bias);
      // the spec's geometry with computed routing: run() then refuses routing weights
      const geometrySpec: CondConvSpec = { ...spec, routing: { kind: "sigmoid" } };
      return new OrtLayer(
        await ready(),
        (input, routingWeights) => checkRunInputs(geometrySpec, input, routingWeights),
        (g) => ({
          key: `${g.inHeight}x${g.inWidth}`, // an ordinary Conv: any batch
          build: () =>
            buildStaticConvOnnx(spec, kernel, bias, { height: g.inHeight, width: g.inWidth })
              .bytes,
        }),
      );
    },
    resourceCounts() {
      return { ortSessions: liveSessions };
    },
  };
}

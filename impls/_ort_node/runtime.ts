/**
 * Loading onnxruntime-node for `ort-node`: the module (a Node-API addon, imported only here,
 * lazily, so that a browser page that imports the registry never fetches it), its CPU
 * execution provider proven by a probe session, and the session options.
 *
 * ## Where it runs
 *
 * In Deno (2.9 tested) and Node. Deno loads the addon through its Node-API support, which
 * needs FFI permission for the `.node` file: the conform and bench children of `ort-node`
 * get `--allow-ffi=<that file>` and no other child gets any (`suites/_shared/child.ts`).
 * Without it, or in a browser page (no Node-API), or on a platform the package ships no
 * addon for, availability says why; there is no fallback.
 *
 * ## Threads
 *
 * `intraOpNumThreads` is the adapter's thread count (default: every core,
 * `navigator.hardwareConcurrency`); `interOpNumThreads` is 1 and the execution mode
 * sequential (a CondConv graph is a chain: nothing to run in parallel across nodes).
 * Idle pool threads spin-wait, onnxruntime's default, as a user would have it, unless
 * `spinning: false` makes them sleep (`session.intra_op.allow_spinning = 0`). On this
 * project's machine (2 cores shared with other processes, load average 16-19) neither was
 * faster by a margin above the noise: the lowest times favoured spinning, the medians of
 * three runs varied either way (`timing.ts`).
 * @module
 */
import { buildStaticConvOnnx, INPUT_NAME, OUTPUT_NAME } from "../../condconv/formats/onnx_graph.ts";
import { messageOf } from "../_ort/runtime.ts";
import { CondConvSpec } from "../../condconv/spec.ts";

/** The onnxruntime-node module. */
export type OrtNode = typeof import("onnxruntime-node");
/** One onnxruntime-node session. */
export type NodeSession = import("onnxruntime-node").InferenceSession;
type SessionOptions = import("onnxruntime-node").InferenceSession.SessionOptions;

/** The package, imported by name at run time (see `load`). */
const ORT_NODE_PACKAGE: string = "onnxruntime-node";

/** The version of onnxruntime-node this project pins (`deno.json`). */
export const ORT_NODE_VERSION = "1.30.0";

/** How the sessions use threads. */
export interface NodeThreads {
  /** intra-op threads */
  threads: number;
  /** whether idle intra-op threads spin-wait (onnxruntime's default) rather than sleep */
  spinning: boolean;
}

/** A loaded onnxruntime-node, ready to create sessions. */
export interface NodeRuntime {
  ort: OrtNode;
  threads: NodeThreads;
  backend: string;
  info: Record<string, unknown>;
}

/** Options of every `ort-node` session: the CPU EP alone, the threads asked for. */
export function nodeSessionOptions({ threads, spinning }: NodeThreads): SessionOptions {
  return {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
    // flattened by the binding into the config entry "session.intra_op.allow_spinning"
    extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
  };
}

/**
 * Why onnxruntime-node cannot load in this JavaScript runtime, or `undefined` where it may
 * (one with Node's `process.versions.node`: Deno and Node; a browser page has none).
 */
export function runtimeProblem(global: { process?: { versions?: { node?: unknown } } }) {
  if (typeof global.process?.versions?.node === "string") return undefined;
  return "onnxruntime-node is a Node-API addon: it runs in Deno or Node, not in a browser page";
}

/** A 1x1 convolution of one channel by the kernel 2: the probe's output is twice its input. */
function probeModel(): Uint8Array<ArrayBuffer> {
  const spec = CondConvSpec.parse({ inChannels: 1, outChannels: 1, kernelSize: 1, bias: "none" });
  const model = buildStaticConvOnnx(spec, new Float32Array([2]), undefined, {
    height: 1,
    width: 1,
  });
  return model.bytes;
}

async function load(threads: NodeThreads): Promise<NodeRuntime> {
  const problem = runtimeProblem(globalThis as Parameters<typeof runtimeProblem>[0]);
  if (problem) throw new Error(problem);
  let ort: OrtNode;
  try {
    // a computed specifier: a browser bundler (`deno bundle --platform browser` of the page
    // that imports the registry) then leaves the addon's package out instead of failing on it
    ort = await import(ORT_NODE_PACKAGE);
  } catch (error) {
    throw new Error(`Cannot load onnxruntime-node's native addon: ${messageOf(error)}`);
  }
  const backends = ort.listSupportedBackends().map((b) => b.name);
  if (!backends.includes("cpu")) {
    throw new Error(`onnxruntime-node offers no CPU execution provider here (${backends})`);
  }
  const probe = await ort.InferenceSession.create(probeModel(), nodeSessionOptions(threads));
  try {
    const input = new ort.Tensor("float32", new Float32Array([3]), [1, 1, 1, 1]);
    const output = (await probe.run({ [INPUT_NAME]: input }))[OUTPUT_NAME];
    if ((output.data as Float32Array)[0] !== 6) {
      throw new Error(`Cannot trust the probe session: it returned ${output.data}, expected 6`);
    }
  } finally {
    await probe.release();
  }
  return {
    ort,
    threads,
    backend: "onnxruntime-node:cpu",
    info: {
      onnxruntimeNode: ort.env.versions.node,
      onnxruntimeCommon: ort.env.versions.common,
      executionProvider: "cpu",
      supportedBackends: backends,
      threads: threads.threads,
      intraOpNumThreads: threads.threads,
      intraOpSpinning: threads.spinning,
      interOpNumThreads: 1,
      executionMode: "sequential",
    },
  };
}

/** A lazy loader: the first call loads, later calls share it, a failed load is tried again. */
export function nodeRuntimeLoader(threads: NodeThreads): () => Promise<NodeRuntime> {
  let runtime: Promise<NodeRuntime> | undefined;
  return () => {
    if (!runtime) {
      runtime = load(threads);
      runtime.catch(() => runtime = undefined);
    }
    return runtime;
  };
}

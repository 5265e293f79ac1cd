/**
 * `ort-node`: the CondConv layer exported to ONNX (`condconv/formats/onnx_graph.ts`, the same
 * graphs as `ort-wasm`) and run by onnxruntime-node 1.30 (native ONNX Runtime) on its CPU
 * execution provider, with `intraOpNumThreads` = every core unless asked otherwise. It is what
 * a server-side Deno or Node user would pick, and the suite's native anchor (issue 17).
 *
 * It is not runtime-neutral: it needs Node-API (Deno or Node) and, in Deno, FFI permission for
 * the addon's one file, which conform and bench give its child alone
 * (`suites/_shared/child.ts`). onnxruntime-node is imported lazily (`_ort_node/runtime.ts`),
 * so a browser page that imports the registry loads nothing of it and is told why it cannot
 * run. Kernel mixing is `matmul`, as on `ort-wasm` (the other CPU EP).
 * @module
 */
import type { CondConvSpec, CondConvWeights } from "../condconv/spec.ts";
import type { Availability, CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import { defineAdapter } from "./_contract.ts";
import { messageOf } from "./_ort/runtime.ts";
import {
  condConvModels,
  formulationInfo,
  type LayerModels,
  staticConvModels,
} from "./_ort/formulation.ts";
import { nodeRuntimeLoader, ORT_NODE_VERSION } from "./_ort_node/runtime.ts";
import { type LiveSessions, OrtNodeLayer } from "./_ort_node/layer.ts";

export { ORT_NODE_VERSION };

/** Options of an `ort-node` adapter. */
export interface OrtNodeOptions {
  /** intra-op threads of every session; default: every core (`navigator.hardwareConcurrency`) */
  threads?: number;
  /** idle intra-op threads spin-wait (default `true`, onnxruntime's); `false`: they sleep */
  spinning?: boolean;
}

function threadsOf(options: OrtNodeOptions): number {
  const threads = options.threads ?? globalThis.navigator?.hardwareConcurrency ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Invalid threads: expected a positive integer, got ${threads}`);
  }
  return threads;
}

/**
 * An `ort-node` adapter with its own thread count (throws a `RangeError` naming `threads` for
 * anything but a positive integer). Its id is `ort-node` whatever the count; the info records it.
 */
export function createOrtNodeAdapter(options: OrtNodeOptions = {}): CondConvAdapter {
  const threads = threadsOf(options);
  const ready = nodeRuntimeLoader({ threads, spinning: options.spinning ?? true });
  const live: LiveSessions = { live: 0 };
  const layer = async (models: LayerModels): Promise<PreparedCondConv> =>
    new OrtNodeLayer(await ready(), models, live);
  return defineAdapter({
    id: "ort-node", // the id `suites/_shared/native_addon.ts` grants FFI to
    description:
      `ONNX model of the layer on onnxruntime-node ${ORT_NODE_VERSION}, native CPU EP, ` +
      `${threads} intra-op thread${threads === 1 ? "" : "s"}`,
    toleranceClass: "cpu",
    async availability(): Promise<Availability> {
      try {
        const rt = await ready();
        const info = {
          ...rt.info,
          // bench gives its rows no roofline point: the probe measures wasm and JavaScript
          native: "compiled CPU kernels (MLAS), not wasm or JavaScript",
          kernelMixing: "matmul",
          // ort-wasm's cells, so that both run the same ONNX graph on every case
          formulation: `as ort-wasm, the same graphs: ${formulationInfo("ort-wasm")}`,
        };
        return { available: true, backend: rt.backend, info };
      } catch (error) {
        return { available: false, reason: messageOf(error) };
      }
    },
    // defineAdapter parses the spec and hands over copies of the weights
    prepare(spec: CondConvSpec, weights: CondConvWeights): Promise<PreparedCondConv> {
      return layer(condConvModels(spec, weights, {
        kernelMixing: "matmul",
        workarounds: false,
        tableBackend: "ort-wasm", // the same graphs as ort-wasm, whose cells were measured
      }));
    },
    prepareStatic(spec: CondConvSpec, kernel: Float32Array, bias?: Float32Array) {
      return layer(staticConvModels(spec, kernel, bias, { workarounds: false }));
    },
    resourceCounts() {
      return { ortSessions: live.live };
    },
  });
}

/** The `ort-node` adapter, on every core. */
export const ortNodeAdapter: CondConvAdapter = createOrtNodeAdapter();

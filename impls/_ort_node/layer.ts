/**
 * A CondConv layer on onnxruntime-node: the same models as the onnxruntime-web layers
 * (`../_ort/formulation.ts`: one dynamic-batch session per input size for 1x1 kernels, one
 * per batch and input size otherwise), each session made by the first run that needs it.
 * @module
 */
import type { Tensor } from "../../condconv/spec.ts";
import { INPUT_NAME, OUTPUT_NAME, ROUTING_INPUT_NAME } from "../../condconv/formats/onnx_graph.ts";
import type { PreparedCondConv } from "../adapter.ts";
import type { LayerModels } from "../_ort/formulation.ts";
import { type NodeRuntime, type NodeSession, nodeSessionOptions } from "./runtime.ts";

type NodeTensor = import("onnxruntime-node").Tensor;

/** Live sessions of one adapter, for `resourceCounts`. */
export interface LiveSessions {
  live: number;
}

/** A layer on onnxruntime-node's CPU EP. */
export class OrtNodeLayer implements PreparedCondConv {
  readonly backend: string;
  #rt: NodeRuntime;
  #models: LayerModels;
  #live: LiveSessions;
  #byKey = new Map<string, Promise<NodeSession>>();
  #disposed = false;

  constructor(rt: NodeRuntime, models: LayerModels, live: LiveSessions) {
    this.#rt = rt;
    this.#models = models;
    this.#live = live;
    this.backend = rt.backend;
  }

  #sessionFor(key: string, bytes: () => Uint8Array<ArrayBuffer>): Promise<NodeSession> {
    const known = this.#byKey.get(key);
    if (known) return known;
    const { ort, threads } = this.#rt;
    const made = ort.InferenceSession.create(bytes(), nodeSessionOptions(threads));
    made.then(() => this.#live.live++, () => this.#byKey.delete(key));
    this.#byKey.set(key, made);
    return made;
  }

  async run(input: Tensor, routingWeights?: Float32Array): Promise<Tensor> {
    if (this.#disposed) throw new TypeError("Cannot run: the layer was disposed");
    const g = this.#models.check(input, routingWeights);
    const { key, build } = this.#models.model(g);
    const session = await this.#sessionFor(key, () => build().bytes);
    const { Tensor } = this.#rt.ort;
    const feeds: Record<string, NodeTensor> = {
      [INPUT_NAME]: new Tensor("float32", input.data, [...input.shape]),
    };
    if (routingWeights !== undefined) {
      const shape = [g.batch, g.numExperts];
      feeds[ROUTING_INPUT_NAME] = new Tensor("float32", routingWeights, shape);
    }
    const result = (await session.run(feeds))[OUTPUT_NAME];
    if (!(result.data instanceof Float32Array)) {
      throw new TypeError(`Cannot read the output: expected float32 data, got "${result.type}"`);
    }
    return { shape: [...result.dims], data: result.data };
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const pending = [...this.#byKey.values()];
    this.#byKey.clear();
    const settled = await Promise.allSettled(pending);
    for (const s of settled) {
      if (s.status !== "fulfilled") continue; // never created: nothing to release
      await s.value.release();
      this.#live.live--;
    }
  }
}

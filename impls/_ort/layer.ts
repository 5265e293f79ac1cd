/**
 * A CondConv layer on onnxruntime-web: one `InferenceSession` per model key (input size, and
 * batch size where the model fixes it), created by the first `run` that needs it and reused
 * by the next ones; `dispose` releases them all.
 * @module
 */
import type { Tensor } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { INPUT_NAME, OUTPUT_NAME, ROUTING_INPUT_NAME } from "../../condconv/formats/onnx_graph.ts";
import type { PreparedCondConv } from "../adapter.ts";
import { ortSessionOptions, type Runtime, type Session, verifySession } from "./runtime.ts";

type OrtTensor = import("onnxruntime-web/wasm").Tensor;

/** Validates a run's inputs and gives their geometry. */
export type CheckInputs = (input: Tensor, routingWeights?: Float32Array) => Geometry;

/** A model built for one geometry, and the workaround it contains, if any. */
export interface BuiltModel {
  bytes: Uint8Array<ArrayBuffer>;
  /** what was changed to avoid a library bug (see `onnx_graph_conv_bugs.ts`), or null */
  workaround: string | null;
}

/**
 * Which session a geometry needs (its key), and how to build its model; `perExample`: the
 * model is for batch 1, run once per example (the `"per-example"` formulation).
 */
export type ModelFor = (
  g: Geometry,
) => { key: string; build: () => BuiltModel; perExample?: boolean; formulation?: string };

/** Live sessions of one adapter, for `resourceCounts`. */
export interface SessionCount {
  live: number;
}

/** A layer on onnxruntime-web: one session per model key, made by the first run needing it. */
export class OrtLayer implements PreparedCondConv {
  readonly backend: string;
  #formulation: string;
  #runtime: Runtime;
  #count: SessionCount;
  #check: CheckInputs;
  #model: ModelFor;
  #sessions = new Map<string, Promise<Session>>();
  #workarounds = new Set<string>();
  #disposed = false;

  constructor(
    runtime: Runtime,
    count: SessionCount,
    models: { check: CheckInputs; model: ModelFor; formulation: string },
  ) {
    this.#runtime = runtime;
    this.#formulation = models.formulation;
    this.#count = count;
    this.#check = models.check;
    this.#model = models.model;
    this.backend = runtime.backend;
  }

  /**
   * The formulation of the last run's model (`onnx_graph.ts`; before any run, a forced one or
   * the default of a batch-1 run on a small input), or `"static"` for a plain conv.
   */
  get formulation(): string {
    return this.#formulation;
  }

  /**
   * The workarounds of library bugs in the models built so far (one per kind; empty where
   * none was needed or workarounds are off). A model is built by the first run of each size.
   */
  get workarounds(): readonly string[] {
    return [...this.#workarounds];
  }

  #session(key: string, build: () => BuiltModel): Promise<Session> {
    let session = this.#sessions.get(key);
    if (!session) {
      const rt = this.#runtime;
      const model = build();
      if (model.workaround) this.#workarounds.add(model.workaround);
      session = rt.ort.InferenceSession.create(model.bytes, ortSessionOptions(rt.executionProvider))
        .then(async (created) => {
          this.#count.live++;
          try {
            await verifySession(rt);
          } catch (error) {
            await created.release();
            this.#count.live--;
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
    const { key, build, perExample, formulation } = this.#model(g);
    const session = await this.#session(key, build);
    if (formulation !== undefined) this.#formulation = formulation;
    if (!perExample || g.batch === 1) {
      return await this.#runSession(session, g, input, routingWeights);
    }
    // one run of the batch-1 session per example, outputs laid end to end
    const [, c, h, w] = input.shape;
    const size = c * h * w;
    let data: Float32Array | undefined;
    let shape: number[] = [];
    for (let i = 0; i < g.batch; i++) {
      const example = { shape: [1, c, h, w], data: input.data.subarray(i * size, (i + 1) * size) };
      const r = routingWeights?.subarray(i * g.numExperts, (i + 1) * g.numExperts);
      const out = await this.#runSession(session, { ...g, batch: 1 }, example, r);
      data ??= new Float32Array(out.data.length * g.batch);
      data.set(out.data, i * out.data.length);
      shape = [g.batch, ...out.shape.slice(1)];
    }
    return { shape, data: data! };
  }

  async #runSession(
    session: Session,
    g: Geometry,
    input: Tensor,
    routingWeights?: Float32Array,
  ): Promise<Tensor> {
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
      this.#count.live--;
    }
  }
}

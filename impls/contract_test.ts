/**
 * The adapter contract of `adapter.ts`, held by `defineAdapter` (`_contract.ts`), checked on
 * every registered adapter that can run here: what `prepare` owns, which specs it accepts,
 * and what a disposed layer does. Layers are tiny (WebGPU on llvmpipe is slow).
 * @module
 */
import assert from "node:assert/strict";
import type { CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import { ADAPTERS, availableAdapters } from "./registry.ts";
import { referenceAdapter } from "./reference.ts";
import { defineAdapter } from "./_contract.ts";
import {
  CondConvSpec,
  type CondConvSpecInput,
  type CondConvWeights,
  type Tensor,
} from "../condconv/spec.ts";
import { checkWeights } from "../condconv/geometry.ts";
import { seededLayer, seededUniform } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";

// tfjs, onnxruntime-web and the WebGPU adapters keep their runtimes for the process's life.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

const available = await availableAdapters((id, reason) =>
  console.warn(`contract: ${id} skipped: ${reason}`)
);

/** A test with one step per adapter that can run here. */
function testEachAdapter(name: string, step: (adapter: CondConvAdapter) => Promise<void>): void {
  Deno.test({
    name,
    ...sanitizers,
    async fn(t) {
      for (const adapter of available) await t.step(adapter.id, () => step(adapter));
    },
  });
}

/** Seeded weights for `spec`, every tensor it has. */
function weightsFor(spec: CondConvSpec, seed: number): CondConvWeights {
  return seededLayer(seed, spec, [1, spec.inChannels, 5, 5]).weights;
}

function inputOf(shape: [number, number, number, number], seed: number): Tensor {
  return { shape, data: seededUniform(seed, 1, shape.reduce((a, b) => a * b, 1)) };
}

/** A grouped 3x3 layer with computed routing and per-expert bias: every tensor in play. */
const LAYER = CondConvSpec.parse({
  inChannels: 4,
  outChannels: 4,
  kernelSize: 3,
  padding: 1,
  groups: 2,
  numExperts: 3,
  bias: "perExpert",
});

/** Asserts that `adapter`'s output matches the reference's within its class tolerance. */
function assertMatches(adapter: CondConvAdapter, actual: Tensor, truth: Tensor, what: string) {
  assert.deepEqual(actual.shape, truth.shape, `${adapter.id}: ${what}: shape`);
  const c = compareWithTruth(
    actual.data,
    Float64Array.from(truth.data),
    toleranceFor(adapter.toleranceClass, 0),
  );
  assert.ok(
    c.pass,
    `${adapter.id}: ${what}: ${c.worstRatio} of the tolerance (max abs err ${c.maxAbsErr})`,
  );
}

testEachAdapter(
  "prepare owns its spec and weights: changing the caller's objects afterwards has no effect",
  async (adapter) => {
    for (const [entry, prepare] of entryPoints(adapter)) {
      await ownsWhatItKeeps(adapter, entry, prepare);
    }
  },
);

/**
 * Every CondConv entry point of `adapter`: `prepare`, and `prepareWith` and
 * `prepareAutotuned` where it has them.
 */
function entryPoints(adapter: CondConvAdapter): [string, PrepareFn][] {
  const entries: [string, PrepareFn][] = [["prepare", (s, w) => adapter.prepare(s, w)]];
  const framework = adapter as {
    prepareWith?: (...args: unknown[]) => Promise<never>;
    prepareAutotuned?: (...args: unknown[]) => Promise<never>;
  };
  const { prepareWith, prepareAutotuned } = framework;
  if (prepareWith) entries.push(["prepareWith", (s, w) => prepareWith.call(adapter, s, w, {})]);
  if (prepareAutotuned) {
    entries.push(["prepareAutotuned", (s, w) => prepareAutotuned.call(adapter, s, w)]);
  }
  return entries;
}

type PrepareFn = (spec: CondConvSpec, weights: CondConvWeights) => Promise<PreparedCondConv>;

/** Changing the caller's objects after `prepare` (through `entry`) changes no output. */
async function ownsWhatItKeeps(adapter: CondConvAdapter, entry: string, prepare: PrepareFn) {
  const spec = CondConvSpec.parse(LAYER);
  const weights = weightsFor(spec, 7);
  const pristine = weightsFor(spec, 7);
  const truthLayer = await referenceAdapter.prepare(LAYER, pristine);
  const layer = await prepare(spec, weights);
  try {
    const first = inputOf([1, 4, 5, 5], 11);
    assertMatches(adapter, await layer.run(first), await truthLayer.run(first), "before");
    // after prepare the caller reuses its objects for another layer
    for (const tensor of Object.values(weights)) tensor.fill(9);
    Object.assign(spec, { paddingMode: "circular", numExperts: 1, groups: 1 });
    // a new batch size and a new input size: sessions, plans and buffers built now
    for (const shape of [[3, 4, 5, 5], [2, 4, 6, 7]] as const) {
      const input = inputOf([...shape], 12 + shape[0]);
      const out = await layer.run(input);
      assertMatches(
        adapter,
        out,
        await truthLayer.run(input),
        `${entry}: batch ${shape[0]} after`,
      );
    }
  } finally {
    await layer.dispose();
    await truthLayer.dispose();
  }
}

/** Specs that skipped `CondConvSpec.parse`, with the error `prepare` must give. */
const UNPARSED: { name: string; spec: unknown; weights: CondConvWeights; message: RegExp }[] = [
  {
    name: "a parsed spec spread with groups that do not divide inChannels",
    spec: {
      ...CondConvSpec.parse({ inChannels: 4, outChannels: 4, kernelSize: 1, numExperts: 1 }),
      inChannels: 3,
      groups: 2,
    },
    // the fractional shape [1, 4, 1.5, 1, 1] holds 6 floats
    weights: {
      expertKernels: new Float32Array(6),
      bias: new Float32Array(4),
      routingWeight: new Float32Array(3),
      routingBias: new Float32Array(1),
    },
    message:
      /^Cannot prepare the [\w-]+ layer: spec\.groups: groups \(2\) must divide inChannels \(3\)$/,
  },
  {
    name: "a raw object without kernelSize",
    spec: { inChannels: 4, outChannels: 4, routing: { kind: "supplied" } },
    weights: { expertKernels: new Float32Array(48) },
    message: /^Cannot prepare the [\w-]+ layer: spec\.kernelSize: Invalid input/,
  },
  {
    name: "a parsed spec with an unknown key",
    spec: { ...CondConvSpec.parse({ inChannels: 4, outChannels: 4, kernelSize: 1 }), experts: 4 },
    weights: { expertKernels: new Float32Array(48) },
    message: /^Cannot prepare the [\w-]+ layer: spec: Unrecognized key: "experts"$/,
  },
  {
    name: "a routing without its kind",
    spec: { inChannels: 4, outChannels: 4, kernelSize: 1, routing: {} },
    weights: { expertKernels: new Float32Array(48) },
    message: /^Cannot prepare the [\w-]+ layer: spec\.routing\.kind: Invalid discriminator value/,
  },
];

/** Asserts that `act` rejects with a `TypeError` whose message matches `message`. */
async function rejectsWith(act: () => Promise<unknown>, message: RegExp, what: string) {
  await assert.rejects(act, (error: Error) => {
    assert.ok(error instanceof TypeError, `${what}: ${error}`);
    assert.match(error.message, message, what);
    return true;
  });
}

testEachAdapter(
  "prepare refuses a spec that skipped CondConvSpec.parse, naming the field",
  async (adapter) => {
    for (const entry of UNPARSED) {
      for (const [point, prepare] of entryPoints(adapter)) {
        await rejectsWith(
          () => prepare(entry.spec as CondConvSpec, entry.weights),
          entry.message,
          `${entry.name} (${point})`,
        );
      }
      if (!adapter.prepareStatic) continue;
      await rejectsWith(
        () => adapter.prepareStatic!(entry.spec as CondConvSpec, entry.weights.expertKernels),
        new RegExp(entry.message.source.replace("the ", "the static ")),
        `${entry.name} (prepareStatic)`,
      );
    }
  },
);

testEachAdapter(
  "prepare fills the defaults of a raw spec object, as CondConvSpec.parse does",
  async (adapter) => {
    const raw: CondConvSpecInput = { inChannels: 2, outChannels: 2, kernelSize: 1 };
    const parsed = CondConvSpec.parse(raw);
    const weights = weightsFor(parsed, 3);
    const input = inputOf([2, 2, 3, 3], 5);
    const truth = await (await referenceAdapter.prepare(parsed, weights)).run(input);
    const layer = await adapter.prepare(raw as CondConvSpec, weights);
    try {
      assertMatches(adapter, await layer.run(input), truth, "raw spec");
    } finally {
      await layer.dispose();
    }
  },
);

Deno.test("checkWeights refuses the fractional shape of a spec that skipped parsing", () => {
  const spread = {
    ...CondConvSpec.parse({ inChannels: 4, outChannels: 4, kernelSize: 1, numExperts: 1 }),
    inChannels: 3,
    groups: 2,
  };
  assert.throws(
    () => checkWeights(spread, { expertKernels: new Float32Array(6), bias: new Float32Array(4) }),
    TypeError,
    'Cannot use weights."expertKernels": its shape [1,4,1.5,1,1] is not whole numbers',
  );
});

/** Runs `layer` once, disposes it, and checks that the next run is refused. */
async function assertRefusedAfterDispose(id: string, layer: PreparedCondConv, run: () => unknown) {
  await run();
  await layer.dispose();
  await rejectsWith(
    async () => await run(),
    new RegExp(`^Cannot run the ${id} layer: it was disposed \\(prepare it again\\)$`),
    `${id}: run after dispose`,
  );
  await layer.dispose(); // a second dispose is harmless
}

testEachAdapter(
  "a run after dispose is refused with the same error on every adapter",
  async (adapter) => {
    const spec = CondConvSpec.parse({
      inChannels: 2,
      outChannels: 2,
      kernelSize: 3,
      padding: 1,
      routing: { kind: "supplied" },
    });
    const weights = weightsFor(spec, 4);
    const input = inputOf([1, 2, 4, 4], 6);
    const routing = new Float32Array([0.25, 0.5, 0.75]);
    const layer = await adapter.prepare(spec, weights);
    await assertRefusedAfterDispose(adapter.id, layer, () => layer.run(input, routing));
    if (adapter.prepareStatic) {
      const plain = await adapter.prepareStatic(
        spec,
        weights.expertKernels.slice(0, 36),
        weights.bias!.slice(0, 2),
      );
      await assertRefusedAfterDispose(adapter.id, plain, () => plain.run(input));
    }
  },
);

Deno.test("defineAdapter keeps an adapter's own members and guards it once", () => {
  const ts = ADAPTERS.find((a) => a.id === "ts") as CondConvAdapter & { workers: number };
  assert.equal(typeof ts.workers, "number");
  assert.equal(defineAdapter(ts), ts);
  assert.equal(defineAdapter(referenceAdapter), referenceAdapter);
});

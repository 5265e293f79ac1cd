/**
 * Differential fuzzing: random valid layers (`_arbitraries.ts`), every available adapter
 * against `reference`, plus three properties of the math checked on every adapter.
 *
 * - differential: each adapter within `toleranceFor(adapter.toleranceClass, 0)` of the
 *   reference (float64 accumulation, so the class floor applies);
 * - (a) mixture: with supplied routing, CondConv equals the routing-weighted sum of each
 *   expert run alone (E = 1, routing weight 1), bias handled per kind: the property the
 *   official TensorFlow CondConv test checks;
 * - (b) batch independence: an example's output does not depend on the rest of the batch;
 * - (c) plain convolution: E = 1 with routing weight 1 (and `prepareStatic`, where the
 *   adapter has it) equals a direct float64 convolution loop written apart from the
 *   reference (`_direct_conv.ts`).
 *
 * A wrong adapter (reflect padding read as replicate) shows that the harness fails and shrinks.
 * A wrong number under a rule of `conform/known_failures.ts` is counted, not failed; any
 * other fails. `CONDCONV_FUZZ_WORKAROUNDS=off` fuzzes ort-webgpu without its workarounds, so
 * that its raw bug shows and each of its wrong numbers must fall under the rule.
 *
 * The fast-check seed is printed first; `CONDCONV_FUZZ_SEED=<n>` replays a run and
 * `CONDCONV_FUZZ_SCALE=<n>` multiplies the run counts (a deeper, nightly fuzz). A failure is
 * shrunk (within {@link SHRINK_BUDGET_MS}) and printed as a `fixtures/cases.json` entry, so
 * it can be replayed alone or turned into a PyTorch golden.
 *
 * Budget (2 shared cores, software WebGPU): CPU adapters run the differential on
 * {@link CPU_RUNS} layers, WebGPU adapters on {@link GPU_RUNS}; the properties run on fewer.
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { CondConvAdapter, PreparedCondConv } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { CondConvSpec, type CondConvWeights, type Tensor } from "../condconv/spec.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import {
  DEFAULT_FUZZ_BOUNDS,
  describeFuzzCase,
  type FuzzBounds,
  type FuzzCase,
  fuzzCase,
  fuzzLayer,
} from "./_testing/arbitraries.ts";
import { directConv } from "./_testing/direct_conv.ts";
import { type CheckedLayer, knownFailureOfAny } from "./conform/known_failures.ts";
import { createOrtWebgpuAdapter } from "../impls/ort_webgpu.ts";
import { inProcessImplementation } from "./_shared/webgpu_matrix.ts";

/** The environment variable `name` parsed, or `fallback` where unset; a bad value throws. */
function fromEnv<T>(
  name: string,
  fallback: T,
  parse: (text: string) => T | undefined,
  expected: string,
): T {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const value = parse(text);
  if (value === undefined) throw new TypeError(`Set ${name} to ${expected}: got "${text}"`);
  return value;
}
/** `CONDCONV_FUZZ_SCALE=<n>` multiplies every run count below (a longer, nightly fuzz). */
const SCALE = fromEnv("CONDCONV_FUZZ_SCALE", 1, (t) => {
  const n = Number(t);
  return n > 0 && Number.isFinite(n) ? n : undefined;
}, "a positive number");
const scaled = (runs: number) => Math.max(1, Math.round(runs * SCALE));

/** Layers each CPU adapter is checked on against the reference. */
export const CPU_RUNS = 300;
/** Layers each WebGPU adapter (a software one here: slow) is checked on. */
export const GPU_RUNS = 40;
/** Layers per property (a), (b), (c): the reference, CPU and WebGPU adapters. */
export const PROPERTY_RUNS = { exact: 200, cpu: 30, wasm: 30, webgpu: 6 } as const;
/** How long a failure may be shrunk before the smallest counterexample so far is printed. */
export const SHRINK_BUDGET_MS = 60_000;
/** One run of a property (a few prepares and runs) taking longer than this fails: a hang. */
export const RUN_TIMEOUT_MS = 60_000;

const SEED = fromEnv(
  "CONDCONV_FUZZ_SEED",
  (Date.now() ^ (Math.random() * 2 ** 32)) | 0,
  (t) => Number.isSafeInteger(Number(t)) ? Number(t) | 0 : undefined,
  "an integer",
);
/** `CONDCONV_FUZZ_WORKAROUNDS=off`: ort-webgpu without its workarounds (the raw bug). */
const WORKAROUNDS = fromEnv(
  "CONDCONV_FUZZ_WORKAROUNDS",
  true,
  (t) => t === "on" ? true : t === "off" ? false : undefined,
  '"on" or "off"',
);
console.log(
  `fuzz: fast-check seed ${SEED} (replay with CONDCONV_FUZZ_SEED=${SEED})` +
    (SCALE === 1 ? "" : `, run counts x${SCALE}`) +
    (WORKAROUNDS ? "" : ", ort-webgpu without workarounds"),
);

// tfjs, onnxruntime-web and the WebGPU adapters keep their runtimes (wasm modules, devices)
// for the life of the process by design; leaks are checked by resourceCounts() in the soak.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

interface Available {
  adapter: CondConvAdapter;
  backend: string;
  /** the WebGPU implementation, e.g. `"wgpu/gl llvmpipe"`; undefined off WebGPU */
  implementation?: string;
}
const available: Available[] = [];
const fuzzed = ADAPTERS.map((adapter) =>
  adapter.id === "ort-webgpu" && !WORKAROUNDS
    ? createOrtWebgpuAdapter({ workarounds: false })
    : adapter
);
for (const adapter of fuzzed) {
  const a = await adapter.availability();
  if (!a.available) {
    console.warn(`fuzz: ${adapter.id} skipped: ${a.reason}`);
    continue;
  }
  // Deno's WebGPU is wgpu, on the backend DENO_WEBGPU_BACKEND names (wgpu's own choice if unset)
  const implementation = a.gpu ? inProcessImplementation(a.gpu) : undefined;
  available.push({ adapter, backend: a.backend, implementation });
}

/** Runs `spec` once on a fresh prepared layer of `adapter`, checking the backend. */
async function runOnce(
  { adapter, backend }: Available,
  spec: CondConvSpec,
  weights: CondConvWeights,
  input: Tensor,
  routingWeights?: Float32Array,
): Promise<Tensor> {
  const prepared = await adapter.prepare(spec, weights);
  try {
    assert.equal(prepared.backend, backend, `${adapter.id} ran on another backend`);
    return await prepared.run(input, routingWeights);
  } finally {
    await prepared.dispose();
  }
}

/** A wrong number (never a wrong shape or a throw): what a known-failure rule may excuse. */
class WrongNumber extends Error {
  override name = "WrongNumber";
}

/** Asserts `actual` is within `adapter`'s class tolerance of `truth`, explaining where not. */
function assertClose(
  adapter: CondConvAdapter,
  actual: Tensor,
  truthShape: readonly number[],
  truth: Float64Array,
  what: string,
) {
  assert.deepEqual(actual.shape, [...truthShape], `${what}: output shape`);
  const tolerance = toleranceFor(adapter.toleranceClass, 0);
  const c = compareWithTruth(actual.data, truth, tolerance);
  if (!c.pass) {
    const i = c.worstIndex;
    throw new WrongNumber(
      `${what}: element ${i} is ${actual.data[i]}, expected ${truth[i]} ` +
        `(${c.worstRatio.toPrecision(3)}x the tolerance atol ${tolerance.atol}, rtol ` +
        `${tolerance.rtol}; max abs err ${c.maxAbsErr.toExponential(2)}, ` +
        `${c.nonFiniteMismatches} non-finite mismatches)`,
    );
  }
}

/**
 * Checks `property` on `runs` random layers; on failure, shrinks (within the budget) and
 * throws with the counterexample as a `cases.json` entry and how to replay it.
 */
async function checkProperty(
  name: string,
  arbitrary: fc.Arbitrary<FuzzCase>,
  runs: number,
  property: (c: FuzzCase) => Promise<void>,
  seed = SEED,
): Promise<void> {
  const prop = fc.asyncProperty(arbitrary, property);
  const started = performance.now();
  // Find a failure without shrinking (no time limit), then shrink it from its path within
  // the budget: a slow adapter cannot stall CI in the shrinker.
  const found = await fc.check(prop, {
    seed,
    numRuns: runs,
    endOnFailure: true,
    timeout: RUN_TIMEOUT_MS,
  });
  let details = found;
  if (found.failed && found.counterexamplePath) {
    const shrunk = await fc.check(prop, {
      seed,
      path: found.counterexamplePath,
      timeout: RUN_TIMEOUT_MS,
      interruptAfterTimeLimit: SHRINK_BUDGET_MS,
    });
    if (shrunk.failed) details = shrunk;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (!details.failed) {
    assert.equal(details.numRuns, runs, `${name}: only ${details.numRuns} of ${runs} runs`);
    const met = [...(knownMet.get(name) ?? [])].map(([key, n]) => `${n} ${key}`);
    console.log(
      `fuzz: ${name}: ${runs} layers in ${seconds} s, every number right` +
        (met.length ? ` outside known-failure rules (checks: ${met.join(", ")})` : ""),
    );
    return;
  }
  const [counterexample] = details.counterexample!;
  const error = details.errorInstance;
  const cause = error instanceof Error ? error.message : String(error);
  throw new Error(
    `${name}: failed on run ${found.numRuns} of ${runs} (seed ${seed}), shrunk ` +
      `${details.numShrinks} times${
        details.interrupted ? " (shrinking stopped at the budget)" : ""
      }` +
      `\nCause: ${cause}\nCounterexample (a fixtures/cases.json entry):\n` +
      `${describeFuzzCase(counterexample)}\nReplay: CONDCONV_FUZZ_SEED=${seed} deno task ` +
      `test:unit suites/fuzz_test.ts --filter "${name}"`,
  );
}

const isGpu = ({ adapter }: Available) => adapter.toleranceClass === "webgpu";

/** Checks under a known-failure rule, wrong or right, per test name. */
const knownMet = new Map<string, Map<string, number>>();

/** A run of `spec` on `input` on `a`, as the known-failure rules see it. */
function checked(a: Available, spec: CondConvSpec, input: Tensor, isStatic = false): CheckedLayer {
  const [batch, , height, width] = input.shape;
  const { implementation } = a;
  return { spec, batch, height, width, implementation, workarounds: WORKAROUNDS, static: isStatic };
}

/** `assertClose` of one test, where a wrong number under a rule covering `layers` is counted. */
type Close = (
  layers: readonly CheckedLayer[],
  actual: Tensor,
  truth: { shape: readonly number[]; data: ArrayLike<number> },
  what: string,
) => void;

/** The {@link Close} of the test `name` on `a`. */
function closeUnderRules(name: string, a: Available): Close {
  const count = (key: string) => {
    const met = knownMet.get(name) ?? new Map<string, number>();
    knownMet.set(name, met.set(key, (met.get(key) ?? 0) + 1));
  };
  return (layers, actual, truth, what) => {
    const rule = knownFailureOfAny(a.adapter.id, layers);
    try {
      assertClose(a.adapter, actual, truth.shape, Float64Array.from(truth.data), what);
    } catch (error) {
      if (!(error instanceof WrongNumber) || !rule) throw error;
      return count(`wrong under rule ${rule.id}`);
    }
    // a pass under a rule: against the reference, the bug did not show (or the rule is too
    // wide); in a property comparing two runs, both may be wrong alike (same vector layout)
    if (rule) count(`passed though under rule ${rule.id}`);
  };
}

/**
 * Keeps one layer of `a` prepared while `body` runs: adapters that share a device between
 * layers (wgsl) would otherwise create and destroy a GPU device per random layer.
 */
async function withAnchor(a: Available, body: () => Promise<void>): Promise<void> {
  const anchor = fuzzLayer(fc.sample(fuzzCase(), { numRuns: 1, seed: 1 })[0]);
  const prepared: PreparedCondConv = await a.adapter.prepare(anchor.spec, anchor.weights);
  try {
    await prepared.run(anchor.input, anchor.routingWeights);
    await body();
  } finally {
    await prepared.dispose();
  }
}

// Differential: every adapter against the reference.

const reference = available.find((a) => a.adapter.id === "reference");
assert.ok(reference, "the reference adapter must be registered and available");

/** The differential property: `a` within its class tolerance of the reference. */
function agreesWithReference(name: string, a: Available, truthAdapter: Available) {
  return async (c: FuzzCase) => {
    const layer = fuzzLayer(c);
    const { spec, weights, input, routingWeights } = layer;
    const truth = await runOnce(truthAdapter, spec, weights, input, routingWeights);
    const actual = await runOnce(a, spec, weights, input, routingWeights);
    closeUnderRules(name, a)([checked(a, spec, input)], actual, truth, a.adapter.id);
  };
}

for (const a of available.filter((a) => a !== reference)) {
  const runs = scaled(isGpu(a) ? GPU_RUNS : CPU_RUNS);
  const name = `fuzz differential ${a.adapter.id}`;
  Deno.test({
    name,
    ...sanitizers,
    fn: () =>
      withAnchor(
        a,
        () => checkProperty(name, fuzzCase(), runs, agreesWithReference(name, a, reference)),
      ),
  });
}

Deno.test("the fuzz harness fails a subtly wrong adapter and prints its shrunk spec", async () => {
  // the reference with reflect padding read as replicate: wrong only at reflected pixels
  const wrong: Available = {
    adapter: {
      ...reference.adapter,
      id: "reflect-as-replicate",
      toleranceClass: "cpu",
      prepare: (spec, weights) =>
        reference.adapter.prepare(
          spec.paddingMode === "reflect" ? { ...spec, paddingMode: "replicate" } : spec,
          weights,
        ),
    },
    backend: reference.backend,
  };
  const name = "reflect-as-replicate";
  const error = await checkProperty(
    name,
    fuzzCase(),
    CPU_RUNS,
    agreesWithReference(name, wrong, reference),
    7,
  )
    .then(() => undefined, (e: Error) => e);
  assert.ok(error, "the wrong adapter passed the fuzz");
  assert.match(
    error.message,
    /^reflect-as-replicate: failed on run \d+ of 300 \(seed 7\), shrunk \d+ times/,
  );
  assert.match(error.message, /Cause: reflect-as-replicate: element \d+ is .*x the tolerance/);
  assert.match(error.message, /Replay: CONDCONV_FUZZ_SEED=7 deno task test:unit/);
  const line = error.message.split("\n").find((l) => l.startsWith("{"))!;
  const shrunk = JSON.parse(line) as FuzzCase;
  // shrunk to a minimal layer that still shows the fault: one reflected example
  const { spec, input } = shrunk;
  assert.deepEqual(
    [spec.paddingMode, input.batch, spec.numExperts, spec.groups, spec.inChannels],
    ["reflect", 1, 1, 1, 1],
  );
});

// Property (a): CondConv is the routing-weighted sum of its experts.

/** Bounds for the properties on slow adapters: fewer experts, so fewer layers per check. */
function propertyBounds(a: Available): FuzzBounds {
  return isGpu(a) ? { ...DEFAULT_FUZZ_BOUNDS, maxExperts: 3 } : DEFAULT_FUZZ_BOUNDS;
}

function withSuppliedRouting(c: FuzzCase): FuzzCase {
  return { ...c, spec: { ...c.spec, routing: { kind: "supplied" } } };
}

/** Expert `e` of a layer alone: E = 1, its kernel, and its bias where the bias is per expert. */
function expertAlone(spec: CondConvSpec, weights: CondConvWeights, e: number) {
  const kernelLength = weights.expertKernels.length / spec.numExperts;
  const expertSpec: CondConvSpec = {
    ...spec,
    numExperts: 1,
    routing: { kind: "supplied" },
    bias: spec.bias === "perExpert" ? "perExpert" : "none",
  };
  const expertWeights: CondConvWeights = {
    expertKernels: weights.expertKernels.slice(e * kernelLength, (e + 1) * kernelLength),
  };
  if (spec.bias === "perExpert") {
    expertWeights.bias = weights.bias!.slice(e * spec.outChannels, (e + 1) * spec.outChannels);
  }
  return { spec: expertSpec, weights: expertWeights };
}

/** One property test per adapter: `label` checked by `property` on layers of `arbitrary`. */
function propertyTests(
  label: string,
  arbitrary: (a: Available) => fc.Arbitrary<FuzzCase>,
  property: (a: Available, close: Close) => (c: FuzzCase) => Promise<void>,
): void {
  for (const a of available) {
    const name = `fuzz property ${label} ${a.adapter.id}`;
    const runs = scaled(PROPERTY_RUNS[a.adapter.toleranceClass]);
    const check = property(a, closeUnderRules(name, a));
    const fn = () => withAnchor(a, () => checkProperty(name, arbitrary(a), runs, check));
    Deno.test({ name, ...sanitizers, fn });
  }
}

propertyTests(
  "(a) mixture of experts",
  (a) => fuzzCase(propertyBounds(a)).map(withSuppliedRouting),
  (a, close) => async (c) => {
    const { spec, weights, input, routingWeights } = fuzzLayer(c);
    const r = routingWeights!;
    const E = spec.numExperts, B = input.shape[0];
    const full = await runOnce(a, spec, weights, input, r);
    const sum = new Float64Array(full.data.length);
    const perExample = sum.length / B;
    const ones = new Float32Array(B).fill(1);
    for (let e = 0; e < E; e++) {
      const alone = expertAlone(spec, weights, e);
      const y = await runOnce(a, alone.spec, alone.weights, input, ones);
      assert.deepEqual(y.shape, full.shape, `expert ${e} alone: output shape`);
      for (let i = 0; i < sum.length; i++) {
        sum[i] += r[Math.floor(i / perExample) * E + e] * y.data[i];
      }
    }
    if (spec.bias === "shared") {
      const plane = full.shape[2] * full.shape[3];
      for (let i = 0; i < sum.length; i++) {
        sum[i] += weights.bias![Math.floor(i / plane) % spec.outChannels];
      }
    }
    const truth = { shape: full.shape, data: sum };
    close([checked(a, spec, input)], full, truth, "CondConv against sum_e r_e y_e");
  },
);

// Property (b): an example's output does not depend on the others in the batch.

propertyTests(
  "(b) batch independence",
  (a) => fuzzCase({ ...propertyBounds(a), minBatch: 2 }),
  (a, close) => async (c) => {
    const { spec, weights, input, routingWeights } = fuzzLayer(c);
    const [B, C, H, W] = input.shape;
    const E = spec.numExperts;
    const prepared = await a.adapter.prepare(spec, weights);
    try {
      const whole = await prepared.run(input, routingWeights);
      const perExample = whole.data.length / B;
      for (let b = 0; b < B; b++) {
        const one: Tensor = {
          shape: [1, C, H, W],
          data: input.data.slice(b * C * H * W, (b + 1) * C * H * W),
        };
        const alone = await prepared.run(one, routingWeights?.slice(b * E, (b + 1) * E));
        const layers = [checked(a, spec, input), checked(a, spec, one)];
        const data = whole.data.slice(b * perExample, (b + 1) * perExample);
        close(layers, { shape: alone.shape, data }, alone, `example ${b} of ${B} alone`);
      }
    } finally {
      await prepared.dispose();
    }
  },
);

// Property (c): one expert with routing weight 1 is a plain convolution.

function withOneExpert(c: FuzzCase): FuzzCase {
  return { ...c, spec: { ...c.spec, numExperts: 1, routing: { kind: "supplied" } } };
}

propertyTests(
  "(c) one expert is a plain convolution",
  (a) => fuzzCase(propertyBounds(a)).map(withOneExpert),
  (a, close) => async (c) => {
    const { spec, weights, input } = fuzzLayer(c);
    const B = input.shape[0];
    const truth = directConv(spec, input, weights.expertKernels, weights.bias);
    const ones = new Float32Array(B).fill(1);
    const condconv = await runOnce(a, spec, weights, input, ones);
    close([checked(a, spec, input)], condconv, truth, "E = 1, routing 1");
    if (a.adapter.prepareStatic) {
      const prepared = await a.adapter.prepareStatic(
        spec,
        weights.expertKernels,
        weights.bias,
      );
      try {
        const plain = await prepared.run(input);
        close([checked(a, spec, input, true)], plain, truth, "prepareStatic");
      } finally {
        await prepared.dispose();
      }
    }
  },
);

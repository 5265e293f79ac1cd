/**
 * NaN and infinity propagate as in PyTorch, on every available adapter.
 *
 * A NaN or an infinity in the input, the weights or the supplied routing is not an error: it
 * flows through the formula. In the input it reaches the outputs whose receptive field
 * covers it (reflected, replicated or wrapped copies included) and, through the average
 * pool, the computed routing of its example: a NaN there makes every routing weight NaN and
 * so the whole example NaN; an infinity saturates the sigmoid to exactly 0 or 1 and turns a
 * softmax into NaN (inf - inf). Infinity times a zero kernel tap is NaN.
 *
 * Each scenario is run by `reference` and by the float64 formula of `_direct_conv.ts`
 * (which must agree on which outputs are NaN, +inf and -inf), checked for the pattern it is
 * meant to produce, then run by every available adapter, whose output must match the
 * reference's: the same non-finite pattern (`compareWithTruth` counts a NaN against a NaN
 * and an infinity against the same infinity as equal) and the finite rest within the
 * adapter's tolerance.
 *
 * Weights: the semantics are PyTorch's float64 ones (`condconv/spec.ts`): the zero padding is
 * made of real zeros, so an infinite or NaN tap that lands on the border gives NaN there
 * (PyTorch's float32 CPU path skips those taps for depthwise and some grouped convolutions,
 * and so do tfjs-cpu and ort-webgpu here: listed below). An infinite tap in one expert makes
 * the mixed tap infinite for every expert count, E = 4 and 8 as much as 1, 3, 5 or 6 (each
 * formulation path: 1x1, depthwise, general).
 * @module
 */
import assert from "node:assert/strict";
import { referenceAdapter } from "../impls/reference.ts";
import { availableAdapters } from "../impls/registry.ts";
import { GoldenCase } from "../condconv/cases.ts";
import type { CondConvSpecInput, Tensor } from "../condconv/spec.ts";
import { caseTensors } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { loadTargets, runConformance } from "./conform/run.ts";
import { directCondConv } from "./_testing/direct_conv.ts";
import { editedReference } from "./_testing/adapters.ts";
import { loadFixtureSet } from "./_shared/fixtures.ts";

// tfjs, onnxruntime-web and the WebGPU adapters keep their runtimes for the process's life.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

type Layer = ReturnType<typeof caseTensors> & { spec: GoldenCase["spec"] };

/** What a scenario's output must show, checked on the reference's output. */
type Expectation = (out: Float64Array, shape: readonly number[]) => string | undefined;

interface Scenario {
  name: string;
  spec: CondConvSpecInput;
  /** `[batch, height, width]` */
  size: [number, number, number];
  poison: (layer: Layer) => void;
  expect: Expectation;
}

function layerOf(s: Scenario, seed: number): Layer {
  const [batch, height, width] = s.size;
  const goldenCase = GoldenCase.parse({
    id: "non-finite",
    about: s.name,
    seed,
    input: { batch, height, width },
    spec: s.spec,
  });
  const layer = { spec: goldenCase.spec, ...caseTensors(goldenCase) };
  s.poison(layer);
  return layer;
}

/** Sets input element `[b, c, y, x]` of an NCHW tensor. */
function setPixel(input: Tensor, [b, c, y, x]: number[], value: number) {
  const [, C, H, W] = input.shape;
  input.data[((b * C + c) * H + y) * W + x] = value;
}

const count = (out: Float64Array, from: number, to: number, test: (v: number) => boolean) => {
  let n = 0;
  for (let i = from; i < to; i++) if (test(out[i])) n++;
  return n;
};

/** Example 0 entirely NaN, example 1 entirely finite. */
const firstExampleNaN: Expectation = (out) => {
  const half = out.length / 2;
  const nan = count(out, 0, half, Number.isNaN), finite = count(out, half, out.length, isFinite);
  return nan === half && finite === half
    ? undefined
    : `expected example 0 all NaN (${nan}/${half}) and example 1 finite (${finite}/${half})`;
};

/** Some but not all of example 0 non-finite (a receptive field), example 1 finite. */
function receptiveField(kinds: ("nan" | "+inf" | "-inf")[]): Expectation {
  return (out) => {
    const half = out.length / 2;
    const bad = count(out, 0, half, (v) => !isFinite(v));
    const finite = count(out, half, out.length, isFinite);
    const seen = new Set<string>();
    for (let i = 0; i < half; i++) {
      if (Number.isNaN(out[i])) seen.add("nan");
      else if (out[i] === Infinity) seen.add("+inf");
      else if (out[i] === -Infinity) seen.add("-inf");
    }
    const missing = kinds.filter((k) => !seen.has(k));
    if (bad === 0 || bad === half || finite !== half || missing.length > 0) {
      return `expected part of example 0 non-finite (${bad}/${half}) with ${kinds} ` +
        `(missing ${missing}), example 1 finite (${finite}/${half})`;
    }
  };
}

const KINDS = {
  nan: Number.isNaN,
  "+inf": (v: number) => v === Infinity,
  "+-inf": (v: number) => v === Infinity || v === -Infinity,
};

/** Output channel `o` entirely non-finite of one kind, every other value finite. */
function channel(o: number, kind: keyof typeof KINDS): Expectation {
  return (out, [B, O, H, W]) => {
    for (let i = 0; i < out.length; i++) {
      const inChannel = Math.floor(i / (H * W)) % O === o;
      const v = out[i];
      const ok = inChannel ? KINDS[kind](v) : isFinite(v);
      if (!ok) return `element ${i} (channel ${Math.floor(i / (H * W)) % O}) is ${v}`;
    }
    return B > 0 ? undefined : "empty output";
  };
}

/**
 * Output channel `o` NaN in its first row and column (where tap (0, 0) meets the zero
 * border), +-inf elsewhere; every other channel finite.
 */
const borderNaN = (o: number): Expectation => (out, [, O, H, W]) => {
  for (let i = 0; i < out.length; i++) {
    const y = Math.floor(i / W) % H, x = i % W, v = out[i];
    const want = Math.floor(i / (H * W)) % O !== o
      ? isFinite(v)
      : y === 0 || x === 0
      ? Number.isNaN(v)
      : v === Infinity || v === -Infinity;
    if (!want) return `element ${i} (row ${y}, column ${x}) is ${v}`;
  }
};

/** An infinite tap in expert 0 with `numExperts` experts, on each formulation path. */
function expertZeroInfinity(numExperts: number, path: "1x1" | "depthwise" | "general"): Scenario {
  const spec: CondConvSpecInput = {
    ...SMALL,
    numExperts,
    padding: "valid",
    kernelSize: path === "1x1" ? 1 : 3,
    groups: path === "depthwise" ? 4 : 1,
    routing: numExperts % 2 ? { kind: "supplied" } : { kind: "softmax", temperature: 2 },
  };
  // floats per output channel of one expert: (C/groups) * kh * kw
  const perOut = (path === "depthwise" ? 1 : 4) * (path === "1x1" ? 1 : 9);
  return {
    name: `+inf kernel tap of expert 0 with ${numExperts} experts, ${path}: its output channel`,
    spec,
    size: [2, 5, 5],
    // expert 0, output channel 2, its last tap
    poison: (l) => l.weights.expertKernels[3 * perOut - 1] = Infinity,
    expect: channel(2, "+-inf"),
  };
}

const allNaN: Expectation = (out) =>
  count(out, 0, out.length, Number.isNaN) === out.length ? undefined : "expected every value NaN";

const SMALL = { inChannels: 4, outChannels: 4, kernelSize: 3, padding: 1, numExperts: 3 };

const SCENARIOS: Scenario[] = [
  {
    name: "NaN input pixel, sigmoid routing: the whole example",
    spec: SMALL,
    size: [2, 5, 5],
    poison: (l) => setPixel(l.input, [0, 1, 2, 3], NaN),
    expect: firstExampleNaN,
  },
  {
    name: "NaN input pixel, softmax routing: the whole example",
    spec: { ...SMALL, routing: { kind: "softmax", temperature: 2 }, bias: "perExpert" },
    size: [2, 5, 5],
    poison: (l) => setPixel(l.input, [0, 0, 0, 0], NaN),
    expect: firstExampleNaN,
  },
  {
    name: "NaN input pixel, supplied routing, zero padding: its receptive field",
    spec: { ...SMALL, routing: { kind: "supplied" } },
    size: [2, 6, 6],
    poison: (l) => setPixel(l.input, [0, 2, 0, 5], NaN),
    expect: receptiveField(["nan"]),
  },
  {
    name: "NaN input pixel, supplied routing, reflect padding, stride 2, depthwise",
    spec: {
      ...SMALL,
      groups: 4,
      stride: 2,
      paddingMode: "reflect",
      routing: { kind: "supplied" },
    },
    size: [2, 7, 7],
    poison: (l) => setPixel(l.input, [0, 3, 1, 1], NaN),
    expect: receptiveField(["nan"]),
  },
  {
    name: "+inf input pixel, sigmoid routing: saturated routing, infinite receptive field",
    spec: SMALL,
    size: [2, 5, 5],
    poison: (l) => setPixel(l.input, [0, 1, 2, 2], Infinity),
    expect: receptiveField(["+inf", "-inf"]),
  },
  {
    name: "+inf input pixel, softmax routing: inf - inf makes the whole example NaN",
    spec: { ...SMALL, routing: { kind: "softmax", temperature: 0.5 } },
    size: [2, 5, 5],
    poison: (l) => setPixel(l.input, [0, 2, 4, 4], Infinity),
    expect: firstExampleNaN,
  },
  {
    name: "-inf input pixel, supplied routing, circular padding, TF same stride 2",
    spec: {
      ...SMALL,
      kernelSize: [3, 2],
      padding: "same",
      stride: 2,
      paddingMode: "circular",
      routing: { kind: "supplied" },
    },
    size: [2, 6, 5],
    poison: (l) => setPixel(l.input, [0, 0, 5, 4], -Infinity),
    expect: receptiveField(["+inf", "-inf"]),
  },
  {
    name: "NaN input pixel, supplied routing, 1x1 depthwise: that pixel only",
    spec: { ...SMALL, kernelSize: 1, padding: 0, groups: 4, routing: { kind: "supplied" } },
    size: [2, 3, 3],
    poison: (l) => setPixel(l.input, [0, 2, 0, 1], NaN),
    expect: receptiveField(["nan"]),
  },
  {
    name: "+inf input pixel times a zero kernel tap is NaN",
    spec: { ...SMALL, kernelSize: 1, padding: 0, groups: 4, routing: { kind: "supplied" } },
    size: [2, 3, 3],
    poison: (l) => {
      setPixel(l.input, [0, 1, 1, 1], Infinity);
      // channel 1's 1x1 tap is 0 in every expert: K = 0 whatever the routing
      for (let e = 0; e < 3; e++) l.weights.expertKernels[e * 4 + 1] = 0;
    },
    expect: receptiveField(["nan"]),
  },
  {
    name: "NaN kernel tap, valid padding: its output channel, every example",
    spec: { ...SMALL, padding: "valid", bias: "none" },
    size: [2, 5, 5],
    poison: (l) => {
      // expert 2, output channel 3, input channel 0, tap (1, 2): 0 * NaN is NaN too
      l.weights.expertKernels[((2 * 4 + 3) * 4 + 0) * 9 + 5] = NaN;
    },
    expect: channel(3, "nan"),
  },
  {
    name: "NaN kernel tap, replicate padding: its output channel, every example",
    spec: { ...SMALL, paddingMode: "replicate", routing: { kind: "supplied" } },
    size: [2, 4, 4],
    poison: (l) => {
      l.weights.expertKernels[((0 * 4 + 1) * 4 + 2) * 9 + 0] = NaN;
    },
    expect: channel(1, "nan"),
  },
  expertZeroInfinity(1, "1x1"),
  expertZeroInfinity(3, "depthwise"),
  expertZeroInfinity(5, "general"),
  expertZeroInfinity(6, "1x1"),
  expertZeroInfinity(7, "depthwise"),
  expertZeroInfinity(8, "general"),
  {
    name: "-inf kernel tap at the zero border: NaN where it meets the padding, 3 experts",
    spec: { ...SMALL, routing: { kind: "supplied" } },
    size: [2, 5, 5],
    poison: (l) => {
      // expert 1, output channel 1, input channel 2, tap (0, 0)
      l.weights.expertKernels[((1 * 4 + 1) * 4 + 2) * 9] = -Infinity;
    },
    expect: borderNaN(1),
  },
  {
    name: "+inf shared bias: its output channel",
    spec: SMALL,
    size: [2, 4, 4],
    poison: (l) => {
      l.weights.bias![2] = Infinity;
    },
    expect: channel(2, "+inf"),
  },
  {
    name: "NaN per-expert bias: its output channel",
    spec: { ...SMALL, bias: "perExpert" },
    size: [2, 4, 4],
    poison: (l) => {
      l.weights.bias![1 * 4 + 0] = NaN;
    },
    expect: channel(0, "nan"),
  },
  {
    name: "NaN routing-layer weight: every example",
    spec: SMALL,
    size: [2, 4, 4],
    poison: (l) => {
      l.weights.routingWeight![1 * 4 + 3] = NaN;
    },
    expect: allNaN,
  },
  {
    name: "NaN supplied routing weight of example 0: the whole example",
    spec: { ...SMALL, routing: { kind: "supplied" }, bias: "perExpert" },
    size: [2, 4, 4],
    poison: (l) => {
      l.routingWeights![2] = NaN;
    },
    expect: firstExampleNaN,
  },
];

/** `NaN`, `+inf`, `-inf` or `finite` per element. */
function pattern(values: ArrayLike<number>): string[] {
  return Array.from(
    values,
    (v) => Number.isNaN(v) ? "NaN" : v === Infinity ? "+inf" : v === -Infinity ? "-inf" : "finite",
  );
}

Deno.test("the reference propagates NaN and infinity as the formula does", async (t) => {
  for (const [index, s] of SCENARIOS.entries()) {
    await t.step(s.name, async () => {
      const layer = layerOf(s, 500 + index);
      const prepared = await referenceAdapter.prepare(layer.spec, layer.weights);
      const out = await prepared.run(layer.input, layer.routingWeights);
      const oracle = directCondConv(layer.spec, layer.weights, layer.input, layer.routingWeights);
      assert.deepEqual(out.shape, oracle.shape);
      assert.deepEqual(pattern(out.data), pattern(oracle.data), "reference against the formula");
      const problem = s.expect(Float64Array.from(out.data), out.shape);
      assert.equal(problem, undefined, problem ?? "");
    });
  }
});

/**
 * Adapters that differ from the reference on a scenario here, because of the library they
 * run on (not code of this suite): reported by the test, not failed. Every other adapter x
 * scenario must match. Remove an entry once the library or the adapter is fixed.
 */
export const KNOWN_DEVIATIONS: readonly { adapter: string; scenario: RegExp; reason: string }[] = [
  {
    adapter: "ort-webgpu",
    scenario: /softmax routing/,
    reason: "onnxruntime-web 1.30's WebGPU Softmax kernel takes the row maximum with WGSL " +
      "max(), which drops a NaN (and WGSL lets implementations drop NaN and infinity): a NaN " +
      "or +inf logit gives finite routing weights instead of NaN ones, so the example's " +
      "outputs come out finite (or 0) outside the poisoned pixel's receptive field",
  },
  {
    adapter: "tfjs-cpu",
    scenario: /at the zero border/,
    reason: "tfjs 4.22's cpu conv2d skips the taps that fall on the zero padding instead of " +
      "multiplying them by 0, so an infinite tap there adds nothing where PyTorch's float64 " +
      "conv2d (and the formula) gives 0 * inf = NaN; tfjs-wasm and tfjs-webgpu multiply",
  },
  {
    adapter: "ort-webgpu",
    scenario: /at the zero border/,
    reason: "onnxruntime-web 1.30's WebGPU Conv skips the taps that fall on the zero padding " +
      "for this 4-channel layer (a 1-channel layer multiplies them), so an infinite tap there " +
      "adds nothing where PyTorch's float64 conv2d gives 0 * inf = NaN; ort-wasm multiplies",
  },
  {
    adapter: "tfjs-wasm",
    scenario: /1x1 depthwise|zero kernel tap/,
    reason: "tfjs-backend-wasm 4.22's depthwiseConv2d with a 1x1 filter returns -Infinity " +
      "where the result is NaN (NaN pixel times 0.5, or +inf times 0); 3x3 filters keep the " +
      "NaN. Consistent with XNNPACK's output clamp max(acc, -inf) written as a pseudo-max " +
      "(acc > min ? acc : min), which picks -inf for a NaN acc",
  },
];

const available =
  (await availableAdapters((id, reason) => console.warn(`non-finite: ${id} skipped: ${reason}`)))
    .filter((adapter) => adapter !== referenceAdapter);

Deno.test({
  name: "every available adapter propagates NaN and infinity as the reference does",
  ...sanitizers,
  async fn(t) {
    const report: string[] = [];
    for (const adapter of available) {
      await t.step(adapter.id, async () => {
        const failures: string[] = [];
        const deviations: string[] = [];
        for (const [index, s] of SCENARIOS.entries()) {
          const layer = layerOf(s, 500 + index);
          const reference = await referenceAdapter.prepare(layer.spec, layer.weights);
          const truth = Float64Array.from(
            (await reference.run(layer.input, layer.routingWeights)).data,
          );
          const prepared = await adapter.prepare(layer.spec, layer.weights);
          let out;
          try {
            out = await prepared.run(layer.input, layer.routingWeights);
          } catch (error) {
            failures.push(`${s.name}: threw ${error}`);
            continue;
          } finally {
            await prepared.dispose();
          }
          const c = compareWithTruth(out.data, truth, toleranceFor(adapter.toleranceClass, 0));
          if (c.pass) continue;
          const i = c.worstIndex;
          const text = `${s.name}: ${c.nonFiniteMismatches} of ${truth.length} values differ ` +
            `in finiteness (first at ${i}: ${out.data[i]}, reference ${truth[i]})`;
          const known = KNOWN_DEVIATIONS.find((d) =>
            d.adapter === adapter.id && d.scenario.test(s.name)
          );
          if (known) deviations.push(`${text} [known: ${known.reason}]`);
          else failures.push(text);
        }
        report.push(
          `${adapter.id}: ` +
            ([...failures, ...deviations].join("; ") || "as the reference on every scenario"),
        );
        assert.deepEqual(failures, [], `${adapter.id} differs from the reference`);
      });
    }
    console.log(`non-finite propagation:\n  ${report.join("\n  ")}`);
  },
});

Deno.test("conformance reports an adapter that outputs NaN as a failure, with the count", async () => {
  const set = await loadFixtureSet();
  const fixtures = set.fixtures.filter((f) => f.entry.id === "control");
  const nanAdapter = editedReference("nan-at-7", (data) => {
    data[7] = NaN;
    data[9] = -Infinity;
  });
  const run = await runConformance({
    adapters: [nanAdapter],
    targets: await loadTargets(set, fixtures),
  });
  assert.equal(run.results.length, 1);
  const [result] = run.results;
  assert.equal(result.status, "fail");
  assert.match(
    result.reason!,
    /^2 values non-finite where the truth is not \(first at index 7: NaN vs -?\d/,
  );
});

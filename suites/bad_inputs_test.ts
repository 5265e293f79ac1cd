/**
 * The bad-input catalogue: every way a user can hand the suite something wrong, each with
 * the exact error it must get (class and message). One table per kind:
 *
 * - `SPEC_AND_SHAPE`: invalid specs and cases (a `ZodError` with the field's path) and specs
 *   that cannot apply to an input (a `RangeError` naming the field);
 * - `RUN_INPUTS`: wrong inputs and routing weights, run on every available adapter, which
 *   must all reject them the same way before touching their backend;
 * - `WEIGHTS`: weights that do not match their spec, on every available adapter's `prepare`
 *   and on `checkWeights` itself;
 * - `FIXTURES`: corrupt, truncated or inconsistent fixture files (a `FixtureError` naming the
 *   file and the fault);
 * - `COMMANDS`: unknown flags, ids and bad numbers for conform, bench and gate (a
 *   `UsageError`, exit status 2).
 *
 * NaN and infinity are not bad inputs: they propagate, see `non_finite_test.ts`.
 * @module
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { CondConvAdapter, PreparedCondConv } from "../impls/adapter.ts";
import { ADAPTERS } from "../impls/registry.ts";
import { GoldenCase } from "../condconv/cases.ts";
import {
  CondConvSpec,
  type CondConvSpecInput,
  type CondConvWeights,
  type Tensor,
} from "../condconv/spec.ts";
import { checkWeights, resolveGeometry } from "../condconv/geometry.ts";
import { benchMain } from "./bench.ts";
import { UsageError } from "./_shared/cli.ts";
import { conformMain } from "./conform.ts";
import { FixtureError, loadCaseTensors, loadFixtureSet, loadGolden } from "./_shared/fixtures.ts";
import { gateMain } from "./gate.ts";
import { copyFixtures, editJson } from "./_testing/adapters.ts";

// tfjs, onnxruntime-web and the WebGPU adapters keep their runtimes for the process's life.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

type ErrorClass = new (...args: never[]) => Error;

/** One bad input and the error it must raise. */
interface Entry {
  name: string;
  error: ErrorClass;
  message: RegExp;
}

/** Asserts that `act` throws or rejects with exactly `entry`'s class and message. */
async function assertRejects(entry: Entry, act: () => unknown, where = "") {
  let thrown: unknown;
  try {
    await act();
  } catch (error) {
    thrown = error;
  }
  const label = `${entry.name}${where}`;
  assert.ok(thrown !== undefined, `${label}: expected ${entry.error.name}, nothing was thrown`);
  assert.ok(
    thrown instanceof entry.error,
    `${label}: expected ${entry.error.name}, got ${String(thrown)}`,
  );
  // a ZodError's message is its issues as JSON (quotes escaped): match the issues' own text
  const text = thrown instanceof z.ZodError
    ? thrown.issues.map((i) => i.message).join("\n")
    : (thrown as Error).message;
  assert.match(text, entry.message, label);
}

// ---------------------------------------------------------------------------------------
// Specs, cases and geometry

const MINIMAL = { inChannels: 4, outChannels: 8, kernelSize: 3 } as const;

interface SpecEntry extends Entry {
  act: () => unknown;
  /** for a `ZodError`: the path of the issue, dot-joined ("" for the root) */
  path?: string;
}

function zodEntry(name: string, spec: unknown, path: string, message: RegExp): SpecEntry {
  return { name, act: () => CondConvSpec.parse(spec), error: z.ZodError, path, message };
}

/** Applies a parsed spec to an input shape. */
function geometryOf(spec: CondConvSpecInput, shape: number[]) {
  return () => resolveGeometry(CondConvSpec.parse(spec), shape);
}

const CASE = {
  id: "bad",
  about: "a bad case",
  seed: 1,
  input: { batch: 1, height: 8, width: 8 },
  spec: MINIMAL,
};

const SPEC_AND_SHAPE: SpecEntry[] = [
  zodEntry(
    "spec with an unknown key",
    { ...MINIMAL, experts: 4 },
    "",
    /Unrecognized key: "experts"/,
  ),
  zodEntry(
    "spec without inChannels",
    { outChannels: 8, kernelSize: 3 },
    "inChannels",
    /expected number, received undefined/,
  ),
  zodEntry("spec that is null", null, "", /expected object, received null/),
  zodEntry("zero kernel", { ...MINIMAL, kernelSize: 0 }, "kernelSize", /Too small/),
  zodEntry("kernel triple", { ...MINIMAL, kernelSize: [3, 3, 3] }, "kernelSize", /Invalid input/),
  zodEntry("fractional numExperts", { ...MINIMAL, numExperts: 2.5 }, "numExperts", /expected int/),
  zodEntry(
    "infinite inChannels",
    { ...MINIMAL, inChannels: Infinity },
    "inChannels",
    /received Infinity/,
  ),
  zodEntry(
    "NaN softmax temperature",
    { ...MINIMAL, routing: { kind: "softmax", temperature: NaN } },
    "routing.temperature",
    /received NaN/,
  ),
  zodEntry(
    "infinite softmax temperature",
    { ...MINIMAL, routing: { kind: "softmax", temperature: Infinity } },
    "routing.temperature",
    /received Infinity/,
  ),
  zodEntry(
    "unknown routing kind",
    { ...MINIMAL, routing: { kind: "relu" } },
    "routing.kind",
    /Expected 'sigmoid' \| 'softmax' \| 'supplied'/,
  ),
  zodEntry(
    "unknown padding mode",
    { ...MINIMAL, paddingMode: "mirror" },
    "paddingMode",
    /expected one of "zeros"\|"reflect"\|"replicate"\|"circular"/,
  ),
  zodEntry(
    "bias as a boolean",
    { ...MINIMAL, bias: true },
    "bias",
    /expected one of "none"\|"shared"\|"perExpert"/,
  ),
  zodEntry(
    "dropout rate 1",
    { ...MINIMAL, dropoutRate: 1 },
    "dropoutRate",
    /expected number to be <1/,
  ),
  zodEntry(
    "groups not dividing inChannels",
    { ...MINIMAL, groups: 3 },
    "groups",
    /groups \(3\) must divide inChannels \(4\)/,
  ),
  zodEntry(
    "groups not dividing outChannels",
    { ...MINIMAL, outChannels: 6, groups: 4 },
    "groups",
    /groups \(4\) must divide outChannels \(6\)/,
  ),
  {
    name: "golden case whose inputScale is not a power of two",
    act: () => GoldenCase.parse({ ...CASE, data: { inputScale: 3 } }),
    error: z.ZodError,
    path: "data.inputScale",
    message: /inputScale must be a power of two/,
  },
  {
    name: "golden case with a NaN input offset",
    act: () => GoldenCase.parse({ ...CASE, data: { inputOffset: NaN } }),
    error: z.ZodError,
    path: "data.inputOffset",
    message: /received NaN/,
  },
  {
    name: "golden case whose reflect padding reaches the input's size",
    act: () =>
      GoldenCase.parse({
        ...CASE,
        input: { batch: 1, height: 2, width: 8 },
        spec: { ...MINIMAL, padding: 2, paddingMode: "reflect" },
      }),
    error: z.ZodError,
    path: "spec.padding",
    message: /reflect padding must be smaller than the input: pads 2 height pixels/,
  },
  {
    name: "kernel larger than the padded input",
    act: geometryOf({ ...MINIMAL, kernelSize: 5, padding: 1 }, [1, 4, 2, 8]),
    error: RangeError,
    message: /kernelSize: kernel spans 5 height pixels .* the padded input has 4/,
  },
  {
    name: "dilated kernel larger than the input",
    act: geometryOf({ ...MINIMAL, dilation: [1, 4] }, [1, 4, 8, 8]),
    error: RangeError,
    message: /kernel spans 9 width pixels \(kernel 3, dilation 4\) but the padded input has 8/,
  },
  {
    name: "circular padding beyond the input",
    act: geometryOf({ ...MINIMAL, padding: [0, 3], paddingMode: "circular" }, [1, 4, 8, 2]),
    error: RangeError,
    message: /circular padding cannot exceed the input: pads 3 width pixels/,
  },
  {
    name: "TensorFlow same padding that reflects past a 1-pixel input",
    act: geometryOf({ ...MINIMAL, padding: "same", paddingMode: "reflect" }, [1, 4, 1, 8]),
    error: RangeError,
    message: /reflect padding must be smaller than the input: pads 1 height pixels of an input 1/,
  },
];

Deno.test("bad specs, cases and geometries are rejected with the field named", async (t) => {
  for (const entry of SPEC_AND_SHAPE) {
    await t.step(entry.name, async () => {
      await assertRejects(entry, entry.act);
      if (entry.error === z.ZodError) {
        let issues: z.core.$ZodIssue[] = [];
        try {
          entry.act();
        } catch (error) {
          issues = (error as z.ZodError).issues;
        }
        const paths = issues.map((i) => i.path.join("."));
        assert.ok(
          paths.includes(entry.path!),
          `${entry.name}: expected an issue at "${entry.path}", got ${JSON.stringify(paths)}`,
        );
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// Inputs and routing weights, on every available adapter

const COMPUTED = CondConvSpec.parse({
  inChannels: 2,
  outChannels: 2,
  kernelSize: 3,
  padding: 1,
  numExperts: 2,
});
const SUPPLIED = CondConvSpec.parse({ ...COMPUTED, routing: { kind: "supplied" } });
const COMPUTED_WEIGHTS: CondConvWeights = {
  expertKernels: new Float32Array(2 * 2 * 2 * 9).fill(0.125),
  bias: new Float32Array(2),
  routingWeight: new Float32Array(4),
  routingBias: new Float32Array(2),
};
const SUPPLIED_WEIGHTS: CondConvWeights = {
  expertKernels: COMPUTED_WEIGHTS.expertKernels,
  bias: COMPUTED_WEIGHTS.bias,
};

function input(shape: number[], data: ArrayLike<number> = new Float32Array(size(shape))): Tensor {
  return { shape, data: data as Float32Array };
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * Math.max(b, 0), 1);
}

interface RunEntry extends Entry {
  layer: "computed" | "supplied";
  input: Tensor;
  routing?: unknown;
}

const GOOD = input([1, 2, 4, 4]);

const RUN_INPUTS: RunEntry[] = [
  {
    name: "Float64Array input",
    layer: "computed",
    input: input([1, 2, 4, 4], new Float64Array(32)),
    error: TypeError,
    message: /^Cannot run: input\.data must be a Float32Array$/,
  },
  {
    name: "plain array input",
    layer: "computed",
    input: input([1, 2, 4, 4], new Array(32).fill(0)),
    error: TypeError,
    message: /^Cannot run: input\.data must be a Float32Array$/,
  },
  {
    name: "input one float short",
    layer: "computed",
    input: input([1, 2, 4, 4], new Float32Array(31)),
    error: RangeError,
    message: /^Cannot run: input\.data has 31 floats but input\.shape \[1,2,4,4\] needs 32$/,
  },
  {
    name: "3-D input shape",
    layer: "computed",
    input: input([2, 4, 4]),
    error: RangeError,
    message: /input\.shape: expected \[batch, channels, height, width\] of integers, got \[2,4,4\]/,
  },
  {
    name: "fractional input shape",
    layer: "computed",
    input: input([1, 2, 4.5, 4], new Float32Array(36)),
    error: RangeError,
    message: /input\.shape: expected .* of integers, got \[1,2,4\.5,4\]/,
  },
  {
    name: "wrong number of channels",
    layer: "computed",
    input: input([1, 3, 4, 4]),
    error: RangeError,
    message: /input\.channels: input has 3 channels but spec\.inChannels is 2/,
  },
  {
    name: "empty batch",
    layer: "computed",
    input: input([0, 2, 4, 4]),
    error: RangeError,
    message: /input\.batch: batch must be at least 1/,
  },
  {
    name: "zero-height input",
    layer: "computed",
    input: input([1, 2, 0, 4]),
    error: RangeError,
    message: /input\.height: input height and width must be at least 1, got 0x4/,
  },
  {
    name: "supplied routing missing",
    layer: "supplied",
    input: GOOD,
    error: TypeError,
    message: /routing is "supplied", so routingWeights \(a Float32Array of \[1, 2\]\) must be/,
  },
  {
    name: "supplied routing one weight short",
    layer: "supplied",
    input: GOOD,
    routing: new Float32Array(1),
    error: RangeError,
    message: /^Cannot run: routingWeights has 1 floats, expected \[1, 2\] = 2$/,
  },
  {
    name: "supplied routing for the whole batch of another size",
    layer: "supplied",
    input: input([3, 2, 4, 4]),
    routing: new Float32Array(4),
    error: RangeError,
    message: /routingWeights has 4 floats, expected \[3, 2\] = 6/,
  },
  {
    name: "supplied routing as a Float64Array",
    layer: "supplied",
    input: GOOD,
    routing: new Float64Array(2),
    error: TypeError,
    message: /routingWeights \(a Float32Array of \[1, 2\]\)/,
  },
  {
    name: "extra routing weights for computed routing",
    layer: "computed",
    input: GOOD,
    routing: new Float32Array(2),
    error: TypeError,
    message: /routing is "sigmoid" \(computed from the input\), so routingWeights must not be/,
  },
];

const available: CondConvAdapter[] = [];
for (const adapter of ADAPTERS) {
  const a = await adapter.availability();
  if (a.available) available.push(adapter);
  else console.warn(`bad inputs: ${adapter.id} skipped: ${a.reason}`);
}

Deno.test({
  name: "every available adapter rejects bad inputs and routing weights alike",
  ...sanitizers,
  async fn(t) {
    for (const adapter of available) {
      await t.step(adapter.id, async () => {
        const layers: Record<RunEntry["layer"], PreparedCondConv> = {
          computed: await adapter.prepare(COMPUTED, COMPUTED_WEIGHTS),
          supplied: await adapter.prepare(SUPPLIED, SUPPLIED_WEIGHTS),
        };
        try {
          for (const entry of RUN_INPUTS) {
            await assertRejects(
              entry,
              () => layers[entry.layer].run(entry.input, entry.routing as Float32Array),
              ` on ${adapter.id}`,
            );
          }
          // and the layers still work afterwards
          const out = await layers.supplied.run(GOOD, new Float32Array([0.5, 0.5]));
          assert.deepEqual(out.shape, [1, 2, 4, 4]);
        } finally {
          await layers.computed.dispose();
          await layers.supplied.dispose();
        }
      });
    }
  },
});

// ---------------------------------------------------------------------------------------
// Weights that do not match their spec

interface WeightsEntry extends Entry {
  spec: CondConvSpec;
  weights: CondConvWeights;
}

const PER_EXPERT = CondConvSpec.parse({ ...COMPUTED, bias: "perExpert" });

const WEIGHTS: WeightsEntry[] = [
  {
    name: "shared bias missing",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, bias: undefined },
    error: TypeError,
    message: /^Cannot use weights: "bias" must be a Float32Array of \[2\]$/,
  },
  {
    name: "bias given to a layer without one",
    spec: CondConvSpec.parse({ ...COMPUTED, bias: "none" }),
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /^Cannot use weights\."bias": the spec \(bias "none", routing "sigmoid"\) has no/,
  },
  {
    name: "per-expert bias of the shared bias's length",
    spec: PER_EXPERT,
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /^Cannot use weights\."bias": expected 4 floats for \[2,2\], found 2$/,
  },
  {
    name: "routing layer given with supplied routing",
    spec: SUPPLIED,
    weights: COMPUTED_WEIGHTS,
    error: TypeError,
    message: /weights\."routingWeight": the spec \(bias "shared", routing "supplied"\) has no/,
  },
  {
    name: "routing bias missing",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, routingBias: undefined },
    error: TypeError,
    message: /^Cannot use weights: "routingBias" must be a Float32Array of \[2\]$/,
  },
  {
    name: "routing weight transposed to the wrong length",
    spec: CondConvSpec.parse({ ...COMPUTED, numExperts: 3 }),
    weights: {
      ...COMPUTED_WEIGHTS,
      expertKernels: new Float32Array(3 * 36),
      routingWeight: new Float32Array(2 * 2),
      routingBias: new Float32Array(3),
    },
    error: TypeError,
    message: /weights\."routingWeight": expected 6 floats for \[3,2\], found 4/,
  },
  {
    name: "expert kernels as a Float64Array",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, expertKernels: new Float64Array(72) as never },
    error: TypeError,
    message: /^Cannot use weights: "expertKernels" must be a Float32Array of \[2,2,2,3,3\]$/,
  },
  {
    name: "expert kernels one float short",
    spec: COMPUTED,
    weights: { ...COMPUTED_WEIGHTS, expertKernels: new Float32Array(71) },
    error: TypeError,
    message: /weights\."expertKernels": expected 72 floats for \[2,2,2,3,3\], found 71/,
  },
];

Deno.test("checkWeights rejects weights that do not match their spec", async (t) => {
  for (const entry of WEIGHTS) {
    await t.step(
      entry.name,
      () => assertRejects(entry, () => checkWeights(entry.spec, entry.weights)),
    );
  }
});

Deno.test({
  name: "every available adapter's prepare rejects weights that do not match their spec",
  ...sanitizers,
  async fn(t) {
    for (const adapter of available) {
      await t.step(adapter.id, async () => {
        for (const entry of WEIGHTS) {
          await assertRejects(entry, async () => {
            const prepared = await adapter.prepare(entry.spec, entry.weights);
            await prepared.dispose();
          }, ` on ${adapter.id}`);
        }
      });
    }
  },
});

// ---------------------------------------------------------------------------------------
// Fixture files

interface FixtureEntry extends Entry {
  corrupt: (dir: string) => Promise<void>;
}

const GOLDEN = "goldens/control.f64";

async function rewriteBytes(path: string, edit: (bytes: Uint8Array) => Uint8Array) {
  await Deno.writeFile(path, edit(await Deno.readFile(path)));
}

const FIXTURES: FixtureEntry[] = [
  {
    name: "golden with one byte too many",
    corrupt: (dir) => rewriteBytes(`${dir}/${GOLDEN}`, (b) => Uint8Array.from([...b, 0])),
    error: FixtureError,
    message: /control\.f64": expected 1024 float64 values \(8192 bytes\), found 8193 bytes/,
  },
  {
    name: "empty golden",
    corrupt: (dir) => Deno.writeFile(`${dir}/${GOLDEN}`, new Uint8Array(0)),
    error: FixtureError,
    message: /control\.f64": expected 1024 float64 values \(8192 bytes\), found 0 bytes/,
  },
  {
    name: "golden with a NaN written over one value",
    corrupt: (dir) =>
      rewriteBytes(`${dir}/${GOLDEN}`, (b) => {
        new DataView(b.buffer).setFloat64(8 * 5, NaN, true);
        return b;
      }),
    error: FixtureError,
    message: /control\.f64": corrupt, sha256 is [0-9a-f]{64} but the manifest says/,
  },
  {
    name: "case list cut off mid-file",
    corrupt: async (dir) => {
      const text = await Deno.readTextFile(`${dir}/cases.json`);
      await Deno.writeTextFile(`${dir}/cases.json`, text.slice(0, text.length >> 1));
    },
    error: FixtureError,
    message: /cases\.json": invalid JSON: SyntaxError/,
  },
  {
    name: "empty case list file",
    corrupt: (dir) => Deno.writeTextFile(`${dir}/cases.json`, ""),
    error: FixtureError,
    message: /cases\.json": invalid JSON/,
  },
  {
    name: "case list without cases",
    corrupt: (dir) => Deno.writeTextFile(`${dir}/cases.json`, '{"cases": []}'),
    error: FixtureError,
    message: /cases\.json":\n.*Too small: expected array to have >=1 items/s,
  },
  {
    name: "manifest checksum that is not hex",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.cases[0].sha256 = "xyz"),
    error: FixtureError,
    message: /manifest\.json":\n.*expected a sha256 hex digest.*at cases\[0\]\.sha256/s,
  },
  {
    name: "manifest of another format",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.format = 2),
    error: FixtureError,
    message: /manifest\.json":\n.*at format/s,
  },
  {
    name: "manifest output shape that disagrees with the golden",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.cases[0].outputShape[0] = 1),
    error: FixtureError,
    message: /control\.f64": expected 512 float64 values \(4096 bytes\), found 8192 bytes/,
  },
  {
    name: "case seed changed after the goldens were made",
    corrupt: (dir) => editJson(`${dir}/cases.json`, (v) => v.cases[0].seed = 102),
    error: FixtureError,
    message: /Cannot use stale fixture for case "control"/,
  },
  {
    name: "fixtures folder that does not exist",
    corrupt: (dir) => Deno.remove(dir, { recursive: true }),
    error: FixtureError,
    message: /cases\.json": file not found \(run `deno task goldens`\)/,
  },
];

Deno.test("corrupt and truncated fixtures are refused with the file and the fault", async (t) => {
  for (const entry of FIXTURES) {
    await t.step(entry.name, async () => {
      const dir = await copyFixtures(["control"]);
      try {
        await entry.corrupt(dir);
        await assertRejects(entry, async () => {
          const set = await loadFixtureSet(dir);
          for (const fixture of set.fixtures) {
            await loadGolden(set, fixture);
            await loadCaseTensors(fixture);
          }
        });
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// Commands

interface CommandEntry extends Entry {
  main: (args: string[]) => Promise<number>;
  args: string[];
}

const usage = (
  name: string,
  main: CommandEntry["main"],
  args: string[],
  message: RegExp,
): CommandEntry => ({ name, main, args, error: UsageError, message });

const COMMANDS: CommandEntry[] = [
  usage("conform: misspelt flag", conformMain, ["--adaptor", "ts"], /^Unknown option '--adaptor'/),
  usage(
    "conform: flag without its value",
    conformMain,
    ["--json"],
    /Option '--json <value>' argument missing/,
  ),
  usage("conform: positional argument", conformMain, ["control"], /^Unexpected argument 'control'/),
  usage(
    "conform: value for a boolean flag",
    conformMain,
    ["--help=yes"],
    /Option '--help' does not take an argument/,
  ),
  usage(
    "conform: unknown adapter id",
    conformMain,
    ["--adapter", "tfjs-gpu"],
    /^Unknown adapter "tfjs-gpu": it matches none of reference/,
  ),
  usage(
    "conform: case glob matching nothing",
    conformMain,
    ["--case", "nope*"],
    /^Unknown case "nope\*": it matches none of control/,
  ),
  usage("bench: unknown flag", benchMain, ["--bogus"], /^Unknown option '--bogus'/),
  usage("bench: unknown adapter id", benchMain, ["--adapter", "onnx"], /^Unknown adapter "onnx"/),
  usage(
    "bench: unknown case id",
    benchMain,
    ["--case", "nope", "--no-torch"],
    /^Unknown case "nope"/,
  ),
  usage(
    "bench: unknown set",
    benchMain,
    ["--set", "mobilenet"],
    /^Unknown set "mobilenet": the sets are/,
  ),
  usage(
    "bench: negative budget",
    benchMain,
    ["--budget-ms=-1"],
    /^Invalid --budget-ms "-1": expected a positive integer$/,
  ),
  usage(
    "bench: fractional sample count",
    benchMain,
    ["--min-samples", "1.5"],
    /^Invalid --min-samples "1\.5"/,
  ),
  usage(
    "bench: zero torch threads",
    benchMain,
    ["--torch-threads", "0"],
    /^Invalid --torch-threads "0"/,
  ),
  usage("gate: unknown flag", gateMain, ["--frobnicate"], /^Unknown option '--frobnicate'/),
  usage(
    "gate: zero rounds",
    gateMain,
    ["--rounds", "0"],
    /^Invalid --rounds "0": expected a positive integer$/,
  ),
  usage(
    "gate: one round (an interval needs two)",
    gateMain,
    ["--rounds", "1"],
    /^Invalid --rounds "1": at least 2, an interval needs two rounds$/,
  ),
  usage(
    "gate: fractional blocks",
    gateMain,
    ["--blocks", "2.5"],
    /^Invalid --blocks "2.5": expected a positive integer$/,
  ),
  usage(
    "gate: zero block time",
    gateMain,
    ["--block-ms", "0"],
    /^Invalid --block-ms "0": expected a positive number$/,
  ),
  usage(
    "gate: base revision that does not exist",
    gateMain,
    ["--base", "no-such-rev"],
    /^Unknown --base "no-such-rev": not a commit of this repository$/,
  ),
  usage(
    "gate: threshold that is not a number",
    gateMain,
    ["--threshold", "abc"],
    /^Invalid --threshold "abc"/,
  ),
  usage(
    "gate: unknown case",
    gateMain,
    ["--case", "nope"],
    /^Unknown case "nope": it matches none of control, /,
  ),
  usage(
    "gate: unknown adapter",
    gateMain,
    ["--adapter", "nope"],
    /^Unknown adapter "nope": it matches none of/,
  ),
  usage(
    "gate: --base without a revision",
    gateMain,
    ["--base"],
    /Option '--base <value>' argument missing/,
  ),
];

Deno.test({
  name: "conform, bench and gate reject bad flags and ids with a UsageError",
  ...sanitizers,
  async fn(t) {
    for (const entry of COMMANDS) {
      await t.step(entry.name, () => assertRejects(entry, () => entry.main(entry.args)));
    }
    // the accepted-changes file of the gate is checked like a fixture
    const dir = await Deno.makeTempDir({ prefix: "condconv-bad-inputs-" });
    try {
      await Deno.writeTextFile(`${dir}/not-json.json`, "{accepted: []");
      await Deno.writeTextFile(
        `${dir}/no-reason.json`,
        JSON.stringify({
          accepted: [{ adapter: "ts", case: "control@b2", maxRatio: 1.2, reason: "" }],
        }),
      );
      const accepted: CommandEntry[] = [
        usage("gate: accepted-changes file that is not JSON", gateMain, [
          "--accepted",
          `${dir}/not-json.json`,
        ], /^Cannot load accepted changes ".*not-json\.json": invalid JSON/),
        usage("gate: accepted change without a reason", gateMain, [
          "--accepted",
          `${dir}/no-reason.json`,
        ], /say why the slowdown is accepted/),
      ];
      for (const entry of accepted) {
        await t.step(entry.name, () => assertRejects(entry, () => entry.main(entry.args)));
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the catalogue has at least 30 distinct bad inputs", () => {
  const names = [
    ...SPEC_AND_SHAPE,
    ...RUN_INPUTS,
    ...WEIGHTS,
    ...FIXTURES,
    ...COMMANDS,
  ].map((e) => e.name);
  assert.equal(new Set(names).size, names.length, "duplicate entry names");
  assert.ok(names.length >= 30, `only ${names.length} entries`);
});

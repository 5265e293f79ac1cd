/**
 * Warm timings of the onnxruntime-web adapters: not the benchmark suite, just the numbers
 * behind the choices in `condconv/formats/onnx_graph.ts` and `impls/_ort/adapter.ts`.
 *
 * ```
 * deno run --allow-read=. --allow-sys=cpus --allow-env scripts/ort_timing.ts \
 *   [--adapter <glob>]... [--case <glob>]... [--batch 1,8] [--runs 5] [--budget-ms 4000] \
 *   [--formulations [--ep wasm|webgpu]...] [--workarounds]
 * ```
 * Default: each adapter (`ort-*`) on each case (default `effnet-b0.*`) and batch: prepare,
 * 2 warm-up runs, then up to `--runs` timed runs or `--budget-ms` of them, whichever ends
 * first; prints the median and the fastest. A run is the whole `run()`: input copy, routing,
 * mixing, convolution and readback. The batch-B input is the case's seeded input stream, so
 * its first example is the golden input and the first example's output is checked against
 * the golden.
 *
 * `--formulations [--ep wasm|webgpu]...`: per execution provider, case and batch, sessions made
 * here for `grouped-conv` (a model and session per batch size) and `im2col-matmul` (one
 * dynamic-batch model for every batch), with each session's creation time; after 2 warm-up
 * runs each, their `--runs` timed runs alternate so that both see the same machine load.
 *
 * `--workarounds`: what ort-webgpu's workaround of the WebGPU Conv bug costs, on the layers of
 * `WORKAROUND_LAYERS` (each shows the bug in the plain graph: `condConvConvBug`). ort-webgpu
 * with its workarounds and without them (`createOrtWebgpuAdapter({ workarounds: false })`,
 * wrong numbers) run alternately, 2 warm-up runs then `--runs` timed runs each; prints both
 * medians (warm p50), their ratio, and each one's check against the reference adapter.
 * @module
 */
import type { CondConvAdapter, PreparedCondConv } from "../impls/adapter.ts";
import { ortSessionOptions } from "../impls/_ort/runtime.ts";
import {
  buildCondConvOnnx,
  condConvConvBug,
  type CondConvOnnxModel,
  type ConvFormulation,
  INPUT_NAME,
  type KernelMixing,
  OUTPUT_NAME,
} from "../condconv/formats/onnx_graph.ts";
import { ortWasmAdapter } from "../impls/ort_wasm.ts";
import { createOrtWebgpuAdapter, ortWebgpuAdapter } from "../impls/ort_webgpu.ts";
import type { CondConvSpecInput, Tensor } from "../condconv/spec.ts";
import { caseTensors, seededUniform, STREAMS } from "../condconv/seeded.ts";
import { GoldenCase } from "../condconv/cases.ts";
import { referenceAdapter } from "../impls/reference.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { parseFlags, runMain, selectByIds, UsageError } from "../suites/_shared/cli.ts";
import { median } from "../suites/gate/stats.ts";
import {
  type Fixture,
  type FixtureSet,
  loadCaseTensors,
  loadFixtureSet,
  loadGolden,
} from "../suites/_shared/fixtures.ts";

const ADAPTERS: CondConvAdapter[] = [ortWasmAdapter, ortWebgpuAdapter];

/** 2 warm-up calls, then up to `runs` timed calls or `budgetMs` of them. */
async function time(
  call: () => Promise<unknown>,
  runs: number,
  budgetMs: number,
): Promise<{ median: number; min: number; runs: number }> {
  await call();
  await call();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < runs && (times.length === 0 || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await call();
    times.push(performance.now() - t0);
  }
  return { median: median(times), min: Math.min(...times), runs: times.length };
}

/** The case's input at another batch size: the seeded stream, longer. */
function batchInput(fixture: Fixture, batch: number): Tensor {
  const { goldenCase } = fixture;
  const { height, width } = goldenCase.input;
  const shape = [batch, goldenCase.spec.inChannels, height, width];
  const { data } = goldenCase;
  const length = shape.reduce((a, b) => a * b, 1);
  const values = data.input === "zeros" ? new Float32Array(length) : seededUniform(
    goldenCase.seed,
    STREAMS.input,
    length,
    data.inputScale,
    data.inputOffset,
  );
  return { shape, data: values };
}

function routingFor(fixture: Fixture, batch: number): Float32Array | undefined {
  const { spec, seed } = fixture.goldenCase;
  if (spec.routing.kind !== "supplied") return undefined;
  return seededUniform(seed, STREAMS.suppliedRouting, batch * spec.numExperts, 0.5, 0.5);
}

function checkFirst(
  output: Float32Array,
  truth: Float64Array,
  adapter: CondConvAdapter,
  fixture: Fixture,
): string {
  const tolerance = toleranceFor(adapter.toleranceClass, fixture.entry.torchFloat32.maxAbsErr);
  // the first examples of the seeded stream are the golden's, at any batch size
  const n = Math.min(output.length, truth.length);
  const result = compareWithTruth(output.subarray(0, n), truth.subarray(0, n), tolerance);
  return result.pass ? "ok" : `FAIL (${result.worstRatio.toFixed(2)}x tol)`;
}

function ms(value: number): string {
  return value.toFixed(2).padStart(10);
}

async function timeAdapters(
  set: FixtureSet,
  fixtures: Fixture[],
  adapters: CondConvAdapter[],
  batches: number[],
  runs: number,
  budgetMs: number,
): Promise<void> {
  console.log(
    "adapter      case                             batch   median ms     min ms  runs  check",
  );
  for (const adapter of adapters) {
    const availability = await adapter.availability();
    if (!availability.available) {
      console.log(`${adapter.id}: skipped: ${availability.reason}`);
      continue;
    }
    console.log(`${adapter.id}: ${availability.backend} ${JSON.stringify(availability.info)}`);
    const totals = new Map<number, number>();
    for (const fixture of fixtures) {
      const { weights } = await loadCaseTensors(fixture);
      const truth = await loadGolden(set, fixture);
      let prepared: PreparedCondConv | undefined;
      try {
        prepared = await adapter.prepare(fixture.goldenCase.spec, weights);
        for (const batch of batches) {
          const input = batchInput(fixture, batch);
          const routing = routingFor(fixture, batch);
          let last: Tensor | undefined;
          const t = await time(
            async () => {
              last = await prepared!.run(input, routing);
            },
            runs,
            budgetMs,
          );
          totals.set(batch, (totals.get(batch) ?? 0) + t.median);
          console.log(
            `${adapter.id.padEnd(12)} ${fixture.entry.id.padEnd(32)} ${String(batch).padStart(5)}` +
              ` ${ms(t.median)} ${ms(t.min)} ${String(t.runs).padStart(5)}  ` +
              checkFirst(last!.data, truth, adapter, fixture),
          );
        }
      } finally {
        await prepared?.dispose();
      }
    }
    for (const [batch, total] of totals) {
      console.log(`${adapter.id}: sum of medians at batch ${batch}: ${total.toFixed(1)} ms`);
    }
  }
}

async function timeFormulations(
  set: FixtureSet,
  fixtures: Fixture[],
  eps: ("wasm" | "webgpu")[],
  batches: number[],
  runs: number,
): Promise<void> {
  const adapters = { wasm: ortWasmAdapter, webgpu: ortWebgpuAdapter };
  console.log(
    "ep      case                             batch  grouped: create ms  median ms" +
      "   im2col: create ms  median ms  faster   check",
  );
  for (const ep of eps) {
    const adapter = adapters[ep];
    // availability() initialises the runtime (and for WebGPU holds the EP's device)
    const availability = await adapter.availability();
    if (!availability.available) {
      console.log(`${ep}: skipped: ${availability.reason}`);
      continue;
    }
    // mix the experts as the adapter does on this EP
    const kernelMixing = availability.info.kernelMixing as KernelMixing;
    const ort = ep === "wasm"
      ? await import("onnxruntime-web/wasm")
      : await import("onnxruntime-web/webgpu");
    type Session = Awaited<ReturnType<typeof ort.InferenceSession.create>>;
    const create = async (model: CondConvOnnxModel) => {
      const t0 = performance.now();
      const session = await ort.InferenceSession.create(model.bytes, ortSessionOptions(ep));
      return { session, createMs: performance.now() - t0 };
    };
    const totals = new Map<string, number>();
    const add = (key: string, value: number) => totals.set(key, (totals.get(key) ?? 0) + value);
    for (const fixture of fixtures) {
      const { spec } = fixture.goldenCase;
      if (spec.routing.kind === "supplied") {
        throw new UsageError("--formulations times computed-routing cases only");
      }
      const { weights } = await loadCaseTensors(fixture);
      const truth = await loadGolden(set, fixture);
      const { height, width } = fixture.goldenCase.input;
      const build = (batch: number | "dynamic", formulation: ConvFormulation) =>
        buildCondConvOnnx(spec, weights, { height, width, batch, formulation, kernelMixing });
      const dynamic = await create(build("dynamic", "im2col-matmul"));
      try {
        for (const batch of batches) {
          const grouped = await create(build(batch, "grouped-conv"));
          try {
            const input = batchInput(fixture, batch);
            const feeds = { [INPUT_NAME]: new ort.Tensor("float32", input.data, input.shape) };
            const outputs: Float32Array[] = [];
            const runOnce = async (session: Session) => {
              const t0 = performance.now();
              const result = await session.run(feeds);
              outputs.push(result[OUTPUT_NAME].data as Float32Array);
              return performance.now() - t0;
            };
            // warm-up, then the two alternate so that both see the same machine load
            for (let i = 0; i < 2; i++) {
              await runOnce(grouped.session);
              await runOnce(dynamic.session);
            }
            const groupedTimes: number[] = [], dynamicTimes: number[] = [];
            for (let i = 0; i < runs; i++) {
              groupedTimes.push(await runOnce(grouped.session));
              dynamicTimes.push(await runOnce(dynamic.session));
            }
            const g = median(groupedTimes), d = median(dynamicTimes);
            add(`grouped-conv batch ${batch}`, g);
            add(`im2col-matmul batch ${batch}`, d);
            const checks = outputs.slice(-2).map((o) => checkFirst(o, truth, adapter, fixture));
            console.log(
              `${ep.padEnd(7)} ${fixture.entry.id.padEnd(32)} ${String(batch).padStart(5)}` +
                `          ${ms(grouped.createMs)} ${ms(g)}           ${ms(dynamic.createMs)} ` +
                `${ms(d)}  ${(g <= d ? "grouped" : "im2col").padEnd(8)} ${checks.join("/")}`,
            );
          } finally {
            await grouped.session.release();
          }
        }
      } finally {
        await dynamic.session.release();
      }
    }
    for (const [key, total] of totals) {
      console.log(`${ep}: sum of medians, ${key}: ${total.toFixed(1)} ms`);
    }
  }
}

/** Layers where the plain graph shows the WebGPU Conv bug, one per cause and a few sizes. */
const WORKAROUND_LAYERS: {
  about: string;
  spec: CondConvSpecInput;
  input: [number, number, number];
}[] = [
  {
    about: "golden channels-3-5-batch-2",
    spec: { inChannels: 3, outChannels: 5, kernelSize: 3, padding: 1 },
    input: [2, 7, 7],
  },
  {
    about: "golden channels-6-8",
    spec: { inChannels: 6, outChannels: 8, kernelSize: 3, stride: 2, padding: 1 },
    input: [1, 9, 9],
  },
  {
    about: "16->10 3x3, 28x28",
    spec: { inChannels: 16, outChannels: 10, kernelSize: 3, padding: 1, numExperts: 8 },
    input: [8, 28, 28],
  },
  {
    about: "24->24 3x3 groups 4, 14x14",
    spec: { inChannels: 24, outChannels: 24, kernelSize: 3, padding: 1, groups: 4, numExperts: 8 },
    input: [2, 14, 14],
  },
  {
    about: "18->32 3x3, 28x28",
    spec: { inChannels: 18, outChannels: 32, kernelSize: 3, padding: 1, numExperts: 8 },
    input: [1, 28, 28],
  },
  {
    about: "40->40 5x5 groups 8, 14x14",
    spec: { inChannels: 40, outChannels: 40, kernelSize: 5, padding: 2, groups: 8, numExperts: 8 },
    input: [8, 14, 14],
  },
];

async function timeWorkarounds(runs: number): Promise<void> {
  const raw = createOrtWebgpuAdapter({ workarounds: false });
  const availability = await ortWebgpuAdapter.availability();
  if (!availability.available) throw new UsageError(`ort-webgpu: ${availability.reason}`);
  const gpu = availability.gpu;
  console.log(`ort-webgpu on ${gpu?.description} (software: ${gpu?.software}: CPU timings)`);
  console.log(
    "layer                          batch  bug                               " +
      "with ms  without ms  ratio  check with/without",
  );
  for (
    const [i, { about, spec: specInput, input: [batch, height, width] }] of WORKAROUND_LAYERS
      .entries()
  ) {
    const c = GoldenCase.parse({
      id: `workaround-${i}`,
      about,
      seed: 900 + i,
      input: { batch, height, width },
      spec: specInput,
    });
    const { spec } = c;
    const { input, weights, routingWeights } = caseTensors(c);
    const bug = condConvConvBug(spec, batch, height, width);
    const reference = await referenceAdapter.prepare(spec, weights);
    const truth = Float64Array.from((await reference.run(input, routingWeights)).data);
    const layers = [
      await ortWebgpuAdapter.prepare(spec, weights),
      await raw.prepare(spec, weights),
    ];
    try {
      const times: number[][] = [[], []];
      const checks: string[] = [];
      for (let r = 0; r < runs + 2; r++) {
        for (const [k, layer] of layers.entries()) {
          const t0 = performance.now();
          const output = await layer.run(input, routingWeights);
          if (r >= 2) times[k].push(performance.now() - t0);
          const result = compareWithTruth(output.data, truth, toleranceFor("webgpu", 0));
          checks[k] = result.pass ? "ok" : `FAIL (${result.worstRatio.toFixed(0)}x tol)`;
        }
      }
      const [on, off] = times.map(median);
      console.log(
        `${about.padEnd(30)} ${String(batch).padStart(5)}  ${(bug ?? "none").padEnd(32)} ` +
          `${ms(on)} ${ms(off)}  ${(on / off).toFixed(2).padStart(5)}  ${checks.join("/")}`,
      );
    } finally {
      for (const layer of layers) await layer.dispose();
      await reference.dispose();
    }
  }
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    adapter: { type: "string", multiple: true },
    case: { type: "string", multiple: true },
    batch: { type: "string", default: "1,8" },
    runs: { type: "string", default: "5" },
    "budget-ms": { type: "string", default: "4000" },
    formulations: { type: "boolean" },
    workarounds: { type: "boolean" },
    ep: { type: "string", multiple: true },
  });
  const batches = flags.batch.split(",").map(Number);
  if (!batches.every((b) => Number.isInteger(b) && b >= 1)) {
    throw new UsageError(`Invalid --batch "${flags.batch}": expected positive integers, e.g. 1,8`);
  }
  const runs = Number(flags.runs), budgetMs = Number(flags["budget-ms"]);
  const set = await loadFixtureSet();
  const fixtures = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    flags.case ?? ["effnet-b0.*"],
    "case",
  );
  if (flags.workarounds) {
    await timeWorkarounds(runs);
  } else if (flags.formulations) {
    const eps = (flags.ep ?? ["wasm", "webgpu"]).map((ep) => {
      if (ep !== "wasm" && ep !== "webgpu") {
        throw new UsageError(`Invalid --ep "${ep}": expected "wasm" or "webgpu"`);
      }
      return ep;
    });
    await timeFormulations(set, fixtures, eps, batches, runs);
  } else {
    const adapters = selectByIds(ADAPTERS, flags.adapter ?? [], "adapter");
    await timeAdapters(set, fixtures, adapters, batches, runs, budgetMs);
  }
  return 0;
}

if (import.meta.main) await runMain(main);

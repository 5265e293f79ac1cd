/**
 * Warm timings of the onnxruntime-web adapters: not the benchmark suite, just the numbers
 * behind the choices in `condconv/formats/onnx_graph.ts` and `impls/_ort/adapter.ts`.
 *
 * ```
 * deno run --allow-read=. --allow-sys=cpus,loadavg --allow-env scripts/ort_timing.ts \
 *   [--adapter <glob>]... [--case <glob>]... [--batch 1,8] [--runs 5] [--budget-ms 4000] \
 *   [--all-formulations | --formulations <a,b> | --depthwise-variants] [--workarounds]
 * ```
 * Default: each adapter (`ort-*`) on each case (default `effnet-b0.*`) and batch: prepare,
 * 2 warm-up runs, then up to `--runs` timed runs or `--budget-ms` of them, whichever ends
 * first; prints the median and the fastest. A run is the whole `run()`: input copy, routing,
 * mixing, convolution and readback. The batch-B input is the case's seeded input stream, so
 * its first example is the golden input and the first example's output is checked against
 * the golden.
 *
 * `--all-formulations` (or `--formulations <a,b>`, names from the formulation axis): per
 * adapter, case and batch, every formulation (`impls/_ort/formulation.ts`) that applies,
 * prepared through `prepareWith`; a layer a formulation cannot compute is printed as skipped
 * with the reason. After 2 warm-up runs each (the first creates the session), their `--runs`
 * timed runs alternate so that all see the same machine load; prints each median (warm p50),
 * marks the fastest and the adapter's default, checks each output against the golden (exit 1
 * on a wrong one) and prints the load average before and after (`--allow-sys=loadavg`).
 *
 * `--depthwise-variants` (`--allow-read=.,/proc/cpuinfo`): per depthwise case and batch, the
 * ort-wasm adapter, the tfjs-wasm adapter and every graph of `impls/_ort/depthwise_variants.ts`
 * that applies, their runs interleaved as above; each checked against the golden.
 *
 * `--workarounds`: what ort-webgpu's workaround of the WebGPU Conv bug costs, on the layers of
 * `WORKAROUND_LAYERS` (each shows the bug in the plain graph: `condConvConvBug`). ort-webgpu
 * with its workarounds and without them (`createOrtWebgpuAdapter({ workarounds: false })`,
 * wrong numbers) run alternately, 2 warm-up runs then `--runs` timed runs each; prints both
 * medians (warm p50), their ratio, and each one's check against the reference adapter.
 * @module
 */
import type { CondConvAdapter, PreparedCondConv } from "../impls/adapter.ts";
import type { OrtAdapter, OrtCondConv } from "../impls/_ort/adapter.ts";
import {
  condConvConvBug,
  CONV_FORMULATIONS,
  type ConvFormulation,
  INPUT_NAME,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
} from "../condconv/formats/onnx_graph.ts";
import {
  buildDepthwiseVariant,
  DEPTHWISE_VARIANTS,
  depthwiseVariantProblem,
} from "../impls/_ort/depthwise_variants.ts";
import { ortSessionOptions, runtimeLoader, type Session } from "../impls/_ort/runtime.ts";
import { tfjsWasmAdapter } from "../impls/tfjs_wasm.ts";
import { resolveGeometry } from "../condconv/geometry.ts";
import { ortWasmAdapter } from "../impls/ort_wasm.ts";
import { createOrtWebgpuAdapter, ortWebgpuAdapter } from "../impls/ort_webgpu.ts";
import type { CondConvSpecInput, Tensor } from "../condconv/spec.ts";
import { caseTensors, seededUniform, STREAMS } from "../condconv/seeded.ts";
import { GoldenCase } from "../condconv/cases.ts";
import { computeRouting, referenceAdapter } from "../impls/reference.ts";
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

const ADAPTERS: OrtAdapter[] = [ortWasmAdapter, ortWebgpuAdapter];

/** The runtime the depthwise variants run on: the same module ort-wasm loads. */
const wasmRuntime = runtimeLoader({
  executionProvider: "wasm",
  wasmArtifact: "ort-wasm-simd-threaded.wasm",
  load: () => import("onnxruntime-web/wasm"),
});

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
          const layer = prepared;
          const { outputs: [last], times: [times] } = await interleaved(
            [() => layer.run(input, routing)],
            runs,
            budgetMs,
          );
          totals.set(batch, (totals.get(batch) ?? 0) + median(times));
          console.log(
            `${adapter.id.padEnd(12)} ${fixture.entry.id.padEnd(32)} ${String(batch).padStart(5)}` +
              ` ${ms(median(times))} ${ms(Math.min(...times))} ${
                String(times.length).padStart(5)
              }  ` +
              checkFirst(last.data, truth, adapter, fixture),
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

/** The load averages (1, 5, 15 min), or a note where unreadable (`--allow-sys=loadavg`). */
function loadAverage(): string {
  try {
    return Deno.loadavg().map((l) => l.toFixed(2)).join(" ");
  } catch (error) {
    return `unknown (${(error as Error).message})`;
  }
}

/**
 * 2 warm-up rounds, then up to `runs` rounds (or as many as start within `budgetMs`) of one
 * timed call each, in order, so that all see the same machine load; the last outputs and each
 * call's times.
 */
async function interleaved(
  calls: (() => Promise<Tensor>)[],
  runs: number,
  budgetMs = Infinity,
): Promise<{ outputs: Tensor[]; times: number[][] }> {
  const outputs: Tensor[] = [];
  const times: number[][] = calls.map(() => []);
  let start = 0;
  for (let r = 0; r < runs + 2 && (r <= 2 || performance.now() - start < budgetMs); r++) {
    if (r === 2) start = performance.now();
    for (const [i, call] of calls.entries()) {
      const t0 = performance.now();
      outputs[i] = await call();
      if (r >= 2) times[i].push(performance.now() - t0);
    }
  }
  return { outputs, times };
}

/**
 * Per adapter, case and batch: every formulation asked for that applies (`formulationProblem`
 * says why one does not), each prepared through `prepareWith`, 2 warm-up runs each (the
 * first creates its session), then `runs` rounds of one timed run per formulation, so that
 * all see the same machine load. Prints each one's median (warm p50) and fastest, marks the
 * fastest median, checks each output against the golden; resolves to the failures.
 */
async function timeFormulations(
  set: FixtureSet,
  fixtures: Fixture[],
  adapters: OrtAdapter[],
  batches: number[],
  runs: number,
  formulations: readonly string[],
): Promise<number> {
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    "adapter      case                             batch formulation       median ms     min ms" +
      "  runs  check",
  );
  let failures = 0;
  for (const adapter of adapters) {
    const availability = await adapter.availability();
    if (!availability.available) {
      console.log(`${adapter.id}: skipped: ${availability.reason}`);
      continue;
    }
    const totals = new Map<string, number>();
    for (const fixture of fixtures) {
      const { spec } = fixture.goldenCase;
      const { weights } = await loadCaseTensors(fixture);
      const truth = await loadGolden(set, fixture);
      const row = `${adapter.id.padEnd(12)} ${fixture.entry.id.padEnd(32)}`;
      const chosen = await adapter.prepare(spec, weights);
      const layers: OrtCondConv[] = [];
      try {
        for (const formulation of formulations) {
          const problem = adapter.formulationProblem(spec, formulation);
          if (problem) console.log(`${row}       ${formulation}: skipped: ${problem}`);
          else {layers.push(
              await adapter.prepareWith(spec, weights, {
                formulation: formulation as ConvFormulation,
              }),
            );}
        }
        for (const batch of batches) {
          const input = batchInput(fixture, batch);
          const routing = routingFor(fixture, batch);
          const { outputs, times } = await interleaved(
            layers.map((layer) => () => layer.run(input, routing)),
            runs,
          );
          const medians = times.map(median);
          const best = Math.min(...medians);
          for (const [i, layer] of layers.entries()) {
            const check = checkFirst(outputs[i].data, truth, adapter, fixture);
            if (check !== "ok") failures++;
            const key = `${layer.formulation} batch ${batch}`;
            totals.set(key, (totals.get(key) ?? 0) + medians[i]);
            const marks = (medians[i] === best ? " fastest" : "") +
              (layer.formulation === chosen.formulation ? " default" : "");
            console.log(
              `${row} ${String(batch).padStart(5)} ${layer.formulation.padEnd(16)} ` +
                `${ms(medians[i])} ${ms(Math.min(...times[i]))} ${String(runs).padStart(5)}  ` +
                `${check}${marks}`,
            );
          }
        }
      } finally {
        for (const layer of layers) await layer.dispose();
        await chosen.dispose();
      }
    }
    for (const [key, total] of totals) {
      console.log(`${adapter.id}: sum of medians, ${key}: ${total.toFixed(1)} ms`);
    }
  }
  console.log(`load average at end: ${loadAverage()}`);
  return failures;
}

/**
 * `--depthwise-variants`: per depthwise case and batch, the ort-wasm adapter (its default
 * graph), the tfjs-wasm adapter, and every depthwise graph of `impls/_ort/depthwise_variants.ts`
 * that applies (mixing and convolution only: the routing, computed here in float64, is an
 * input), their runs interleaved; each median, min and check against the golden.
 */
async function timeDepthwiseVariants(
  set: FixtureSet,
  fixtures: Fixture[],
  batches: number[],
  runs: number,
): Promise<number> {
  const { ort } = await wasmRuntime();
  console.log(`load average at start: ${loadAverage()}`);
  console.log(
    `${"case".padEnd(32)} batch  graph                 median ms     min ms  runs  check`,
  );
  let failures = 0;
  for (const fixture of fixtures) {
    const { spec } = fixture.goldenCase;
    if (spec.groups !== spec.inChannels) continue;
    const { weights } = await loadCaseTensors(fixture);
    const truth = await loadGolden(set, fixture);
    const adapters = [
      await ortWasmAdapter.prepare(spec, weights),
      await tfjsWasmAdapter.prepare(spec, weights),
    ];
    try {
      for (const batch of batches) {
        const input = batchInput(fixture, batch);
        const g = resolveGeometry(spec, input.shape);
        const supplied = routingFor(fixture, batch);
        const routing = supplied ?? Float32Array.from(computeRouting(spec, weights, input, g));
        const variants = DEPTHWISE_VARIANTS.filter((v) => !depthwiseVariantProblem(g, v));
        const sessions: Session[] = [];
        for (const variant of variants) {
          const shape = { ...fixture.goldenCase.input, batch };
          const bytes = buildDepthwiseVariant(spec, weights.expertKernels, shape, variant);
          sessions.push(await ort.InferenceSession.create(bytes, ortSessionOptions("wasm")));
        }
        const feeds = {
          [INPUT_NAME]: new ort.Tensor("float32", input.data, input.shape),
          [ROUTING_INPUT_NAME]: new ort.Tensor("float32", routing, [batch, spec.numExperts]),
        };
        const { outputs, times } = await interleaved([
          ...adapters.map((layer) => () => layer.run(input, supplied)),
          ...sessions.map((session) => async () => {
            const output = (await session.run(feeds))[OUTPUT_NAME];
            return { shape: [...output.dims], data: output.data as Float32Array };
          }),
        ], runs);
        const medians = times.map(median);
        for (const [i, name] of ["ort-wasm adapter", "tfjs-wasm adapter", ...variants].entries()) {
          const owner = i === 1 ? tfjsWasmAdapter : ortWasmAdapter;
          const check = checkFirst(outputs[i].data, truth, owner, fixture);
          if (check !== "ok") failures++;
          const best = medians[i] === Math.min(...medians) ? " fastest" : "";
          console.log(
            `${fixture.entry.id.padEnd(32)} ${String(batch).padStart(5)}  ${name.padEnd(18)} ` +
              `${ms(medians[i])} ${ms(Math.min(...times[i]))} ${String(runs).padStart(5)}  ` +
              check + best,
          );
        }
        for (const session of sessions) await session.release();
      }
    } finally {
      for (const layer of adapters) await layer.dispose();
    }
  }
  console.log(`load average at end: ${loadAverage()}`);
  return failures;
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
    "all-formulations": { type: "boolean" },
    formulations: { type: "string" },
    workarounds: { type: "boolean" },
    "depthwise-variants": { type: "boolean" },
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
  const adapters = selectByIds(ADAPTERS, flags.adapter ?? [], "adapter");
  const formulations = flags.formulations?.split(",") ??
    (flags["all-formulations"] ? CONV_FORMULATIONS : undefined);
  for (const name of formulations ?? []) {
    if (!(CONV_FORMULATIONS as readonly string[]).includes(name)) {
      throw new UsageError(
        `Invalid --formulations "${name}": expected names from ${CONV_FORMULATIONS.join(", ")}`,
      );
    }
  }
  if (flags.workarounds) {
    await timeWorkarounds(runs);
  } else if (flags["depthwise-variants"]) {
    return await timeDepthwiseVariants(set, fixtures, batches, runs) === 0 ? 0 : 1;
  } else if (formulations) {
    return await timeFormulations(set, fixtures, adapters, batches, runs, formulations) === 0
      ? 0
      : 1;
  } else {
    await timeAdapters(set, fixtures, adapters, batches, runs, budgetMs);
  }
  return 0;
}

if (import.meta.main) await runMain(main);

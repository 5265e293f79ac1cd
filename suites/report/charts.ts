/**
 * The vega-lite charts of the report page, each a pure function of a machine's figures. Every
 * chart fills its container's width (`width: "container"`, autosize `fit-x` with padding), so
 * the page reads at phone width. A chart with nothing to draw is a `note` instead, which says
 * why: the page never shows an empty frame.
 * @module
 */
import { type ConformanceVerdict, type Machine, type ReportRow, rowsOfSet } from "./input.ts";
import { adapterLabel } from "./markdown.ts";
import { type RooflineChartPoint, rooflineChartSpec } from "../bench/roofline_chart.ts";
import { CONFORM_STATUSES } from "../results/conformance.ts";
import { rowLabel } from "../_shared/webgpu_matrix.ts";

/** A chart to draw, or a note saying why there is none. */
export type ChartOrNote =
  | { kind: "chart"; title: string; spec: Record<string, unknown> }
  | { kind: "note"; title: string; text: string };

/** The label under which PyTorch's CPU baseline appears in the charts. */
export const TORCH_LABEL = "PyTorch CPU (baseline)";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** What every chart shares: the schema and a width that follows its container. */
function sized(spec: Record<string, unknown>): Record<string, unknown> {
  return {
    $schema: SCHEMA,
    ...spec,
    width: "container",
    autosize: { type: "fit-x", contains: "padding" },
  };
}

/** A legend that wraps into columns below the chart, narrow enough for a phone. */
const LEGEND = { orient: "bottom", columns: 2, labelLimit: 150, symbolLimit: 40 } as const;

const timed = (r: ReportRow) => r.status === "timed" && r.p50Ms !== undefined && r.p50Ms > 0;
const labelOf = (r: ReportRow) => adapterLabel(rowLabel(r), r.softwareGpu);
const geomean = (xs: readonly number[]) =>
  Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);
const caseAxis = { labelLimit: 130, title: null };

/** Warm p50 (bar) to p99 (rule) per adapter and case of a set, with PyTorch's p50. */
export function timesChart(machine: Machine, set: { name: string; cases: string[] }): ChartOrNote {
  const title = `${set.name}: warm time per run`;
  const rows = rowsOfSet(machine, set).filter(timed);
  const values: Record<string, unknown>[] = rows.map((r) => ({
    case: r.case,
    adapter: labelOf(r),
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms ?? r.p50Ms,
    low: r.p50LowMs ?? null,
    high: r.p50HighMs ?? null,
    gflops: r.gflops ?? null,
    noisy: r.noisy,
    softwareGpu: r.softwareGpu,
  }));
  for (const c of set.cases) {
    const t = machine.torch.get(c);
    if (t && t.condconvP50Ms > 0) {
      const p50Ms = t.condconvP50Ms;
      values.push({ case: c, adapter: TORCH_LABEL, p50Ms, p99Ms: p50Ms, softwareGpu: false });
    }
  }
  if (values.length === 0) return { kind: "note", title, text: "No timed row in this set." };
  const adapters = [...new Set(values.map((v) => v.adapter as string))];
  const cases = set.cases.filter((c) => values.some((v) => v.case === c));
  return {
    kind: "chart",
    title,
    spec: sized({
      description: `Warm p50 per run of every adapter on every case of ${set.name}`,
      title: {
        text: "Warm time per run",
        subtitle: ["bar: p50, line: up to p99 (ms, log scale)", "output read back included"],
      },
      data: { values },
      height: { step: cases.length * adapters.length > 80 ? 7 : 12 },
      encoding: {
        y: { field: "case", type: "nominal", sort: cases, axis: caseAxis },
        yOffset: { field: "adapter", type: "nominal", sort: adapters },
        color: { field: "adapter", type: "nominal", sort: adapters, legend: LEGEND },
        tooltip: [
          { field: "adapter", type: "nominal" },
          { field: "case", type: "nominal" },
          { field: "p50Ms", type: "quantitative", title: "p50 ms", format: ".4~g" },
          { field: "low", type: "quantitative", title: "p50 95% CI low", format: ".4~g" },
          { field: "high", type: "quantitative", title: "p50 95% CI high", format: ".4~g" },
          { field: "p99Ms", type: "quantitative", title: "p99 ms", format: ".4~g" },
          { field: "noisy", type: "nominal", title: "noisy (p99 > 3x p50)" },
          { field: "gflops", type: "quantitative", title: "GFLOP/s", format: ".3~g" },
        ],
      },
      layer: [
        {
          mark: { type: "bar", tooltip: true },
          encoding: {
            x: {
              field: "p50Ms",
              type: "quantitative",
              scale: { type: "log" },
              stack: null,
              title: "ms per run (log)",
            },
            stroke: { condition: { test: "datum.softwareGpu", value: "#b00020" }, value: null },
          },
        },
        {
          mark: { type: "rule", color: "#333" },
          encoding: { x: { field: "p50Ms", type: "quantitative" }, x2: { field: "p99Ms" } },
        },
      ],
    }),
  };
}

/**
 * A heatmap of adapter x case: each adapter's speed relative to PyTorch's CPU baseline on the
 * case (PyTorch's p50 over the adapter's: above 1 is faster), or, when no case of the set has
 * PyTorch figures, relative to the fastest adapter on the case.
 */
export function relativeHeatmap(
  machine: Machine,
  set: { name: string; cases: string[] },
): ChartOrNote {
  const rows = rowsOfSet(machine, set).filter(timed);
  const torch = set.cases.some((c) => machine.torch.has(c));
  const baseline = torch ? "PyTorch CPU" : "the fastest adapter";
  const title = `${set.name}: speed relative to ${baseline}`;
  const fastest = new Map<string, number>();
  for (const r of rows) fastest.set(r.case, Math.min(fastest.get(r.case) ?? Infinity, r.p50Ms!));
  const values = rows.flatMap((r) => {
    const base = torch ? machine.torch.get(r.case)?.condconvP50Ms : fastest.get(r.case);
    if (base === undefined || !(base > 0)) return [];
    return [{ adapter: labelOf(r), case: r.case, relative: base / r.p50Ms!, p50Ms: r.p50Ms }];
  });
  if (values.length === 0) {
    return { kind: "note", title, text: "No timed row with a baseline on the same case." };
  }
  const cases = set.cases.filter((c) => values.some((v) => v.case === c));
  const color = {
    field: "relative",
    type: "quantitative",
    scale: { type: "log", scheme: "redblue", domainMid: 1 },
    legend: { orient: "bottom", title: `x ${baseline} (above 1: faster)`, gradientLength: 160 },
  };
  return {
    kind: "chart",
    title,
    spec: sized({
      description: `Each adapter's speed relative to ${baseline}, per case of ${set.name}`,
      title: {
        text: `Speed relative to ${torch ? "PyTorch CPU" : "the fastest"}`,
        subtitle: [`${baseline}'s p50 over the adapter's p50`, "above 1: faster"],
      },
      data: { values },
      height: { step: 18 },
      encoding: {
        x: {
          field: "adapter",
          type: "nominal",
          axis: { labelAngle: -40, labelLimit: 110, title: null },
        },
        y: { field: "case", type: "nominal", sort: cases, axis: caseAxis },
      },
      layer: [
        {
          mark: { type: "rect", tooltip: true },
          encoding: {
            color,
            tooltip: [
              { field: "adapter", type: "nominal" },
              { field: "case", type: "nominal" },
              { field: "relative", type: "quantitative", title: `x ${baseline}`, format: ".3~g" },
              { field: "p50Ms", type: "quantitative", title: "p50 ms", format: ".4~g" },
            ],
          },
        },
        {
          mark: { type: "text", fontSize: 9 },
          encoding: {
            text: { field: "relative", type: "quantitative", format: ".2f" },
            color: {
              condition: { test: "datum.relative < 0.5 || datum.relative > 2", value: "#fff" },
              value: "#111",
            },
          },
        },
      ],
    }),
  };
}

/** CondConv's p50 over the same adapter's static convolution, per adapter: cases and geomean. */
export function overheadChart(
  machine: Machine,
  set: { name: string; cases: string[] },
): ChartOrNote {
  const title = `${set.name}: CondConv over static convolution`;
  const values = rowsOfSet(machine, set).filter((r) =>
    timed(r) && r.overVsStatic !== undefined && r.overVsStatic > 0
  ).map((r) => ({
    adapter: labelOf(r),
    case: r.case,
    ratio: r.overVsStatic!,
    withinNoise: r.staticWithinNoise,
  }));
  for (const c of set.cases) {
    const t = machine.torch.get(c);
    if (t && t.staticP50Ms > 0 && t.condconvP50Ms > 0) {
      values.push({
        adapter: TORCH_LABEL,
        case: c,
        ratio: t.condconvP50Ms / t.staticP50Ms,
        withinNoise: false,
      });
    }
  }
  if (values.length === 0) {
    return { kind: "note", title, text: "No adapter timed its static convolution in this set." };
  }
  const adapters = [...new Set(values.map((v) => v.adapter))];
  const means = adapters.map((adapter) => ({
    adapter,
    geomean: geomean(values.filter((v) => v.adapter === adapter).map((v) => v.ratio)),
  }));
  const x = {
    field: "ratio",
    type: "quantitative",
    scale: { type: "log" },
    title: "CondConv p50 / static p50 (log)",
  };
  const y = { field: "adapter", type: "nominal", sort: adapters, axis: { labelLimit: 130 } };
  return {
    kind: "chart",
    title,
    spec: sized({
      description: `CondConv's overhead over static convolution per adapter, ${set.name}`,
      title: {
        text: "CondConv over static conv",
        subtitle: ["tick: one case; dot: geometric mean", "1: no overhead"],
      },
      height: { step: 22 },
      layer: [
        {
          data: { values: [{ ratio: 1 }] },
          mark: { type: "rule", color: "#999" },
          encoding: { x },
        },
        {
          data: { values },
          mark: { type: "tick", tooltip: true, thickness: 2 },
          encoding: {
            x,
            y,
            color: {
              field: "withinNoise",
              type: "nominal",
              scale: { domain: [false, true], range: ["#4c78a8", "#e45756"] },
              legend: { orient: "bottom", title: "below 1 within the noise" },
            },
            tooltip: [
              { field: "adapter", type: "nominal" },
              { field: "case", type: "nominal" },
              { field: "ratio", type: "quantitative", title: "x static", format: ".3~g" },
              { field: "withinNoise", type: "nominal", title: "within noise" },
            ],
          },
        },
        {
          data: { values: means },
          mark: { type: "point", filled: true, size: 70, color: "#111", tooltip: true },
          encoding: {
            x: { ...x, field: "geomean" },
            y,
            tooltip: [
              { field: "adapter", type: "nominal" },
              { field: "geomean", type: "quantitative", title: "geomean x static", format: ".3~g" },
            ],
          },
        },
      ],
    }),
  };
}

/**
 * Batch 1 against batch 8 (the smallest and largest batch of each layer in the set): the time
 * per example at the large batch over the time per example at the small one, per adapter and
 * layer. Below 1, batching pays.
 */
export function batchChart(machine: Machine, set: { name: string; cases: string[] }): ChartOrNote {
  const rows = rowsOfSet(machine, set).filter(timed);
  const title = `${set.name}: batch against batch`;
  const perExample = new Map<string, { label: string; layer: string; at: Map<number, number> }>();
  for (const r of rows) {
    const key = `${labelOf(r)}\u0000${r.goldenCase}`;
    const entry = perExample.get(key) ?? { label: labelOf(r), layer: r.goldenCase, at: new Map() };
    entry.at.set(r.batch, r.p50Ms! / r.batch);
    perExample.set(key, entry);
  }
  for (const c of set.cases) {
    const t = machine.torch.get(c);
    const row = machine.rows.find((r) => r.case === c);
    if (!t || !row || !(t.condconvP50Ms > 0)) continue;
    const key = `${TORCH_LABEL}\u0000${row.goldenCase}`;
    const entry = perExample.get(key) ??
      { label: TORCH_LABEL, layer: row.goldenCase, at: new Map() };
    entry.at.set(row.batch, t.condconvP50Ms / row.batch);
    perExample.set(key, entry);
  }
  const values = [...perExample.values()].flatMap(({ label, layer, at }) => {
    if (at.size < 2) return [];
    const small = Math.min(...at.keys()), big = Math.max(...at.keys());
    return [{ adapter: label, layer, small, big, ratio: at.get(big)! / at.get(small)! }];
  });
  if (values.length === 0) {
    return { kind: "note", title, text: "No layer of this set was timed at two batch sizes." };
  }
  const batches = [...new Set(values.map((v) => `${v.big} over ${v.small}`))].join(", ");
  const adapters = [...new Set(values.map((v) => v.adapter))];
  const x = {
    field: "ratio",
    type: "quantitative",
    scale: { type: "log" },
    title: "per-example time, large / small batch (log)",
  };
  return {
    kind: "chart",
    title: `${set.name}: batch ${batches}`,
    spec: sized({
      description: `Time per example at batch ${batches}, per adapter and layer, ${set.name}`,
      title: {
        text: `Batch ${batches}, per example`,
        subtitle: ["below 1: the larger batch is", "cheaper per example"],
      },
      height: { step: 7 },
      layer: [
        {
          data: { values: [{ ratio: 1 }] },
          mark: { type: "rule", color: "#999" },
          encoding: { x },
        },
        {
          data: { values },
          mark: { type: "point", filled: true, size: 45, tooltip: true },
          encoding: {
            x,
            y: { field: "layer", type: "nominal", axis: caseAxis },
            yOffset: { field: "adapter", type: "nominal", sort: adapters },
            color: { field: "adapter", type: "nominal", sort: adapters, legend: LEGEND },
            shape: { field: "adapter", type: "nominal", sort: adapters, legend: null },
            tooltip: [
              { field: "adapter", type: "nominal" },
              { field: "layer", type: "nominal" },
              { field: "small", type: "quantitative", title: "small batch" },
              { field: "big", type: "quantitative", title: "large batch" },
              { field: "ratio", type: "quantitative", title: "per-example ratio", format: ".3~g" },
            ],
          },
        },
      ],
    }),
  };
}

/** Colours of the verdicts, in `CONFORM_STATUSES` order. */
const VERDICT_COLOURS = ["#2e7d32", "#c62828", "#f9a825", "#9e9e9e", "#6a1b9a"];

/** The adapter's label in the matrix: with its WebGPU implementation (`wgsl@wgpu/vulkan`). */
export function verdictLabel(v: Pick<ConformanceVerdict, "adapter" | "implementation">): string {
  return rowLabel(v);
}

/** The conformance matrix: adapter x case, coloured by verdict, worst ratio in the tooltip. */
export function conformanceMatrix(machine: Machine): ChartOrNote {
  const title = "Conformance: adapter x case";
  if (machine.verdicts.length === 0) {
    return { kind: "note", title, text: "No conformance file from this machine." };
  }
  const values = machine.verdicts.map((v) => ({
    adapter: verdictLabel(v),
    case: v.case,
    status: v.status,
    worstRatio: v.worstRatio ?? null,
    reason: v.reason ?? "",
    file: v.file,
  }));
  const cases = [...new Set(values.map((v) => v.case))];
  return {
    kind: "chart",
    title,
    spec: sized({
      description: "Conformance verdict of every adapter on every case",
      title: {
        text: title,
        subtitle: ["tooltip: the largest error as a share", "of the tolerance (pass: at most 1)"],
      },
      data: { values },
      height: { step: cases.length > 40 ? 9 : 14 },
      mark: { type: "rect", tooltip: true, stroke: "#fff", strokeWidth: 0.5 },
      encoding: {
        x: {
          field: "adapter",
          type: "nominal",
          axis: { labelAngle: -40, labelLimit: 150, title: null },
        },
        y: { field: "case", type: "nominal", sort: cases, axis: caseAxis },
        color: {
          field: "status",
          type: "nominal",
          scale: { domain: [...CONFORM_STATUSES], range: VERDICT_COLOURS },
          legend: { orient: "bottom", title: "verdict", columns: 5 },
        },
        tooltip: [
          { field: "adapter", type: "nominal" },
          { field: "case", type: "nominal" },
          { field: "status", type: "nominal", title: "verdict" },
          {
            field: "worstRatio",
            type: "quantitative",
            title: "worst error / tolerance",
            format: ".3~g",
          },
          { field: "reason", type: "nominal" },
          { field: "file", type: "nominal", title: "from" },
        ],
      },
    }),
  };
}

/**
 * The roofline of the machine's newest probed bench file (`environment.machineLimits`), with
 * that file's rows that carry a `roofline` point; a note when no bench file probed the limits.
 */
export function rooflineChart(machine: Machine): ChartOrNote {
  const title = "Roofline: GFLOP/s against FLOP/byte";
  if (!machine.machineLimits) {
    return {
      kind: "note",
      title,
      text: "No roofline: no bench file of this machine carries the machine's limits " +
        "(environment.machineLimits), so there are no ceilings to draw against.",
    };
  }
  const { limits, file } = machine.machineLimits;
  const points: RooflineChartPoint[] = machine.rows.flatMap((r) =>
    r.roofline && r.file === file && timed(r)
      ? [{
        adapter: labelOf(r),
        case: r.case,
        threads: r.roofline.threads,
        arithmeticIntensity: r.roofline.arithmeticIntensity,
        gflops: r.roofline.gflops,
        percentOfCeiling: r.roofline.percentOfCeiling,
      }]
      : []
  );
  const spec = rooflineChartSpec(limits, points) as Record<string, unknown>;
  const layers = spec.layer as { encoding: Record<string, Record<string, unknown>> }[];
  // Short axis titles and a subtitle in lines, so that the plot keeps its width on a phone.
  for (const layer of layers) {
    layer.encoding.x = { ...layer.encoding.x, title: "FLOP/byte (log)" };
    layer.encoding.y = { ...layer.encoding.y, title: "GFLOP/s (log)" };
  }
  spec.title = {
    text: title,
    subtitle: [
      `ceilings: the probe of ${file.split("/").pop()},`,
      `best of ${limits.method.repetitions}; solid: wasm SIMD,`,
      "dashed: scalar JS; one point per run",
    ],
  };
  // The points' legend goes below, in columns, as the other charts' legends do.
  const pointLayer = layers[layers.length - 1] as { encoding: Record<string, unknown> };
  const color = pointLayer.encoding.color as Record<string, unknown>;
  pointLayer.encoding.color = { ...color, legend: LEGEND };
  const shape = pointLayer.encoding.shape as Record<string, unknown>;
  pointLayer.encoding.shape = { ...shape, legend: { orient: "bottom" } };
  return { kind: "chart", title, spec: sized({ ...spec, height: 320 }) };
}

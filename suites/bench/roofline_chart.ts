/**
 * The roofline chart of a report: GFLOP/s against FLOP/byte on log-log axes, the machine's
 * ceilings `min(peak, intensity x bandwidth)` at each thread count the points used, and one
 * point per adapter x case. A pure function to a vega-lite spec, as the report's other charts.
 * @module
 */
import { type ComputeCeiling, type MachineLimits, rooflinePoint } from "./roofline.ts";

/** One timed run to plot, with what `rooflinePoint` computed for it. */
export interface RooflineChartPoint {
  adapter: string;
  /** the case id, `<layer>@b<batch>` */
  case: string;
  threads: number;
  arithmeticIntensity: number;
  gflops: number;
  /** percent of the ceiling at its intensity and threads, shown in the tooltip */
  percentOfCeiling: number;
}

const COMPUTE_LABELS: Record<ComputeCeiling, string> = {
  wasmSimd: "wasm SIMD",
  scalarJs: "scalar JS",
};

/** Ceiling lines sampled at `steps` log-spaced intensities, plus each ridge point. */
function ceilingValues(
  limits: MachineLimits,
  threadCounts: number[],
  range: [number, number],
  steps = 24,
) {
  const values: Record<string, unknown>[] = [];
  const [low, high] = range;
  for (const threads of threadCounts) {
    for (const compute of ["wasmSimd", "scalarJs"] as const) {
      // a point at 1 FLOP/byte gives the peak and bandwidth at these threads
      const probe = rooflinePoint(1, 1, 1, threads, limits, compute);
      const ridge = probe.peakGflops / probe.bandwidthGBps;
      const intensities = Array.from(
        { length: steps + 1 },
        (_, i) => (i === steps ? high : low * (high / low) ** (i / steps)),
      );
      if (ridge > low && ridge < high) intensities.push(ridge);
      intensities.sort((a, b) => a - b);
      const ceiling = `${COMPUTE_LABELS[compute]}, ${threads} thread${threads === 1 ? "" : "s"}`;
      for (const intensity of intensities) {
        values.push({
          ceiling,
          compute: COMPUTE_LABELS[compute],
          arithmeticIntensity: intensity,
          gflops: Math.min(probe.peakGflops, intensity * probe.bandwidthGBps),
        });
      }
    }
  }
  return values;
}

/**
 * The vega-lite spec of the roofline chart of `points` under `limits`: one ceiling line per
 * compute peak (wasm SIMD solid, scalar JS dashed) and thread count the points used (always
 * 1 and `limits.threads`), points coloured by adapter and shaped by thread count.
 *
 * @example An empty chart still shows the ceilings
 * ```ts ignore
 * const spec = rooflineChartSpec(limits, []);
 * ```
 */
export function rooflineChartSpec(limits: MachineLimits, points: RooflineChartPoint[]): object {
  const threadCounts = [...new Set([1, limits.threads, ...points.map((p) => p.threads)])]
    .sort((a, b) => a - b);
  const intensities = points.map((p) => p.arithmeticIntensity).filter((x) => x > 0);
  const low = Math.min(0.1, ...intensities) / 2;
  const high = Math.max(100, ...intensities) * 2;
  const ceilings = ceilingValues(limits, threadCounts, [low, high]);
  const x = {
    field: "arithmeticIntensity",
    type: "quantitative",
    scale: { type: "log", domain: [low, high] },
    title: "arithmetic intensity, FLOP/byte (input, output and weights moved once; log)",
  };
  const y = {
    field: "gflops",
    type: "quantitative",
    scale: { type: "log" },
    title: "GFLOP/s (log)",
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    description: "Roofline: every timed run against the machine's measured ceilings",
    title: {
      text: "Roofline: GFLOP/s against FLOP/byte",
      subtitle: `ceilings measured by the probe (${limits.method.multiplyAdd}; triad ` +
        `${limits.method.triadBytesPerElement} B an element), best of ` +
        `${limits.method.repetitions}; solid: wasm SIMD, dashed: scalar JS`,
    },
    width: 560,
    height: 380,
    layer: [
      {
        data: { values: ceilings },
        mark: { type: "line", clip: true },
        encoding: {
          x,
          y,
          detail: { field: "ceiling", type: "nominal" },
          strokeDash: {
            field: "compute",
            type: "nominal",
            scale: { domain: ["wasm SIMD", "scalar JS"], range: [[1, 0], [4, 3]] },
            legend: null,
          },
          color: { value: "#777" },
          tooltip: [
            { field: "ceiling", type: "nominal" },
            { field: "gflops", type: "quantitative", title: "ceiling GFLOP/s", format: ".3~g" },
          ],
        },
      },
      {
        // each ceiling's name at its right end
        data: { values: ceilings.filter((row) => row.arithmeticIntensity === high) },
        mark: { type: "text", align: "right", dx: -4, dy: -7, fontSize: 10, color: "#555" },
        encoding: { x, y, text: { field: "ceiling", type: "nominal" } },
      },
      {
        data: { values: points },
        mark: { type: "point", filled: true, size: 50, tooltip: true },
        encoding: {
          x,
          y,
          color: { field: "adapter", type: "nominal", legend: { orient: "top", columns: 4 } },
          shape: { field: "threads", type: "nominal", title: "threads" },
          tooltip: [
            { field: "adapter", type: "nominal" },
            { field: "case", type: "nominal" },
            { field: "threads", type: "quantitative" },
            {
              field: "arithmeticIntensity",
              type: "quantitative",
              title: "FLOP/byte",
              format: ".3~g",
            },
            { field: "gflops", type: "quantitative", title: "GFLOP/s", format: ".3~g" },
            {
              field: "percentOfCeiling",
              type: "quantitative",
              title: "% of ceiling",
              format: ".3~g",
            },
          ],
        },
      },
    ],
  };
}

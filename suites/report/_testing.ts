/**
 * A full report's inputs for tests of the page, grown from one real bench run and one real
 * conformance run (the reference adapter on one case): every view of the page then has
 * something to draw. Three adapters (one on a WebGPU implementation), two layers at batch 1
 * and 8, PyTorch's baseline, every conformance verdict, and the machine's limits with a
 * roofline point per row. The timings are the real run's, scaled per adapter and case; the
 * limits are `_roofline_testing.ts`'s known ones and the bytes moved are made up (6 FLOP/byte
 * for `control`, 0.8 for `depthwise`). Not a measurement: a fixture.
 * @module
 */
import type { BenchReport, BenchResult, TimingStats } from "../results/bench.ts";
import type { ConformReport, ConformResult } from "../results/conformance.ts";
import { knownLimits } from "../bench/_roofline_testing.ts";
import { rooflinePoint } from "../bench/roofline.ts";

/** The adapters of the sample, each with the factor its timings are scaled by. */
const ADAPTERS = [
  { id: "reference", scale: 4 },
  { id: "ts", scale: 1 },
  { id: "wgsl", scale: 0.5, implementation: "wgpu/vulkan" },
] as const;
const LAYERS = ["control", "depthwise"] as const;
const BATCHES = [1, 8] as const;

function scaled(w: TimingStats, k: number): TimingStats {
  return {
    ...w,
    p50Ms: w.p50Ms * k,
    p99Ms: w.p99Ms * k,
    minMs: w.minMs * k,
    maxMs: w.maxMs * k,
    avgMs: w.avgMs * k,
    samplesMs: w.samplesMs.map((x) => x * k),
    ...(w.p50Ci
      ? { p50Ci: { ...w.p50Ci, lowMs: w.p50Ci.lowMs * k, highMs: w.p50Ci.highMs * k } }
      : {}),
  };
}

/**
 * The sample bench report, from a real one whose first row is a timed row with a timed
 * static convolution. Throws an `Error` when it is not.
 */
export function sampleBench(real: BenchReport): BenchReport {
  const row = real.results[0];
  if (row?.status !== "timed" || !row.warm || !row.static?.warm) {
    throw new Error("Cannot grow a sample: the real bench run's first row is not fully timed");
  }
  const limits = knownLimits(2, [40, 78], [2, 4], [10, 14]);
  const results: BenchResult[] = [];
  const torch: Record<string, { condconvP50Ms: number; staticP50Ms: number; samples: number }> = {};
  for (const layer of LAYERS) {
    for (const batch of BATCHES) {
      const id = `${layer}@b${batch}`;
      // batch 8 costs 5x batch 1 (cheaper per example); depthwise 0.7x control
      const caseScale = (batch === 8 ? 5 : 1) * (layer === "depthwise" ? 0.7 : 1);
      torch[id] = {
        condconvP50Ms: row.warm.p50Ms * caseScale * 1.5,
        staticP50Ms: row.warm.p50Ms * caseScale * 0.6,
        samples: 20,
      };
      for (const a of ADAPTERS) {
        const k = a.scale * caseScale;
        const warm = scaled(row.warm, k);
        const flops = { ...row.flops, total: row.flops.total * batch / 2 };
        // an arithmetic intensity of 6 FLOP/byte (1x1-like) or 0.8 (depthwise-like)
        const bytes = flops.total / (layer === "depthwise" ? 0.8 : 6);
        results.push({
          ...row,
          adapter: a.id,
          case: id,
          goldenCase: layer,
          batch,
          ...("implementation" in a ? { implementation: a.implementation } : {}),
          flops,
          warm,
          gflops: flops.total / warm.p50Ms / 1e6,
          static: { ...row.static, warm: scaled(row.static.warm, k * 0.9) },
          overVsStatic: 1 / 0.9,
          roofline: rooflinePoint(flops.total, bytes, warm.p50Ms, 1, limits),
        });
      }
    }
  }
  // ts fails its check on control@b1: a row that is not timed
  const wrong = results.findIndex((r) => r.adapter === "ts" && r.case === "control@b1");
  const { warm: _w, static: _s, roofline: _r, gflops: _g, overVsStatic: _o, ...untimed } =
    results[wrong];
  results[wrong] = { ...untimed, status: "wrong", reason: "off by 1.2e-2: not timed" };
  return {
    ...real,
    environment: { ...real.environment, machineLimits: limits },
    settings: {
      ...real.settings,
      sets: ["sample"],
      cases: LAYERS.flatMap((l) => BATCHES.map((b) => `${l}@b${b}`)),
    },
    adapters: ADAPTERS.map((a) => ({ ...real.adapters[0], id: a.id })),
    results,
    torch: { status: "measured", torch: "1.13.1", threads: 2, results: torch },
  };
}

/** The sample conformance report: every verdict appears, wgsl with its implementation. */
export function sampleConformance(real: ConformReport): ConformReport {
  const row = real.results[0];
  const statuses = ["pass", "fail", "known-fail", "skip", "error"] as const;
  const results: ConformResult[] = ADAPTERS.flatMap((a, i) =>
    LAYERS.concat(["routing-supplied", "bias-per-expert"] as never).map((c, j) => ({
      ...row,
      adapter: a.id,
      case: c,
      status: a.id === "reference" ? "pass" : statuses[(i + j) % statuses.length],
      worstRatio: 0.1 * (i + j + 1),
      ...("implementation" in a ? { implementation: a.implementation } : {}),
    }))
  );
  return {
    ...real,
    adapters: ADAPTERS.map((a) => ({ ...real.adapters[0], id: a.id })),
    results,
  };
}

/**
 * The plan of one `wgsl` layer on one input shape: which shaders run, over which buffers,
 * with which parameters and how many workgroups. Pure data: no GPU is needed to build or test
 * it.
 *
 * Stages, in the order they are dispatched (one compute pass each, one command buffer):
 * 1. `pool` (`pool.ts`, computed routing only);
 * 2. `route` (`route.ts`, computed routing only; supplied routing is uploaded instead);
 * 3. `mix` (`mix.ts`);
 * 4. `conv`: one of three convolutions (see {@link ConvPath}; `gemm.ts`, `depthwise.ts`).
 *
 * Every stage is dispatched as a flat count of workgroups spread over `x` and `y` (see
 * {@link flatDispatch}), so no count runs into `maxComputeWorkgroupsPerDimension`. A stage's
 * sizes are uniform parameters (see `stage.ts`), so the same few pipelines serve every layer.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { depthwiseStage, depthwiseTile } from "./depthwise.ts";
import { gemmStage } from "./gemm.ts";
import { mixStage } from "./mix.ts";
import { poolStage } from "./pool.ts";
import { routeStage } from "./route.ts";
import type { StagePlan } from "./stage.ts";

export type { BufferRole, ParamField, StagePlan } from "./stage.ts";

/**
 * Which convolution shader a geometry gets:
 * - `"gemm-1x1"`: 1x1 kernel, stride 1, no padding: per example and group a GEMM
 *   `(O/groups x C/groups) * (C/groups x H*W)` with shared-memory tiles and a register tile
 *   per invocation;
 * - `"depthwise"`: one input channel per group (`C/groups == 1`): each workgroup loads an
 *   input tile plus its halo, padding applied, into workgroup memory;
 * - `"general"`: everything else (groups, stride, dilation, non-square, any padding mode):
 *   the same tiled GEMM over an implicit im2col matrix gathered with the padding mapping.
 */
export type ConvPath = "gemm-1x1" | "depthwise" | "general";

/** Everything one layer needs to run on one input shape. */
export interface LayerPlan {
  convPath: ConvPath;
  stages: StagePlan[];
  /** float counts of the per-shape buffers */
  floats: Record<"input" | "pooled" | "routing" | "mixed" | "output", number>;
  /** floats per expert in the experts buffer and per example in the mixed buffer */
  mixedStride: number;
  /** workgroup memory the conv shader declares, in bytes */
  convWorkgroupBytes: number;
  /** the conv tile, for reports: `[rows, columns]` of outputs per workgroup */
  convTile: [number, number];
}

/** Device limits the plan depends on. */
export interface PlanLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
}

/** Workgroup memory the plan stays within, whatever the device offers (WebGPU's default). */
export const WORKGROUP_BYTES_BUDGET = 16384;

/**
 * Spreads `workgroups` over `[x, y]` with neither above `maxPerDimension`. Shaders recover
 * the flat index as `workgroup_id.x + workgroup_id.y * num_workgroups.x` and skip indices at
 * or past the total (at most `x - 1` of them). Throws a `RangeError` past `maxPerDimension^2`.
 */
export function flatDispatch(workgroups: number, maxPerDimension: number): [number, number] {
  if (!Number.isInteger(workgroups) || workgroups < 1) {
    throw new RangeError(`Cannot dispatch "${workgroups}" workgroups: expected at least 1`);
  }
  const x = Math.min(workgroups, maxPerDimension);
  const y = Math.ceil(workgroups / x);
  if (y > maxPerDimension) {
    throw new RangeError(
      `Cannot dispatch ${workgroups} workgroups: more than "${maxPerDimension}" squared ` +
        `(maxComputeWorkgroupsPerDimension)`,
    );
  }
  return [x, y];
}

/** The conv path a geometry takes. */
export function chooseConvPath(g: Geometry): ConvPath {
  if (g.channelsPerGroup === 1) return "depthwise";
  const noPadding = g.padTop === 0 && g.padBottom === 0 && g.padLeft === 0 && g.padRight === 0;
  if (
    g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideHeight === 1 &&
    g.strideWidth === 1 && noPadding
  ) {
    return "gemm-1x1";
  }
  return "general";
}

/** Floats per expert in the experts buffer: its kernel, then its bias when per-expert. */
export function mixedStrideOf(spec: CondConvSpec, g: Geometry): number {
  const kernel = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  return kernel + (spec.bias === "perExpert" ? g.outChannels : 0);
}

/** Builds the shaders, parameters and dispatch sizes of `spec` on the geometry `g`. */
export function planLayer(spec: CondConvSpec, g: Geometry, limits: PlanLimits): LayerPlan {
  const mixedStride = mixedStrideOf(spec, g);
  const budget = Math.min(WORKGROUP_BYTES_BUDGET, limits.maxComputeWorkgroupStorageSize);
  let convPath = chooseConvPath(g);
  const stages: StagePlan[] = [];
  if (spec.routing.kind !== "supplied") stages.push(poolStage(g), routeStage(spec, g));
  stages.push(mixStage(g, mixedStride));
  let conv: { stage: StagePlan; workgroupBytes: number; tile: [number, number]; threads: number };
  const dwTile = convPath === "depthwise" ? depthwiseTile(g, budget) : undefined;
  if (dwTile) {
    conv = depthwiseStage(spec, g, mixedStride, dwTile);
  } else {
    // a depthwise kernel whose single-output patch overflows workgroup memory (a huge
    // dilated kernel) is still a grouped convolution: the general path computes it exactly
    if (convPath === "depthwise") convPath = "general";
    conv = gemmStage(spec, g, convPath as "gemm-1x1" | "general", mixedStride);
  }
  if (conv.threads > limits.maxComputeInvocationsPerWorkgroup || conv.workgroupBytes > budget) {
    throw new RangeError(
      `Cannot plan the "${convPath}" convolution: it needs ${conv.threads} invocations and ` +
        `${conv.workgroupBytes} bytes of workgroup memory, the device allows ` +
        `"${limits.maxComputeInvocationsPerWorkgroup}" and "${budget}"`,
    );
  }
  stages.push(conv.stage);
  return {
    convPath,
    stages,
    floats: {
      input: g.batch * g.inChannels * g.inHeight * g.inWidth,
      pooled: g.batch * g.inChannels,
      routing: g.batch * g.numExperts,
      mixed: g.batch * mixedStride,
      output: g.batch * g.outChannels * g.outHeight * g.outWidth,
    },
    mixedStride,
    convWorkgroupBytes: conv.workgroupBytes,
    convTile: conv.tile,
  };
}

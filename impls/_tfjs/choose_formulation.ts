/**
 * The rule of thumb a tfjs layer falls back on where the measured defaults table
 * (`impls/_formulations/table.ts`, from `deno task bench --formulations`) has no cell for its
 * run (always on webgpu, whose table is never filled from a software GPU adapter), from the
 * measurements below.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import { isPlainPointwise } from "../../condconv/formulation.ts";
import type { TfjsFormulation } from "./formulations.ts";

/** Whether `spec` is a plain 1x1 convolution (`condconv/formulation.ts`). */
export const isPointwise: (spec: CondConvSpec) => boolean = isPlainPointwise;

/**
 * The formulation a run of `spec` on `backendName` takes where the table has no cell and no
 * formulation is forced:
 * - groups == inChannels: `"depthwise-folded"`, on every backend;
 * - webgpu (and any backend not named below): `"batched-matmul"`, for every other layer;
 * - cpu and wasm: `"batched-matmul"` for a pointwise layer (`isPointwise`), else
 *   `"per-example"`.
 *
 * Measured with `scripts/tfjs_timing.ts` (formulations interleaved, warm, fastest of 10-30
 * runs, ms; a 2-core machine shared with other work, so medians were noisy), batched-matmul
 * vs per-example:
 *
 * | case                                  | cpu        | wasm        | webgpu (llvmpipe) |
 * | ------------------------------------- | ---------- | ----------- | ----------------- |
 * | channels-32-48 (B 2, 3x3, 12x12)      | 346 vs 39  | 14.2 vs 1.5 | 50 vs 48          |
 * | batch-16 (B 16, 4 to 8, 3x3, 8x8)     | 45 vs 4.5  | 1.28 vs 1.06 | 31 vs 61         |
 * | groups-4-8to4 (B 2, 3x3)              | 11.9 vs 2.5| 0.31 vs 0.44| -                 |
 * | kitchen-sink (groups 2, s 2, d 2)     | 12.4 vs 15 | 1.23 vs 0.77| 24 vs 35          |
 * | effnet-b0.expand-80-480-14 (1x1)      | 40 vs 44   | 1.8 vs 3.1  | 91 vs 148         |
 * | effnet-b0.project-1152-320-7 (1x1)    | 102 vs 80  | 6.3 vs 22   | 484 vs 248        |
 *
 * tfjs-cpu's `Slice` of a non-contiguous window is a per-element JS loop (206 of the
 * 240 ms of a channels-32-48 run went to the 9 im2col slices), so on cpu the per-example
 * `conv2d` loop is the honest winner whenever slicing is needed; wasm's XNNPACK `conv2d`
 * also beats its own im2col there. On webgpu the batched matmul wins or ties, and a JS loop
 * over the batch costs one more dispatch per example. For depthwise layers the batch-folded
 * `depthwiseConv2d` beats both by 10-100x everywhere (effnet-b0.dw5-672-14, fastest ms,
 * depthwise-folded / batched-matmul / per-example: cpu 81 / 8558 / 677, wasm 2.7 / 60 / 430,
 * webgpu 92 / 1651 / 7666).
 */
export function chooseFormulation(spec: CondConvSpec, backendName: string): TfjsFormulation {
  if (spec.groups === spec.inChannels) return "depthwise-folded";
  if (backendName === "cpu" || backendName === "wasm") {
    return isPointwise(spec) ? "batched-matmul" : "per-example";
  }
  return "batched-matmul";
}

/** `chooseFormulation`'s rule on `backendName` in words, recorded in availability info. */
export function formulationRule(backendName: string): string {
  const rest = backendName === "cpu" || backendName === "wasm"
    ? "batched-matmul for a 1x1 stride-1 unpadded layer, else per-example"
    : "else batched-matmul";
  return `per layer: depthwise-folded when groups == inChannels, ${rest}`;
}

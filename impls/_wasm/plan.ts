/**
 * The `wasm` adapter's memory layout and plan: where every tensor and each worker's scratch
 * lives in the layer's shared memory, and the plan words the kernels read (`layout.ts`).
 * Block sizes and how they were chosen: `BLOCKS`.
 * @module
 */
import type { Geometry } from "../../condconv/geometry.ts";
import * as L from "./layout.ts";
import { paddingMap } from "../_ts/plan.ts";

/** What a plan needs of the spec beyond the geometry. */
export interface PlanSpec {
  paddingMode: "zeros" | "reflect" | "replicate" | "circular";
  bias: "none" | "shared" | "perExpert";
  routing: { kind: "sigmoid" } | { kind: "softmax"; temperature: number } | {
    kind: "supplied";
  };
}

/**
 * Block and unit sizes. Measured on the project's machine (2 cores of AMD EPYC, AVX2/FMA,
 * 2.45 GHz), shared with other jobs at the time (load average 10 to 19 on 2 cores): minima of
 * 15 to 30 warm runs, repeated 2 to 3 times (`scratch` timing over the effnet-b0 layers).
 * - Micro-kernel `MR x NR` = 4 x 8 (`layout.ts`): 8 float32x4 accumulators, 2 B vectors and
 *   1 broadcast A value are 11 of the 16 xmm registers V8 allocates on x64, so nothing
 *   spills; 4 x 12 would need all 16. One worker ran the 1x1 layers at 18 to 23 GFLOP/s
 *   (about half the 39 GFLOP/s one-core SIMD128 peak) at batch 1.
 * - Pointwise units: a block of up to `maxPanelsPerUnit` = 8 row panels (32 output rows) for
 *   every example of the job, so each unit reads its rows of the 8 expert kernels once and
 *   mixes them for all examples. Tried instead: a unit of one example and up to 32 row panels
 *   (each input panel reused from L1 by more rows, the expert kernels read once per
 *   example). Best of two alternating rounds of 15 runs at batch 8, this layout first:
 *   expand-80-480-14 10.1 against 29.1 ms, expand-112-672-14 32.2 against 56.1 ms,
 *   expand-192-1152-7 40.7 against 60.5 ms; batch 1 within the noise. Kept this one.
 * - `pointwiseUnits`, `depthwiseUnits` 16 (a pointwise job has about panels / 16 panels per
 *   unit): 4 to 32 made no difference above the noise of the shared machine; 16 units give
 *   two workers 8 each, to balance one that is descheduled.
 * - `im2colFloats` 32768 (128 KiB, half of L2) and `poolFloats` 16384: as `ts`.
 * - Depthwise: the 25 or 9 mixed taps splatted into locals once per channel, 8 outputs a step,
 *   measured about 30% faster on the 14x14 5x5 layers than a kernel-row-by-row variant that
 *   keeps only one row's 5 taps in registers and accumulates in a scratch plane.
 */
export const BLOCKS = {
  pointwiseUnits: 16,
  maxPanelsPerUnit: 8,
  depthwiseUnits: 16,
  im2colFloats: 32768,
  poolFloats: 16384,
};

/** Floats of one row per mixing chunk (`MIX_CHUNK` in the kernels). */
const MIX_CHUNK = 64;

/** A plan and the bytes it needs from its base. */
export interface Plan {
  /** the plan words, pointers included */
  words: Int32Array;
  rowMap: Int32Array;
  colMap: Int32Array;
  /** the first byte past everything the plan uses */
  end: number;
}

const align = (n: number) => Math.ceil(n / 64) * 64;

/** Byte offsets of the weights copied at `base`. */
export function weightLayout(
  base: number,
  lengths: { expertKernels: number; bias: number; routingWeight: number; routingBias: number },
) {
  const experts = align(base);
  const bias = align(experts + 4 * lengths.expertKernels);
  const routingWeight = align(bias + 4 * lengths.bias);
  const routingBias = align(routingWeight + 4 * lengths.routingWeight);
  return {
    experts,
    bias,
    routingWeight,
    routingBias,
    end: align(routingBias + 4 * lengths.routingBias),
  };
}

/**
 * The plan of a layer on geometry `g` for up to `capacity` examples and `workers` workers,
 * with weights at `weights` and its buffers from byte `base`.
 */
export function makePlan(
  spec: PlanSpec,
  g: Geometry,
  capacity: number,
  workers: number,
  weights: ReturnType<typeof weightLayout>,
  base: number,
): Plan {
  const w = new Int32Array(L.PLAN_WORDS);
  const depthwise = g.channelsPerGroup === 1;
  const pointwise = !depthwise && g.kernelHeight === 1 && g.kernelWidth === 1 &&
    g.strideHeight === 1 && g.strideWidth === 1 &&
    g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
  const path = pointwise ? 0 : depthwise ? 1 : 2;
  const K = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const HW = g.outHeight * g.outWidth;
  const colPanels = Math.ceil(HW / L.NR);
  const rowPanels = Math.ceil(g.outChannelsPerGroup / L.MR);
  const E = g.numExperts;
  let unitSize: number;
  if (path === 0) {
    const panels = g.groups * rowPanels;
    unitSize = Math.max(
      1,
      Math.min(BLOCKS.maxPanelsPerUnit, Math.floor(panels / BLOCKS.pointwiseUnits)),
    );
  } else if (path === 1) {
    unitSize = Math.max(1, Math.ceil(g.outChannels / BLOCKS.depthwiseUnits));
  } else {
    unitSize = Math.max(1, Math.min(colPanels, Math.floor(BLOCKS.im2colFloats / (K * L.NR))));
  }
  const hp = g.inHeight + g.padTop + g.padBottom, wp = g.inWidth + g.padLeft + g.padRight;
  const reach = Math.floor(((g.kernelWidth - 1) * g.dilationWidth) / g.strideWidth);
  const phaseWidth = Math.ceil(g.outWidth / 8) * 8 + reach;
  // scratch of one worker: cache key, edge tile, mixing stage, routing, mixed kernels, biases, work
  const sTile = 64;
  const sStage = align(sTile + 4 * L.MR * L.NR);
  const sRouting = align(sStage + 16 * E + 4 * 4 * L.MR * MIX_CHUNK);
  const sMixed = align(sRouting + 4 * capacity * E);
  let mixedBytes: number, biasBytes: number, workBytes: number;
  if (path === 0) {
    mixedBytes = 4 * capacity * unitSize * K * L.MR;
    biasBytes = 4 * capacity * unitSize * L.MR;
    workBytes = 0;
  } else if (path === 1) {
    mixedBytes = 4 * capacity * unitSize * K;
    biasBytes = 0;
    workBytes = 4 * g.strideWidth * hp * phaseWidth;
  } else {
    mixedBytes = 4 * rowPanels * K * L.MR;
    biasBytes = 4 * rowPanels * L.MR;
    workBytes = 4 * unitSize * K * L.NR;
  }
  const sBias = align(sMixed + mixedBytes);
  const sWork = align(sBias + biasBytes);
  // 64 bytes of slack: vector loads may read past a plane's last float
  const stride = align(sWork + workBytes + 64);

  let at = align(base);
  const take = (bytes: number) => {
    const p = at;
    at = align(at + bytes + 64);
    return p;
  };
  const input = take(4 * capacity * g.inChannels * g.inHeight * g.inWidth);
  const supplied = take(4 * capacity * E);
  const pooled = take(8 * capacity * g.inChannels);
  const packed = take(path === 0 ? 4 * capacity * colPanels * g.inChannels * L.NR : 0);
  const output = take(4 * capacity * g.outChannels * HW);
  const rowMap = paddingMap(g.inHeight, g.padTop, g.padBottom, spec.paddingMode);
  const colMap = paddingMap(g.inWidth, g.padLeft, g.padRight, spec.paddingMode);
  const rowMapAt = take(4 * rowMap.length), colMapAt = take(4 * colMap.length);
  const scratch = take(stride * workers);

  w[L.P_PATH] = path;
  w[L.P_C] = g.inChannels;
  w[L.P_H] = g.inHeight;
  w[L.P_W] = g.inWidth;
  w[L.P_O] = g.outChannels;
  w[L.P_OH] = g.outHeight;
  w[L.P_OW] = g.outWidth;
  w[L.P_GROUPS] = g.groups;
  w[L.P_CG] = g.channelsPerGroup;
  w[L.P_OG] = g.outChannelsPerGroup;
  w[L.P_KH] = g.kernelHeight;
  w[L.P_KW] = g.kernelWidth;
  w[L.P_SH] = g.strideHeight;
  w[L.P_SW] = g.strideWidth;
  w[L.P_DH] = g.dilationHeight;
  w[L.P_DW] = g.dilationWidth;
  w[L.P_E] = E;
  w[L.P_ROUTING] = { sigmoid: 0, softmax: 1, supplied: 2 }[spec.routing.kind];
  new Float32Array(w.buffer)[L.P_TEMPERATURE] = spec.routing.kind === "softmax"
    ? spec.routing.temperature
    : 1;
  w[L.P_BIAS] = { none: 0, shared: 1, perExpert: 2 }[spec.bias];
  w[L.P_K] = K;
  w[L.P_EXPERTS_PTR] = weights.experts;
  w[L.P_BIAS_PTR] = weights.bias;
  w[L.P_RW_PTR] = weights.routingWeight;
  w[L.P_RB_PTR] = weights.routingBias;
  w[L.P_INPUT_PTR] = input;
  w[L.P_SUPPLIED_PTR] = supplied;
  w[L.P_POOLED_PTR] = pooled;
  w[L.P_PACKED_PTR] = packed;
  w[L.P_OUTPUT_PTR] = output;
  w[L.P_ROWMAP_PTR] = rowMapAt;
  w[L.P_COLMAP_PTR] = colMapAt;
  w[L.P_HP] = hp;
  w[L.P_WP] = wp;
  w[L.P_SCRATCH_PTR] = scratch;
  w[L.P_SCRATCH_STRIDE] = stride;
  w[L.P_COL_PANELS] = colPanels;
  w[L.P_ROW_PANELS] = rowPanels;
  w[L.P_UNIT_SIZE] = unitSize;
  w[L.P_POOL_BLOCK] = Math.min(
    g.inChannels,
    Math.max(1, Math.round(BLOCKS.poolFloats / (g.inHeight * g.inWidth))),
  );
  w[L.P_CAPACITY] = capacity;
  w[L.P_PHASE_WIDTH] = phaseWidth;
  w[L.P_S_TILE] = sTile;
  w[L.P_S_STAGE] = sStage;
  w[L.P_S_ROUTING] = sRouting;
  w[L.P_S_MIXED] = sMixed;
  w[L.P_S_BIAS] = sBias;
  w[L.P_S_WORK] = sWork;
  w[L.P_PAD_TOP] = g.padTop;
  w[L.P_PAD_LEFT] = g.padLeft;
  w[L.P_PAD_MODE] = { zeros: 0, reflect: 1, replicate: 2, circular: 3 }[spec.paddingMode];
  return { words: w, rowMap, colMap, end: at };
}

/** Phase one and phase two units of a `batch`-example job. */
export function jobUnits(w: Int32Array, batch: number): [number, number] {
  const C = w[L.P_C];
  const needOne = w[L.P_ROUTING] !== 2 || w[L.P_PATH] === 0;
  const one = needOne ? batch * Math.ceil(C / w[L.P_POOL_BLOCK]) : 0;
  let two: number;
  if (w[L.P_PATH] === 0) two = Math.ceil((w[L.P_GROUPS] * w[L.P_ROW_PANELS]) / w[L.P_UNIT_SIZE]);
  else if (w[L.P_PATH] === 1) two = Math.ceil(w[L.P_O] / w[L.P_UNIT_SIZE]);
  else two = batch * w[L.P_GROUPS] * Math.ceil(w[L.P_COL_PANELS] / w[L.P_UNIT_SIZE]);
  return [one, two];
}

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
 * Block and unit sizes, measured on the project's machine: 2 vCPUs (KVM) that report
 * themselves as an Intel Xeon with AVX-512 and FMA (the issue's "AMD EPYC" is an older box),
 * 48 KiB L1d and 2 MiB L2 a core; the roofline probe (`deno run --allow-read
 * --allow-sys=loadavg scripts/roofline.ts`) gives 53 to 60 GFLOP/s of f32x4.relaxed_madd on
 * one thread and 104 to 120 on two. Other jobs shared the 2 cores (load average 2 to 6).
 *
 * The micro-kernel `MR x NR` = 4 x 8 (`layout.ts`). The candidates
 * (`scripts/_wasm_kernels/candidates.ts`, built with the kernels' flags), each on one thread
 * on data in L1, rounds interleaved, best of 150 rounds of about 1 ms, GFLOP/s (`deno run
 * --allow-read=. --allow-env --allow-sys=loadavg scripts/wasm_kernels.ts`, load average 3.2):
 *
 * | kernel                                                             |   K=96 |  K=256 |
 * | ------------------------------------------------------------------ | -----: | -----: |
 * | 4x8, A broadcast by 4 `load32_splat`, `mul` + `add` (before)       |   26.7 |   28.9 |
 * | 4x8, A broadcast by 4 `load32_splat`, `relaxed_madd`               |   31.1 |   33.8 |
 * | **4x8, one A vector, lanes broadcast by shuffles, `relaxed_madd`** | **44.8** | **47.2** |
 * | the chosen kernel with k unrolled twice                            |   34.3 |   34.5 |
 * | 4x8, A `[K/4][MR][4]` (4 A vectors live), k unrolled 4 times       |   38.9 |   39.4 |
 * | 6x8, 6 `load32_splat`, `relaxed_madd`                              |   36.5 |   37.5 |
 * | 6x8, A vector for 4 rows + 2 `load32_splat`                        |   38.2 |   37.3 |
 * | 4x12, 4 `load32_splat`                                             |   36.3 |   37.3 |
 * | 4x12, A vector + shuffles (17 live vectors: spills)                |   36.4 |   37.2 |
 *
 * Earlier rounds of the same candidates (and of 6x8 with two overlapping A vectors, 4x12 with
 * k unrolled, 8x4 and 12x4 with one B vector) ranked them the same: the chosen kernel 38 to
 * 49, every other 4x8, 6x8 and 4x12 form 22 to 42, 8x4 and 12x4 below 26. The `[K/4][MR][4]`
 * layout would have let the mixing skip its transpose; it lost. The probe's one-thread peak
 * was 53 to 59 at the time.
 *
 * Why the fewest loads win: V8 in Deno 2.9.6 guards every wasm memory access here with an
 * explicit bounds check (`lea`, `cmp`, `jae` before the load: seen in the machine code through
 * `--print-wasm-code` and gdb), so a load costs four instructions. The chosen kernel does 3
 * loads (1 A, 2 B) and 4 shuffles (port 5, idle otherwise) per 8 fused multiply-adds, in 13 of
 * the 15 xmm registers V8 allocates (8 accumulators, 2 B, 1 A, 1 broadcast); 6x8 needs 8 loads
 * or 6 shuffles, 4x12 with shuffles needs 17 registers. A column panel with 4 or fewer columns
 * left runs a 4x4 kernel (7x7 planes: 49 = 6 x 8 + 1 costs 52 columns, not 56).
 *
 * Mixing (pointwise and general): full row panels are mixed 4 examples at a time as a small
 * GEMM (`mixTile`: a `[E][4]` routing vector broadcast by shuffles, 2 weight vectors, 8
 * fused multiply-adds) into a staging chunk of `MIX_CHUNK` = 64 floats a row, then transposed
 * into the panels; pairs and single examples use 4-row vectors. The tile alone (a one-off
 * bench, 4 rows of K = 1152 over 8 experts) ran at 30 to 40 GFLOP/s on one thread. In the
 * layers it beat the pair form by about 10% where the expert rows stay in cache
 * (expand-192-1152-7 and project-672-112-14 at batch 8, one thread: mixing 2.65 to 2.34 and
 * 1.71 to 1.50 ms) and tied on the largest: the mixing of the 7x7 layers is bound by
 * streaming the expert kernels (project-1152-320-7: 11.8 MB a run, 1.05 ms at batch 1 on one
 * thread, 11 GB/s, the probe's one-thread triad bandwidth).
 *
 * The rest:
 * - Pointwise units: a block of up to `maxPanelsPerUnit` = 8 row panels (32 output rows) for
 *   every example of the job, so each unit reads its rows of the 8 expert kernels once and
 *   mixes them for all examples. Tried instead: a unit of one example and up to 32 row panels
 *   (each input panel reused from L1 by more rows, the expert kernels read once per
 *   example). Best of two alternating rounds of 15 runs at batch 8, this layout first:
 *   expand-80-480-14 10.1 against 29.1 ms, expand-112-672-14 32.2 against 56.1 ms,
 *   expand-192-1152-7 40.7 against 60.5 ms; batch 1 within the noise. Kept this one. No
 *   K blocking: a 4 x K A panel streams from L2 past an `NR x K` B panel that stays in L1
 *   (36 KiB at K = 1152), and the GEMM part of project-1152-320-7 at batch 8 already runs at
 *   about 51 GFLOP/s on one thread (330 MFLOP in 6.5 ms), near the kernel's own rate.
 * - `pointwiseUnits`, `depthwiseUnits` 16 (a pointwise job has about panels / 16 panels per
 *   unit): 4 to 32 made no difference above the noise of the shared machine. Each thread
 *   runs its own contiguous share of the units first (`job.ts`), then steals the rest.
 * - `im2colFloats` 32768 (128 KiB, half of L2) and `poolFloats` 16384: as `ts`.
 * - Depthwise: the 25 or 9 mixed taps splatted into locals once per channel, 8 outputs a step,
 *   measured about 30% faster on the 14x14 5x5 layers than a kernel-row-by-row variant that
 *   keeps only one row's 5 taps in registers and accumulates in a scratch plane. The taps are
 *   a multiply then an add: `relaxed_madd` there made dw5-480-14 1.2 to 1.5x slower (every
 *   tap of a sum waits for the one before), still 1.1x with four sums instead of two.
 *
 * Layer-level comparisons: `deno run --allow-read=. --allow-sys=loadavg
 * scripts/wasm_timing.ts [--threads N] [--static]`.
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

/**
 * The compute of the `ts` adapter: float32 storage, float64 arithmetic (JavaScript numbers),
 * plain loops shaped for the JIT. Shared by the main thread (`workers: 1`) and the workers
 * (`worker.ts`); runtime-neutral, no allocation once a `TsSlice` exists.
 *
 * ## Plan, buffers, slices
 * A `TsPlan` is the layer applied to one input height and width, as plain numbers (it is
 * posted to workers). `TsBuffers` are the tensors every thread reads or writes (over
 * `SharedArrayBuffer`s when there are workers). A `TsSlice` is one thread's compute: it owns
 * its scratch (mixed kernels, im2col chunk, padded plane) and runs the units it claims.
 *
 * ## The three convolution paths
 * - `pointwise` (1x1, stride 1, no padding): per example and group a GEMM
 *   `(O/g x C/g) * (C/g x HW)`. Phase 1 packs the input into 4-column panels
 *   `[HW/4][C][4]`, so the micro-kernel reads both operands sequentially.
 * - `depthwise` (one input channel per group): per channel, the input plane is copied into a
 *   padded scratch plane, then a direct loop with the mixed taps in registers (3x3 and 5x5
 *   unrolled, any stride; 5x5 row by row on wide planes). The loops need no interior/border
 *   split and no bounds tests: with zero padding the plane's border is written once, when
 *   the slice is made, and each channel only copies its interior (4% of the multiply-adds of
 *   a 5x5 layer). On the EfficientNet layers, where the border is 40 of 49 pixels of a 7x7
 *   plane, this measured about twice as fast as per-tap loops over each tap's valid
 *   rectangle, and faster still than an interior loop plus a bounds-tested border loop.
 * - `general`: per example and group, im2col of a chunk of output columns straight into
 *   4-column panels (padding of every mode through index maps, so no padded copy), then the
 *   same GEMM.
 *
 * The GEMM micro-kernel computes a 4x4 tile of outputs in 16 local accumulators, the k-loop
 * innermost over two interleaved panels (`A[k][4]` mixed kernels, `B[k][4]` input columns).
 *
 * ## Work split: units claimed from shared counters
 * A job is cut into units fixed by the plan (`TsSlice` says which). Threads claim units from
 * two counters (`TsSchedule`) until none is left, so a thread that is busy or descheduled
 * holds nobody up and outputs do not depend on the thread count. Phase 1 (channel means for
 * the routing, input panels on the pointwise path) ends before phase 2 (mixing and
 * convolution) starts.
 * @module
 */
// Spelled out rather than imported from condconv/spec.ts: the worker's module graph then
// stays free of zod, which keeps worker start-up (and its type check under `deno test`) short.
/** What fills the padded border (as `PaddingMode` in `condconv/spec.ts`). */
export type TsPaddingMode = "zeros" | "reflect" | "replicate" | "circular";
/** Which bias the layer has (as `BiasKind` in `condconv/spec.ts`). */
export type TsBiasKind = "none" | "shared" | "perExpert";

/** Which convolution routine a plan uses (see the module doc). */
export type TsPath = "pointwise" | "depthwise" | "general";

/** Floats of im2col scratch a general-path chunk aims at (128 KiB: stays in L2). */
export const IM2COL_CHUNK_FLOATS = 32768;
/** Multiply-adds a phase 2 unit aims at: big enough to amortise claiming it. */
export const UNIT_MACS = 32768;
/** Input values a phase 1 unit aims at. */
export const POOL_UNIT_FLOATS = 16384;

/** One layer applied to one input size: every number the slices need, posted to workers. */
export interface TsPlan {
  path: TsPath;
  /** the largest batch the buffers hold */
  batchCapacity: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  outHeight: number;
  outWidth: number;
  groups: number;
  channelsPerGroup: number;
  outChannelsPerGroup: number;
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  dilationHeight: number;
  dilationWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  paddingMode: TsPaddingMode;
  bias: TsBiasKind;
  numExperts: number;
  routing: "sigmoid" | "softmax" | "supplied";
  /** softmax temperature (1 for the other routings) */
  temperature: number;
  /** `C/g * kh * kw`: the reduction length of one output */
  kernelPerOut: number;
  /** `O * C/g * kh * kw`: the length of one expert kernel */
  expertLength: number;
  /** output tiles: `groups * ceil((O/g) / 4)` on the GEMM paths, `O` on the depthwise path */
  tileCount: number;
  /** output tiles of one group */
  tilesPerGroup: number;
  /** `ceil(outHeight * outWidth / 4)`: 4-column panels of one output plane */
  columnTiles: number;
  /** general path: column tiles per im2col chunk */
  chunkTiles: number;
  /** general path: `ceil(columnTiles / chunkTiles)` */
  chunksPerGroup: number;
  /** input channels per phase 1 unit */
  poolBlock: number;
  /** pointwise and depthwise paths: tiles per phase 2 unit */
  unitTiles: number;
  /** phase 2 units per example */
  unitsPerExample: number;
}

/** The tensors all threads share. `input`, `supplied` and `output` may be swapped per run. */
export interface TsBuffers {
  /** `(E, O, C/g, kh, kw)` */
  expertKernels: Float32Array;
  /** `(O)` or `(E, O)` */
  bias?: Float32Array;
  /** `(E, C)` */
  routingWeight?: Float32Array;
  /** `(E)` */
  routingBias?: Float32Array;
  /** `(capacity, C, H, W)` */
  input: Float32Array;
  /** supplied routing `(capacity, E)` */
  supplied?: Float32Array;
  /** pointwise path: `(capacity, ceil(HW / 4), C, 4)` */
  packed?: Float32Array;
  /** `(capacity, C)` channel means (computed routing only) */
  pooled?: Float64Array;
  /** `(capacity, O, outH, outW)` */
  output: Float32Array;
}

/** Whether a layer takes the pointwise, depthwise or general path. */
export function choosePath(g: {
  kernelHeight: number;
  kernelWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padBottom: number;
  padLeft: number;
  padRight: number;
  channelsPerGroup: number;
}): TsPath {
  if (g.channelsPerGroup === 1) return "depthwise";
  const pointwise = g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideHeight === 1 &&
    g.strideWidth === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
  return pointwise ? "pointwise" : "general";
}

/** Maps padded coordinates `0 .. size + before + after - 1` to source indices, -1 for zero. */
export function paddingMap(
  size: number,
  before: number,
  after: number,
  mode: TsPaddingMode,
): Int32Array {
  const map = new Int32Array(size + before + after);
  for (let i = 0; i < map.length; i++) {
    const p = i - before;
    let s: number;
    if (p >= 0 && p < size) s = p;
    else if (mode === "zeros") s = -1;
    else if (mode === "replicate") s = p < 0 ? 0 : size - 1;
    else if (mode === "reflect") s = p < 0 ? -p : 2 * (size - 1) - p;
    else s = ((p % size) + size) % size;
    map[i] = s;
  }
  return map;
}

/**
 * `dst[dOff + i * dStep] = sum_e r[rOff + e] * W[e * stride + sOff + i]` for `i < count`:
 * kernel mixing, summed in float64 over exactly the `experts` experts (an absent expert must
 * add nothing, not `0 * W`, which is NaN where W is infinite). Up to 8 experts in one pass;
 * more in passes of 4 through `acc` (at least `count` long).
 */
export function mixInto(
  weights: Float32Array,
  stride: number,
  experts: number,
  r: Float64Array,
  rOff: number,
  sOff: number,
  count: number,
  dst: Float32Array,
  dOff: number,
  dStep: number,
  acc: Float64Array,
): void {
  if (experts <= 8) {
    const w = weights, end = sOff + count;
    // only the experts that exist are read (no out-of-bounds loads); the rest stay unused
    const at = (e: number) => e < experts ? r[rOff + e] : 0;
    const r0 = at(0), r1 = at(1), r2 = at(2), r3 = at(3), r4 = at(4), r5 = at(5);
    const r6 = at(6), r7 = at(7);
    const o1 = stride, o2 = 2 * stride, o3 = 3 * stride, o4 = 4 * stride;
    const o5 = 5 * stride, o6 = 6 * stride, o7 = 7 * stride;
    let d = dOff;
    // one loop per expert count: the sum has exactly `experts` terms
    switch (experts) {
      case 1:
        for (let i = sOff; i < end; i++, d += dStep) dst[d] = r0 * w[i];
        return;
      case 2:
        for (let i = sOff; i < end; i++, d += dStep) dst[d] = r0 * w[i] + r1 * w[i + o1];
        return;
      case 3:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2];
        }
        return;
      case 4:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3];
        }
        return;
      case 5:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            r4 * w[i + o4];
        }
        return;
      case 6:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5]);
        }
        return;
      case 7:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5] + r6 * w[i + o6]);
        }
        return;
      default:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5] + r6 * w[i + o6] + r7 * w[i + o7]);
        }
        return;
    }
  }
  for (let i = 0; i < count; i++) acc[i] = 0;
  let e = 0;
  for (; e + 4 <= experts; e += 4) {
    const r0 = r[rOff + e], r1 = r[rOff + e + 1], r2 = r[rOff + e + 2], r3 = r[rOff + e + 3];
    let s0 = e * stride + sOff;
    let s1 = s0 + stride, s2 = s1 + stride, s3 = s2 + stride;
    for (let i = 0; i < count; i++) {
      acc[i] += r0 * weights[s0++] + r1 * weights[s1++] + r2 * weights[s2++] + r3 * weights[s3++];
    }
  }
  for (; e < experts; e++) {
    const r0 = r[rOff + e];
    let s0 = e * stride + sOff;
    for (let i = 0; i < count; i++) acc[i] += r0 * weights[s0++];
  }
  let d = dOff;
  for (let i = 0; i < count; i++) {
    dst[d] = acc[i];
    d += dStep;
  }
}

/**
 * One row block of a GEMM: `rows` (1..4) output rows against `tiles` 4-column panels.
 * `A` holds the 4 rows interleaved `[k][4]` from `aOff`; panel `t` of `B` holds 4 columns
 * interleaved `[k][4]` from `bOff + t * bStride`. Output row `q` column `4t + c` goes to
 * `Y[yOff + q * ldy + 4t + c]` when `4t + c < cols`.
 */
export function gemmRows(
  A: Float32Array,
  aOff: number,
  K: number,
  B: Float32Array,
  bOff: number,
  bStride: number,
  tiles: number,
  Y: Float32Array,
  yOff: number,
  ldy: number,
  cols: number,
  rows: number,
  bias0: number,
  bias1: number,
  bias2: number,
  bias3: number,
): void {
  for (let t = 0; t < tiles; t++) {
    let ia = aOff, ib = bOff + t * bStride;
    let c00 = bias0, c01 = bias0, c02 = bias0, c03 = bias0;
    let c10 = bias1, c11 = bias1, c12 = bias1, c13 = bias1;
    let c20 = bias2, c21 = bias2, c22 = bias2, c23 = bias2;
    let c30 = bias3, c31 = bias3, c32 = bias3, c33 = bias3;
    for (let k = 0; k < K; k++) {
      const a0 = A[ia], a1 = A[ia + 1], a2 = A[ia + 2], a3 = A[ia + 3];
      const b0 = B[ib], b1 = B[ib + 1], b2 = B[ib + 2], b3 = B[ib + 3];
      ia += 4;
      ib += 4;
      c00 += a0 * b0;
      c01 += a0 * b1;
      c02 += a0 * b2;
      c03 += a0 * b3;
      c10 += a1 * b0;
      c11 += a1 * b1;
      c12 += a1 * b2;
      c13 += a1 * b3;
      c20 += a2 * b0;
      c21 += a2 * b1;
      c22 += a2 * b2;
      c23 += a2 * b3;
      c30 += a3 * b0;
      c31 += a3 * b1;
      c32 += a3 * b2;
      c33 += a3 * b3;
    }
    const col = 4 * t;
    let y = yOff + col;
    if (rows === 4 && col + 4 <= cols) {
      Y[y] = c00;
      Y[y + 1] = c01;
      Y[y + 2] = c02;
      Y[y + 3] = c03;
      y += ldy;
      Y[y] = c10;
      Y[y + 1] = c11;
      Y[y + 2] = c12;
      Y[y + 3] = c13;
      y += ldy;
      Y[y] = c20;
      Y[y + 1] = c21;
      Y[y + 2] = c22;
      Y[y + 3] = c23;
      y += ldy;
      Y[y] = c30;
      Y[y + 1] = c31;
      Y[y + 2] = c32;
      Y[y + 3] = c33;
      continue;
    }
    const n = Math.min(4, cols - col);
    for (let q = 0; q < rows; q++) {
      const v0 = q === 0 ? c00 : q === 1 ? c10 : q === 2 ? c20 : c30;
      const v1 = q === 0 ? c01 : q === 1 ? c11 : q === 2 ? c21 : c31;
      const v2 = q === 0 ? c02 : q === 1 ? c12 : q === 2 ? c22 : c32;
      const v3 = q === 0 ? c03 : q === 1 ? c13 : q === 2 ? c23 : c33;
      Y[y] = v0;
      if (n > 1) Y[y + 1] = v1;
      if (n > 2) Y[y + 2] = v2;
      if (n > 3) Y[y + 3] = v3;
      y += ldy;
    }
  }
}

/** A 5x5 depthwise plane, dilation 1: taps `k[ko..ko+24]`, padded plane `s` of width `pw`. */
function depthwise5(
  s: Float32Array,
  pw: number,
  k: Float32Array,
  ko: number,
  y: Float32Array,
  yo: number,
  oh: number,
  ow: number,
  sh: number,
  sw: number,
  bias: number,
): void {
  const k00 = k[ko], k01 = k[ko + 1], k02 = k[ko + 2], k03 = k[ko + 3], k04 = k[ko + 4];
  const k10 = k[ko + 5], k11 = k[ko + 6], k12 = k[ko + 7], k13 = k[ko + 8], k14 = k[ko + 9];
  const k20 = k[ko + 10], k21 = k[ko + 11], k22 = k[ko + 12], k23 = k[ko + 13];
  const k24 = k[ko + 14];
  const k30 = k[ko + 15], k31 = k[ko + 16], k32 = k[ko + 17], k33 = k[ko + 18];
  const k34 = k[ko + 19];
  const k40 = k[ko + 20], k41 = k[ko + 21], k42 = k[ko + 22], k43 = k[ko + 23];
  const k44 = k[ko + 24];
  let yi = yo;
  const rowStep = sh * pw;
  for (let i = 0; i < oh; i++) {
    let p0 = i * rowStep;
    for (let j = 0; j < ow; j++) {
      const p1 = p0 + pw, p2 = p1 + pw, p3 = p2 + pw, p4 = p3 + pw;
      const r0 = k00 * s[p0] + k01 * s[p0 + 1] + k02 * s[p0 + 2] + k03 * s[p0 + 3] +
        k04 * s[p0 + 4];
      const r1 = k10 * s[p1] + k11 * s[p1 + 1] + k12 * s[p1 + 2] + k13 * s[p1 + 3] +
        k14 * s[p1 + 4];
      const r2 = k20 * s[p2] + k21 * s[p2 + 1] + k22 * s[p2 + 2] + k23 * s[p2 + 3] +
        k24 * s[p2 + 4];
      const r3 = k30 * s[p3] + k31 * s[p3 + 1] + k32 * s[p3 + 2] + k33 * s[p3 + 3] +
        k34 * s[p3 + 4];
      const r4 = k40 * s[p4] + k41 * s[p4 + 1] + k42 * s[p4 + 2] + k43 * s[p4 + 3] +
        k44 * s[p4 + 4];
      y[yi++] = bias + ((r0 + r1) + (r2 + r3)) + r4;
      p0 += sw;
    }
  }
}

/**
 * A 5x5 depthwise plane, stride and dilation 1, row by row: five taps in registers at a
 * time, the output row summed in `acc`. Faster than `depthwise5` on wide planes (14x14),
 * slower on narrow ones (7x7).
 */
function depthwise5Rows(
  s: Float32Array,
  pw: number,
  k: Float32Array,
  ko: number,
  y: Float32Array,
  yo: number,
  oh: number,
  ow: number,
  bias: number,
  acc: Float64Array,
): void {
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) acc[j] = bias;
    for (let u = 0; u < 5; u++) {
      const kb = ko + 5 * u;
      const k0 = k[kb], k1 = k[kb + 1], k2 = k[kb + 2], k3 = k[kb + 3], k4 = k[kb + 4];
      let p = (i + u) * pw;
      for (let j = 0; j < ow; j++) {
        acc[j] += k0 * s[p] + k1 * s[p + 1] + k2 * s[p + 2] + k3 * s[p + 3] + k4 * s[p + 4];
        p++;
      }
    }
    let yi = yo + i * ow;
    for (let j = 0; j < ow; j++) y[yi++] = acc[j];
  }
}

/** Output width from which `depthwise5Rows` beats `depthwise5` (measured: 14 yes, 7 no). */
const ROWS_FROM_WIDTH = 12;

/** A 3x3 depthwise plane, dilation 1 (see `depthwise5`). */
function depthwise3(
  s: Float32Array,
  pw: number,
  k: Float32Array,
  ko: number,
  y: Float32Array,
  yo: number,
  oh: number,
  ow: number,
  sh: number,
  sw: number,
  bias: number,
): void {
  const k00 = k[ko], k01 = k[ko + 1], k02 = k[ko + 2];
  const k10 = k[ko + 3], k11 = k[ko + 4], k12 = k[ko + 5];
  const k20 = k[ko + 6], k21 = k[ko + 7], k22 = k[ko + 8];
  let yi = yo;
  const rowStep = sh * pw;
  for (let i = 0; i < oh; i++) {
    let p0 = i * rowStep;
    for (let j = 0; j < ow; j++) {
      const p1 = p0 + pw, p2 = p1 + pw;
      const r0 = k00 * s[p0] + k01 * s[p0 + 1] + k02 * s[p0 + 2];
      const r1 = k10 * s[p1] + k11 * s[p1 + 1] + k12 * s[p1 + 2];
      const r2 = k20 * s[p2] + k21 * s[p2 + 1] + k22 * s[p2 + 2];
      y[yi++] = bias + (r0 + r1) + r2;
      p0 += sw;
    }
  }
}

/** Any depthwise plane: `kh x kw` taps, strides and dilations (see `depthwise5`). */
function depthwiseAny(
  s: Float32Array,
  pw: number,
  k: Float32Array,
  ko: number,
  y: Float32Array,
  yo: number,
  p: TsPlan,
  bias: number,
): void {
  const { outHeight: oh, outWidth: ow, kernelHeight: kh, kernelWidth: kw } = p;
  const rowStep = p.strideHeight * pw, sw = p.strideWidth;
  const tapRow = p.dilationHeight * pw, dw = p.dilationWidth;
  let yi = yo;
  for (let i = 0; i < oh; i++) {
    let p0 = i * rowStep;
    for (let j = 0; j < ow; j++) {
      let sum = bias, kk = ko, pu = p0;
      for (let u = 0; u < kh; u++) {
        let pv = pu;
        for (let v = 0; v < kw; v++) {
          sum += k[kk++] * s[pv];
          pv += dw;
        }
        pu += tapRow;
      }
      y[yi++] = sum;
      p0 += sw;
    }
  }
}

/**
 * Hands out the units of a job: the main thread's is a pair of counters, the workers' are
 * atomics in shared memory, so an idle worker takes what a busy or descheduled one has not.
 */
export interface TsSchedule {
  /** Claims the next unit of `phase`; any value `>= total` means none is left. */
  claim(phase: 1 | 2): number;
  /** Marks one claimed unit of `phase` done; `total` is the phase's unit count. */
  complete(phase: 1 | 2, total: number): void;
  /** Blocks until every one of the `total` units of phase 1 is done. */
  awaitPhaseOne(total: number): void;
  /** Records that a unit failed (the job still runs to its end). */
  fail(): void;
}

/** The schedule of a single thread: units in order. */
export class TsSerialSchedule implements TsSchedule {
  #next = [0, 0, 0];

  /** Starts a new job. */
  reset(): void {
    this.#next[1] = this.#next[2] = 0;
  }

  claim(phase: 1 | 2): number {
    return this.#next[phase]++;
  }

  complete(): void {}

  awaitPhaseOne(): void {}

  fail(): void {}
}

/**
 * One thread's compute: its scratch (mixed kernels, im2col chunk, padded plane) and the units
 * it claims. Phase 1 units are `(example, block of input channels)`: channel means for the
 * routing, input panels on the pointwise path. Phase 2 units are `(example, block of output
 * tiles)` on the pointwise and depthwise paths, `(example, group, chunk of output columns)`
 * on the general path. Units are fixed by the plan, so outputs do not depend on the thread
 * count or on who ran what.
 */
export class TsSlice {
  readonly plan: TsPlan;
  /** the shared tensors; `input`, `supplied` and `output` may be replaced between runs */
  buffers: TsBuffers;
  /** mixed kernels: GEMM tiles `[tile][K][4]`, or depthwise taps `[O][kh * kw]` */
  #mixed: Float32Array;
  /** general path: the example and group whose kernels `#mixed` holds, `b * groups + g` */
  #mixedKey = -1;
  #mixAcc: Float64Array;
  #bias: Float64Array;
  #routing: Float64Array;
  /** the example whose routing `#routing` holds */
  #routed = -1;
  #logits: Float64Array;
  #rowMap: Int32Array;
  #colMap: Int32Array;
  /** general path: im2col panels of one chunk */
  #columns: Float32Array;
  /** general path: output row and column of each output pixel */
  #pixelRow: Int32Array;
  #pixelCol: Int32Array;
  /** depthwise path: one padded input plane */
  #plane: Float32Array;
  /** depthwise path: one output row */
  #row: Float64Array;

  constructor(plan: TsPlan, buffers: TsBuffers) {
    this.plan = plan;
    this.buffers = buffers;
    const p = plan;
    const kk = p.kernelHeight * p.kernelWidth;
    this.#mixed = new Float32Array(
      p.path === "depthwise" ? p.outChannels * kk : p.tileCount * p.kernelPerOut * 4,
    );
    this.#mixAcc = new Float64Array(p.path === "depthwise" ? p.outChannels * kk : p.kernelPerOut);
    this.#bias = new Float64Array(p.outChannels);
    this.#routing = new Float64Array(p.numExperts);
    this.#logits = new Float64Array(p.numExperts);
    this.#rowMap = paddingMap(p.inHeight, p.padTop, p.padBottom, p.paddingMode);
    this.#colMap = paddingMap(p.inWidth, p.padLeft, p.padRight, p.paddingMode);
    const outPlane = p.outHeight * p.outWidth;
    this.#columns = new Float32Array(p.path === "general" ? p.chunkTiles * 4 * p.kernelPerOut : 0);
    this.#pixelRow = new Int32Array(p.path === "general" ? outPlane : 0);
    this.#pixelCol = new Int32Array(p.path === "general" ? outPlane : 0);
    for (let i = 0; i < this.#pixelRow.length; i++) {
      this.#pixelRow[i] = Math.floor(i / p.outWidth);
      this.#pixelCol[i] = i % p.outWidth;
    }
    this.#plane = new Float32Array(
      p.path === "depthwise" ? this.#rowMap.length * this.#colMap.length : 0,
    );
    this.#row = new Float64Array(p.path === "depthwise" ? p.outWidth : 0);
  }

  /** Phase 1 units of a batch (0 when there is nothing to pool or pack). */
  phaseOneUnits(batch: number): number {
    const p = this.plan;
    const needed = p.routing !== "supplied" || p.path === "pointwise";
    return needed ? batch * Math.ceil(p.inChannels / p.poolBlock) : 0;
  }

  /** Phase 2 units of a batch. */
  phaseTwoUnits(batch: number): number {
    return batch * this.plan.unitsPerExample;
  }

  /**
   * Claims and runs units of a `batch`-example job until none is left; every thread of the
   * job calls it. A failing unit still counts as done; the first error is thrown at the end.
   */
  run(batch: number, schedule: TsSchedule): void {
    const p = this.plan, C = p.inChannels;
    this.#routed = this.#mixedKey = -1;
    let failure: unknown;
    const units1 = this.phaseOneUnits(batch);
    if (units1 > 0) {
      const blocks = Math.ceil(C / p.poolBlock);
      for (let u = schedule.claim(1); u < units1; u = schedule.claim(1)) {
        try {
          const b = Math.floor(u / blocks), c0 = (u % blocks) * p.poolBlock;
          this.#prepareInputs(b, c0, Math.min(C, c0 + p.poolBlock));
        } catch (error) {
          failure ??= error;
          schedule.fail();
        }
        schedule.complete(1, units1);
      }
      schedule.awaitPhaseOne(units1);
    }
    const units2 = this.phaseTwoUnits(batch), perExample = p.unitsPerExample;
    for (let u = schedule.claim(2); u < units2; u = schedule.claim(2)) {
      try {
        const b = Math.floor(u / perExample), j = u % perExample;
        if (b !== this.#routed) this.#computeRouting(b);
        if (p.path === "general") {
          const g = Math.floor(j / p.chunksPerGroup);
          this.#general(b, g, (j % p.chunksPerGroup) * p.chunkTiles);
        } else {
          const t0 = j * p.unitTiles, t1 = Math.min(p.tileCount, t0 + p.unitTiles);
          this.#mixBias(t0, t1);
          if (p.path === "depthwise") this.#depthwise(b, t0, t1);
          else this.#pointwise(b, t0, t1);
        }
      } catch (error) {
        failure ??= error;
        schedule.fail();
      }
      schedule.complete(2, units2);
    }
    if (failure !== undefined) throw failure;
  }

  /** Phase 1 of example `b`, channels `c0 .. c1`: means (computed routing), input panels. */
  #prepareInputs(b: number, c0: number, c1: number): void {
    const p = this.plan, { input, pooled, packed } = this.buffers;
    const plane = p.inHeight * p.inWidth, C = p.inChannels;
    const pool = p.routing !== "supplied";
    const pack = p.path === "pointwise";
    const panelStride = C * 4, exampleStride = p.columnTiles * panelStride;
    for (let c = c0; c < c1; c++) {
      const base = (b * C + c) * plane;
      let sum = 0;
      if (pack) {
        const dst = packed!;
        let d = b * exampleStride + c * 4;
        let x = base;
        const full = plane & ~3;
        for (let i = 0; i < full; i += 4) {
          const v0 = input[x], v1 = input[x + 1], v2 = input[x + 2], v3 = input[x + 3];
          dst[d] = v0;
          dst[d + 1] = v1;
          dst[d + 2] = v2;
          dst[d + 3] = v3;
          sum += (v0 + v1) + (v2 + v3);
          x += 4;
          d += panelStride;
        }
        for (let q = 0; full + q < plane; q++) {
          const v = input[x + q];
          dst[d + q] = v;
          sum += v;
        }
      } else if (pool) {
        for (let i = 0; i < plane; i++) sum += input[base + i];
      }
      if (pool) pooled![b * C + c] = sum / plane;
    }
  }

  /** The routing weights of example `b` into `#routing`. */
  #computeRouting(b: number): void {
    const p = this.plan, E = p.numExperts, r = this.#routing;
    this.#routed = b;
    if (p.routing === "supplied") {
      const supplied = this.buffers.supplied!;
      for (let e = 0; e < E; e++) r[e] = supplied[b * E + e];
      return;
    }
    const C = p.inChannels, { pooled, routingWeight, routingBias } = this.buffers;
    const z = this.#logits;
    for (let e = 0; e < E; e++) {
      let sum = routingBias![e];
      const row = e * C, pb = b * C;
      for (let c = 0; c < C; c++) sum += routingWeight![row + c] * pooled![pb + c];
      z[e] = sum;
    }
    if (p.routing === "softmax") {
      const t = p.temperature;
      let max = -Infinity;
      for (let e = 0; e < E; e++) max = Math.max(max, z[e] / t);
      let total = 0;
      for (let e = 0; e < E; e++) total += r[e] = Math.exp(z[e] / t - max);
      for (let e = 0; e < E; e++) r[e] /= total;
    } else {
      for (let e = 0; e < E; e++) r[e] = 1 / (1 + Math.exp(-z[e]));
    }
  }

  /** Bias of this example for the output channels of tiles `t0 .. t1` into `#bias`. */
  #mixBias(t0: number, t1: number): void {
    const p = this.plan, bias = this.buffers.bias, out = this.#bias;
    let o0 = t0, o1 = t1;
    if (p.path !== "depthwise") {
      const opg = p.outChannelsPerGroup, tpg = p.tilesPerGroup, last = t1 - 1;
      o0 = Math.floor(t0 / tpg) * opg + (t0 % tpg) * 4;
      o1 = Math.min(
        Math.floor(last / tpg) * opg + (last % tpg) * 4 + 4,
        (Math.floor(last / tpg) + 1) * opg,
      );
    }
    if (p.bias === "none") {
      for (let o = o0; o < o1; o++) out[o] = 0;
    } else if (p.bias === "shared") {
      for (let o = o0; o < o1; o++) out[o] = bias![o];
    } else {
      const r = this.#routing, O = p.outChannels;
      for (let o = o0; o < o1; o++) {
        let sum = 0;
        for (let e = 0; e < p.numExperts; e++) sum += r[e] * bias![e * O + o];
        out[o] = sum;
      }
    }
  }

  /** The mixed kernels of tiles `t0 .. t1` into `#mixed`, 4 rows interleaved per tile. */
  #mixTiles(t0: number, t1: number): void {
    const p = this.plan, K = p.kernelPerOut, opg = p.outChannelsPerGroup, tpg = p.tilesPerGroup;
    const mixed = this.#mixed, W = this.buffers.expertKernels, r = this.#routing;
    for (let t = t0; t < t1; t++) {
      const g = Math.floor(t / tpg), o0 = g * opg + (t % tpg) * 4;
      const rows = Math.min(4, (g + 1) * opg - o0);
      for (let q = 0; q < 4; q++) {
        const d = t * K * 4 + q;
        if (q < rows) {
          mixInto(
            W,
            p.expertLength,
            p.numExperts,
            r,
            0,
            (o0 + q) * K,
            K,
            mixed,
            d,
            4,
            this.#mixAcc,
          );
        } else {
          for (let k = 0; k < K; k++) mixed[d + 4 * k] = 0;
        }
      }
    }
  }

  /**
   * Output rows of tile `t` against `tiles` column panels of `B` (panel stride `bStride`),
   * written from output column `4 * ct0` of example `b`.
   */
  #tile(
    b: number,
    t: number,
    B: Float32Array,
    bOff: number,
    bStride: number,
    ct0: number,
    tiles: number,
  ): void {
    const p = this.plan, K = p.kernelPerOut, opg = p.outChannelsPerGroup, tpg = p.tilesPerGroup;
    const g = Math.floor(t / tpg), o0 = g * opg + (t % tpg) * 4;
    const rows = Math.min(4, (g + 1) * opg - o0);
    const outPlane = p.outHeight * p.outWidth, bias = this.#bias;
    gemmRows(
      this.#mixed,
      t * K * 4,
      K,
      B,
      bOff,
      bStride,
      tiles,
      this.buffers.output,
      (b * p.outChannels + o0) * outPlane + ct0 * 4,
      outPlane,
      outPlane - ct0 * 4,
      rows,
      bias[o0],
      rows > 1 ? bias[o0 + 1] : 0,
      rows > 2 ? bias[o0 + 2] : 0,
      rows > 3 ? bias[o0 + 3] : 0,
    );
  }

  /** Pointwise path, example `b`, tiles `t0 .. t1`: mix, then GEMM on the input panels. */
  #pointwise(b: number, t0: number, t1: number): void {
    const p = this.plan, K = p.kernelPerOut, C = p.inChannels, tpg = p.tilesPerGroup;
    this.#mixTiles(t0, t1);
    const packed = this.buffers.packed!, example = b * p.columnTiles * C * 4;
    for (let t = t0; t < t1; t++) {
      const g = Math.floor(t / tpg);
      this.#tile(b, t, packed, example + g * K * 4, C * 4, 0, p.columnTiles);
    }
  }

  /**
   * General path, example `b`, group `g`, the chunk of column tiles from `ct0`: the group's
   * kernels are mixed once per example and thread, then im2col of the chunk and GEMM.
   */
  #general(b: number, g: number, ct0: number): void {
    const p = this.plan, tpg = p.tilesPerGroup, t0 = g * tpg, t1 = t0 + tpg;
    const key = b * p.groups + g;
    if (this.#mixedKey !== key) {
      this.#mixTiles(t0, t1);
      this.#mixBias(t0, t1);
      this.#mixedKey = key;
    }
    const tiles = Math.min(p.chunkTiles, p.columnTiles - ct0);
    this.#im2col(b, g, ct0, tiles);
    for (let t = t0; t < t1; t++) {
      this.#tile(b, t, this.#columns, 0, p.kernelPerOut * 4, ct0, tiles);
    }
  }

  /** General path: panels `[tile][C/g * kh * kw][4]` of group `g`, column tiles from `ct0`. */
  #im2col(b: number, g: number, ct0: number, tiles: number): void {
    const p = this.plan, input = this.buffers.input, cols = this.#columns;
    const { inHeight: H, inWidth: W, kernelHeight: kh, kernelWidth: kw } = p;
    const sh = p.strideHeight, sw = p.strideWidth, dh = p.dilationHeight, dw = p.dilationWidth;
    const rowMap = this.#rowMap, colMap = this.#colMap;
    const pixelRow = this.#pixelRow, pixelCol = this.#pixelCol;
    const outPlane = p.outHeight * p.outWidth, Cg = p.channelsPerGroup;
    const channelBase = (b * p.inChannels + g * Cg) * H * W;
    let d = 0;
    for (let t = 0; t < tiles; t++) {
      const px = (ct0 + t) * 4;
      // the top-left padded coordinate of each of the 4 pixels; -1 marks a pixel past the end
      const valid1 = px + 1 < outPlane, valid2 = px + 2 < outPlane, valid3 = px + 3 < outPlane;
      const y0 = pixelRow[px] * sh, x0 = pixelCol[px] * sw;
      const y1 = valid1 ? pixelRow[px + 1] * sh : -1, x1 = valid1 ? pixelCol[px + 1] * sw : 0;
      const y2 = valid2 ? pixelRow[px + 2] * sh : -1, x2 = valid2 ? pixelCol[px + 2] * sw : 0;
      const y3 = valid3 ? pixelRow[px + 3] * sh : -1, x3 = valid3 ? pixelCol[px + 3] * sw : 0;
      for (let c = 0; c < Cg; c++) {
        const cb = channelBase + c * H * W;
        for (let u = 0; u < kh; u++) {
          const du = u * dh;
          const r0 = rowMap[y0 + du];
          const r1 = y1 < 0 ? -1 : rowMap[y1 + du];
          const r2 = y2 < 0 ? -1 : rowMap[y2 + du];
          const r3 = y3 < 0 ? -1 : rowMap[y3 + du];
          for (let v = 0; v < kw; v++) {
            const dv = v * dw;
            const s0 = colMap[x0 + dv], s1 = colMap[x1 + dv];
            const s2 = colMap[x2 + dv], s3 = colMap[x3 + dv];
            cols[d] = r0 < 0 || s0 < 0 ? 0 : input[cb + r0 * W + s0];
            cols[d + 1] = r1 < 0 || s1 < 0 ? 0 : input[cb + r1 * W + s1];
            cols[d + 2] = r2 < 0 || s2 < 0 ? 0 : input[cb + r2 * W + s2];
            cols[d + 3] = r3 < 0 || s3 < 0 ? 0 : input[cb + r3 * W + s3];
            d += 4;
          }
        }
      }
    }
  }

  /** Depthwise path, example `b`, output channels `o0 .. o1`. */
  #depthwise(b: number, o0: number, o1: number): void {
    const p = this.plan, kk = p.kernelHeight * p.kernelWidth;
    const mixed = this.#mixed;
    mixInto(
      this.buffers.expertKernels,
      p.expertLength,
      p.numExperts,
      this.#routing,
      0,
      o0 * kk,
      (o1 - o0) * kk,
      mixed,
      o0 * kk,
      1,
      this.#mixAcc,
    );
    const { inHeight: H, inWidth: W } = p;
    const input = this.buffers.input, output = this.buffers.output, plane = this.#plane;
    const rowMap = this.#rowMap, colMap = this.#colMap;
    const ph = rowMap.length, pw = colMap.length;
    const zeros = p.paddingMode === "zeros";
    const outPlane = p.outHeight * p.outWidth, opg = p.outChannelsPerGroup;
    const unrolled = p.dilationHeight === 1 && p.dilationWidth === 1 &&
      p.kernelHeight === p.kernelWidth && (p.kernelHeight === 3 || p.kernelHeight === 5);
    let loaded = -1;
    for (let o = o0; o < o1; o++) {
      const c = Math.floor(o / opg);
      if (c !== loaded) {
        const base = (b * p.inChannels + c) * H * W;
        if (zeros) {
          // the border of `plane` is zero from construction and never written
          for (let i = 0; i < H; i++) {
            let d = (i + p.padTop) * pw + p.padLeft, s = base + i * W;
            for (let j = 0; j < W; j++) plane[d++] = input[s++];
          }
        } else {
          let d = 0;
          for (let i = 0; i < ph; i++) {
            const row = base + rowMap[i] * W;
            for (let j = 0; j < pw; j++) plane[d++] = input[row + colMap[j]];
          }
        }
        loaded = c;
      }
      const yo = (b * p.outChannels + o) * outPlane, bias = this.#bias[o];
      if (
        unrolled && p.kernelHeight === 5 && p.strideHeight === 1 && p.strideWidth === 1 &&
        p.outWidth >= ROWS_FROM_WIDTH
      ) {
        depthwise5Rows(
          plane,
          pw,
          mixed,
          o * kk,
          output,
          yo,
          p.outHeight,
          p.outWidth,
          bias,
          this.#row,
        );
      } else if (unrolled && p.kernelHeight === 5) {
        depthwise5(
          plane,
          pw,
          mixed,
          o * kk,
          output,
          yo,
          p.outHeight,
          p.outWidth,
          p.strideHeight,
          p.strideWidth,
          bias,
        );
      } else if (unrolled) {
        depthwise3(
          plane,
          pw,
          mixed,
          o * kk,
          output,
          yo,
          p.outHeight,
          p.outWidth,
          p.strideHeight,
          p.strideWidth,
          bias,
        );
      } else {
        depthwiseAny(plane, pw, mixed, o * kk, output, yo, p, bias);
      }
    }
  }
}

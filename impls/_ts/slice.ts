/**
 * One thread's compute in the `ts` adapter: float32 storage, float64 arithmetic (JavaScript
 * numbers), plain loops shaped for the JIT. Shared by the main thread (`workers: 1`) and the
 * workers (`worker.ts`); runtime-neutral, no allocation once a `TsSlice` exists. The plan and
 * the paths are described in `plan.ts`.
 * @module
 */
import { type DepthwiseKernel, depthwiseKernel, loadPlane } from "./depthwise.ts";
import { gemmRows } from "./gemm.ts";
import { im2col, type PixelMaps, pixelMaps } from "./im2col.ts";
import { mixInto } from "./mixing.ts";
import type { TsBuffers, TsPlan } from "./plan.ts";
import type { TsSchedule } from "./schedule.ts";

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
  #maps: PixelMaps;
  /** general path: im2col panels of one chunk */
  #columns: Float32Array;
  /** depthwise path: one padded input plane */
  #plane: Float32Array;
  /** depthwise path: one output row */
  #row: Float64Array;
  /** depthwise path: the kernel for the plan's taps */
  #depthwiseKernel: DepthwiseKernel;

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
    this.#maps = pixelMaps(p);
    this.#columns = new Float32Array(p.path === "general" ? p.chunkTiles * 4 * p.kernelPerOut : 0);
    const depthwise = p.path === "depthwise";
    this.#plane = new Float32Array(
      depthwise ? this.#maps.rowMap.length * this.#maps.colMap.length : 0,
    );
    this.#row = new Float64Array(depthwise ? p.outWidth : 0);
    this.#depthwiseKernel = depthwiseKernel(p);
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
    im2col(p, this.#maps, this.buffers.input, b, g, ct0, tiles, this.#columns);
    for (let t = t0; t < t1; t++) {
      this.#tile(b, t, this.#columns, 0, p.kernelPerOut * 4, ct0, tiles);
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
    const input = this.buffers.input, output = this.buffers.output, plane = this.#plane;
    const { rowMap, colMap } = this.#maps, pw = colMap.length;
    const outPlane = p.outHeight * p.outWidth, opg = p.outChannelsPerGroup;
    const kernel = this.#depthwiseKernel, row = this.#row;
    let loaded = -1;
    for (let o = o0; o < o1; o++) {
      const c = Math.floor(o / opg);
      if (c !== loaded) {
        loadPlane(p, input, (b * p.inChannels + c) * p.inHeight * p.inWidth, plane, rowMap, colMap);
        loaded = c;
      }
      const yo = (b * p.outChannels + o) * outPlane;
      kernel(plane, pw, mixed, o * kk, output, yo, p, this.#bias[o], row);
    }
  }
}

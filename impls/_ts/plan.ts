/**
 * The plan of the `ts` adapter: a layer applied to one input height and width, as plain
 * numbers posted to the workers, and the tensors every thread shares.
 *
 * ## The three convolution paths
 * - `pointwise` (1x1, stride 1, no padding): per example and group a GEMM
 *   `(O/g x C/g) * (C/g x HW)`. Phase 1 packs the input into 4-column panels
 *   `[HW/4][C][4]`, so the micro-kernel (`gemm.ts`) reads both operands sequentially.
 * - `depthwise` (one input channel per group): per channel, a direct loop over a padded copy of
 *   the input plane with the mixed taps in registers (`depthwise.ts`).
 * - `general`: per example and group, im2col of a chunk of output columns straight into
 *   4-column panels (`im2col.ts`), then the same GEMM.
 *
 * ## Work split: units claimed from shared counters
 * A job is cut into units fixed by the plan (`TsSlice` in `slice.ts` says which). Threads
 * claim units from two counters (`TsSchedule` in `schedule.ts`) until none is left, so a
 * thread that is busy or descheduled holds nobody up and outputs do not depend on the thread
 * count. Phase 1 (channel means for the routing, input panels on the pointwise path) ends
 * before phase 2 (mixing and convolution) starts.
 * @module
 */
// Types only: the workers' module graph (worker.ts and what it imports) stays free of zod,
// which keeps worker start-up short.
import type { BiasKind, CondConvSpec, PaddingMode } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";

/** Which convolution routine a plan uses (see the module doc). */
export type TsPath = "pointwise" | "depthwise" | "general";

/** Floats of im2col scratch a general-path chunk aims at (128 KiB: stays in L2). */
export const IM2COL_CHUNK_FLOATS = 32768;
/** Multiply-adds a phase 2 unit aims at: big enough to amortise claiming it. */
export const UNIT_MACS = 32768;
/** Input values a phase 1 unit aims at. */
export const POOL_UNIT_FLOATS = 16384;

/**
 * One layer applied to one input size: every number the slices need, posted to workers. The
 * shape fields are the layer's `Geometry` (without the batch, which varies per run).
 */
export interface TsPlan extends Omit<Geometry, "batch"> {
  path: TsPath;
  /** the largest batch the buffers hold */
  batchCapacity: number;
  paddingMode: PaddingMode;
  bias: BiasKind;
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
export function choosePath(
  g: Pick<
    Geometry,
    | "kernelHeight"
    | "kernelWidth"
    | "strideHeight"
    | "strideWidth"
    | "padTop"
    | "padBottom"
    | "padLeft"
    | "padRight"
    | "channelsPerGroup"
  >,
): TsPath {
  if (g.channelsPerGroup === 1) return "depthwise";
  const pointwise = g.kernelHeight === 1 && g.kernelWidth === 1 && g.strideHeight === 1 &&
    g.strideWidth === 1 && g.padTop + g.padBottom + g.padLeft + g.padRight === 0;
  return pointwise ? "pointwise" : "general";
}

/** The plan of `spec` on input geometry `g`, with buffers for `capacity` examples. */
export function makePlan(spec: CondConvSpec, g: Geometry, capacity: number): TsPlan {
  const path = choosePath(g);
  const kernelPerOut = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const tilesPerGroup = path === "depthwise"
    ? g.outChannelsPerGroup
    : Math.ceil(g.outChannelsPerGroup / 4);
  const columnTiles = Math.ceil((g.outHeight * g.outWidth) / 4);
  const chunkTiles = path === "general"
    ? Math.max(1, Math.min(columnTiles, Math.floor(IM2COL_CHUNK_FLOATS / (4 * kernelPerOut))))
    : columnTiles;
  const chunksPerGroup = Math.ceil(columnTiles / chunkTiles);
  const tileCount = path === "depthwise" ? g.outChannels : g.groups * tilesPerGroup;
  // multiply-adds of one tile: 4 output rows (one channel on the depthwise path) of a plane
  const tileMacs = (path === "depthwise" ? 1 : 4) * kernelPerOut * g.outHeight * g.outWidth;
  const unitTiles = Math.min(tileCount, Math.max(1, Math.round(UNIT_MACS / tileMacs)));
  const poolBlock = Math.min(
    g.inChannels,
    Math.max(1, Math.round(POOL_UNIT_FLOATS / (g.inHeight * g.inWidth))),
  );
  const { batch: _, ...shape } = g;
  return {
    ...shape,
    path,
    batchCapacity: capacity,
    paddingMode: spec.paddingMode,
    bias: spec.bias,
    routing: spec.routing.kind,
    temperature: spec.routing.kind === "softmax" ? spec.routing.temperature : 1,
    kernelPerOut,
    expertLength: g.outChannels * kernelPerOut,
    tileCount,
    tilesPerGroup,
    columnTiles,
    chunkTiles,
    chunksPerGroup,
    poolBlock,
    unitTiles,
    unitsPerExample: path === "general"
      ? g.groups * chunksPerGroup
      : Math.ceil(tileCount / unitTiles),
  };
}

/** Maps padded coordinates `0 .. size + before + after - 1` to source indices, -1 for zero. */
export function paddingMap(
  size: number,
  before: number,
  after: number,
  mode: PaddingMode,
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

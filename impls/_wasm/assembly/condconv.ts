/// <reference path="./builtins.d.ts" />
/**
 * The `wasm` adapter's kernels, in AssemblyScript: WebAssembly SIMD128 (float32x4) over one
 * shared memory that every thread instantiates, with relaxed SIMD's fused multiply-add in the
 * GEMM and mixing loops. Built by `deno task build:wasm` into
 * `impls/_wasm/condconv.wasm` (see `scripts/build_wasm.ts`). No runtime, no allocation: the
 * host lays out every tensor and each worker's scratch in the memory and passes a plan (see
 * `../layout.ts`, which this file shares with the host).
 *
 * A job is two phases of units that threads claim from atomic counters (the host does the
 * claiming, `../job.ts`):
 * - `phaseOne(plan, unit)`: channel means for the routing, and on the pointwise path the
 *   input packed into `NR`-column panels `[panel][C][NR]`;
 * - `route(plan, worker)`: each thread computes the routing weights of every example of the
 *   job into its scratch (E x C multiply-adds per example: cheap);
 * - `phaseTwo(plan, unit, worker)`: mixing and convolution (`worker` is the thread's index,
 *   which picks its scratch).
 *
 * ## The paths
 * - pointwise (1x1, stride 1, no padding): a unit is a block of `MR`-row panels of output
 *   channels for every example of the job. The expert kernels of those rows are read once
 *   and mixed, per example, straight into the micro-kernel's packed layout `[K][MR]`: four
 *   examples at a time as a small GEMM (`mixTile`, through a staging chunk and a 4x4
 *   transpose), the rest two or one at a time as float32x4 along K. The GEMM micro-kernel is
 *   `MR x NR` = 4 x 8: eight float32x4 accumulators, K innermost, per k one A vector (the 4
 *   rows, each broadcast by a lane shuffle) and two B vectors into eight fused multiply-adds
 *   (`f32x4.relaxed_madd`, relaxed SIMD); a column panel with 4 or fewer columns left runs a
 *   4 x 4 kernel. Why this shape: `BLOCKS` in `../plan.ts`.
 * - depthwise (one input channel per group): a unit is a block of output channels for every
 *   example. Per example and channel the padded input plane is split into `stride` column
 *   phases (phase q holds padded columns q, q + s, ...), so every tap of every stride reads
 *   contiguous vectors; outputs are computed 8 at a time across the output width (two
 *   float32x4 accumulators), the mixed 3x3 or 5x5 taps splatted into locals once per channel.
 * - general: a unit is (example, group, a block of `NR`-column panels): the group's kernels
 *   are mixed once per example and worker into `[K][MR]` panels, the block is gathered
 *   (im2col through padding maps, every padding mode) into `[K][NR]` panels, and the same
 *   micro-kernel runs.
 */
import {
  MR,
  NR,
  P_BATCH,
  P_BIAS,
  P_BIAS_PTR,
  P_C,
  P_CG,
  P_COL_PANELS,
  P_COLMAP_PTR,
  P_DH,
  P_DW,
  P_E,
  P_EXPERTS_PTR,
  P_GROUPS,
  P_H,
  P_HP,
  P_INPUT_PTR,
  P_K,
  P_KH,
  P_KW,
  P_O,
  P_OG,
  P_OH,
  P_OUTPUT_PTR,
  P_OW,
  P_PACKED_PTR,
  P_PAD_LEFT,
  P_PAD_MODE,
  P_PAD_TOP,
  P_PATH,
  P_PHASE_WIDTH,
  P_POOL_BLOCK,
  P_POOLED_PTR,
  P_RB_PTR,
  P_ROUTING,
  P_ROW_PANELS,
  P_ROWMAP_PTR,
  P_RW_PTR,
  P_S_BIAS,
  P_S_MIXED,
  P_S_ROUTING,
  P_S_STAGE,
  P_S_TILE,
  P_S_WORK,
  P_SCRATCH_PTR,
  P_SCRATCH_STRIDE,
  P_SH,
  P_SUPPLIED_PTR,
  P_SW,
  P_TEMPERATURE,
  P_UNIT_SIZE,
  P_W,
  P_WP,
} from "../layout.ts";

/** The first byte the host may use: everything below belongs to the module's own data. */
export function heapBase(): usize {
  return __heap_base;
}

function word(plan: usize, index: i32): i32 {
  return load<i32>(plan + (<usize> index << 2));
}

function ptr(plan: usize, index: i32): usize {
  return <usize> load<i32>(plan + (<usize> index << 2));
}

function at(base: usize, index: i32): usize {
  return base + (<usize> index << 2);
}

/** The scratch of worker `worker`. */
function scratch(plan: usize, worker: i32): usize {
  return ptr(plan, P_SCRATCH_PTR) + <usize> worker * ptr(plan, P_SCRATCH_STRIDE);
}

/** Stores the first `n` (0..4) lanes of `v` at `p`. */
function storeLanes(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  if (n > 0) v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p, v, 1, 4);
  if (n > 2) v128.store32_lane(p, v, 2, 8);
}

// ---------------------------------------------------------------------------------------
// Phase one: channel means and input panels

/** Sum of `n` floats from `p`, in float64 (two float64x2 accumulators). */
function sumPlane(p: usize, n: i32): f64 {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(at(p, i));
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) +
    (f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1));
  for (; i < n; i++) s += <f64> load<f32>(at(p, i));
  return s;
}

/** Example `b`'s channel `c` into the pointwise panels `[panel][C][NR]`. */
function packChannel(plan: usize, src: usize, b: i32, c: i32): void {
  const C = word(plan, P_C), HW = word(plan, P_H) * word(plan, P_W);
  const panels = word(plan, P_COL_PANELS);
  const panelBytes = <usize> (C * NR) << 2;
  let dst = ptr(plan, P_PACKED_PTR) + <usize> b * <usize> panels * panelBytes +
    (<usize> (c * NR) << 2);
  for (let jp = 0; jp < panels; jp++) {
    const j = jp * NR;
    if (j + NR <= HW) {
      v128.store(dst, v128.load(at(src, j)));
      v128.store(dst, v128.load(at(src, j + 4)), 16);
    } else {
      for (let t = 0; t < NR; t++) {
        store<f32>(at(dst, t), j + t < HW ? load<f32>(at(src, j + t)) : 0);
      }
    }
    dst += panelBytes;
  }
}

/** Phase one unit: channel means (computed routing) and pointwise panels of one block. */
export function phaseOne(plan: usize, unit: i32): void {
  const C = word(plan, P_C), HW = word(plan, P_H) * word(plan, P_W);
  const block = word(plan, P_POOL_BLOCK);
  const blocks = (C + block - 1) / block;
  const b = unit / blocks, c0 = (unit % blocks) * block;
  const c1 = min(C, c0 + block);
  const pool = word(plan, P_ROUTING) != 2, pack = word(plan, P_PATH) == 0;
  const pooled = ptr(plan, P_POOLED_PTR);
  for (let c = c0; c < c1; c++) {
    const src = at(ptr(plan, P_INPUT_PTR), (b * C + c) * HW);
    if (pool) store<f64>(pooled + (<usize> (b * C + c) << 3), sumPlane(src, HW) / <f64> HW);
    if (pack) packChannel(plan, src, b, c);
  }
}

// ---------------------------------------------------------------------------------------
// Routing

/** Routing weights `(batch, E)` of the job into the worker's scratch, as float32. */
export function route(plan: usize, worker: i32): void {
  const E = word(plan, P_E), C = word(plan, P_C), batch = word(plan, P_BATCH);
  const kind = word(plan, P_ROUTING);
  const s = scratch(plan, worker);
  const r = s + ptr(plan, P_S_ROUTING);
  // the general path's mixed-kernel cache key: nothing mixed yet in this job
  store<i32>(s, -1);
  if (kind == 2) {
    memory.copy(r, ptr(plan, P_SUPPLIED_PTR), <usize> (batch * E) << 2);
    return;
  }
  const rw = ptr(plan, P_RW_PTR), rb = ptr(plan, P_RB_PTR), pooled = ptr(plan, P_POOLED_PTR);
  const t = <f64> load<f32>(plan + (<usize> P_TEMPERATURE << 2));
  for (let b = 0; b < batch; b++) {
    let max = -Infinity;
    for (let e = 0; e < E; e++) {
      let z = <f64> load<f32>(at(rb, e));
      for (let c = 0; c < C; c++) {
        z += <f64> load<f32>(at(rw, e * C + c)) * load<f64>(pooled + (<usize> (b * C + c) << 3));
      }
      if (kind == 1) {
        z = z / t;
        // NaN propagates, as Math.max does
        max = z != z || max != max ? NaN : Math.max(max, z);
      }
      store<f32>(at(r, b * E + e), <f32> z);
    }
    if (kind == 0) {
      for (let e = 0; e < E; e++) {
        const z = <f64> load<f32>(at(r, b * E + e));
        store<f32>(at(r, b * E + e), <f32> (1.0 / (1.0 + Math.exp(-z))));
      }
    } else {
      let total = 0.0;
      for (let e = 0; e < E; e++) {
        const v = Math.exp(<f64> load<f32>(at(r, b * E + e)) - max);
        total += v;
        store<f32>(at(r, b * E + e), <f32> v);
      }
      for (let e = 0; e < E; e++) {
        store<f32>(at(r, b * E + e), <f32> (<f64> load<f32>(at(r, b * E + e)) / total));
      }
    }
  }
}

/** Example `b`'s bias of output channel `o`. */
function biasOf(plan: usize, r: usize, b: i32, o: i32): f32 {
  const kind = word(plan, P_BIAS);
  if (kind == 0) return 0;
  const bias = ptr(plan, P_BIAS_PTR);
  if (kind == 1) return load<f32>(at(bias, o));
  const E = word(plan, P_E), O = word(plan, P_O);
  let sum: f32 = 0;
  for (let e = 0; e < E; e++) sum += load<f32>(at(r, b * E + e)) * load<f32>(at(bias, e * O + o));
  return sum;
}

// ---------------------------------------------------------------------------------------
// Mixing

/** `c + a * b`, fused where the hardware has a fused multiply-add (relaxed SIMD). */
function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.relaxed_madd(a, b, c);
}

/** Stores rows `a0 .. a3` (4 floats along k each) as 4 k-vectors across the rows at `d`. */
function storeTransposed(d: usize, a0: v128, a1: v128, a2: v128, a3: v128): void {
  const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), 16);
  v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), 32);
  v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), 48);
}

/** Floats of one row per mixing chunk: the staging buffer holds 4 examples x 4 rows of it. */
const MIX_CHUNK = 64;

/**
 * Mixing as a small GEMM: for 4 examples (routing weights `r4`, `[E][4]`) and `n8` blocks of
 * 8 consecutive weights from `w` (expert 0; expert e is `e * expertBytes` further), the 4
 * mixed spans to `out + i * outStride`. Per expert: one routing vector (each example's weight
 * broadcast by a lane shuffle), two weight vectors, eight fused multiply-adds.
 */
function mixTile(
  r4: usize,
  w: usize,
  E: i32,
  expertBytes: usize,
  n8: i32,
  out: usize,
  outStride: usize,
): void {
  const zero = f32x4.splat(0);
  for (let j = 0; j < n8; j++) {
    let c00 = zero, c01 = zero, c10 = zero, c11 = zero;
    let c20 = zero, c21 = zero, c30 = zero, c31 = zero;
    let p = w + (<usize> j << 5), q = r4;
    for (let e = 0; e < E; e++) {
      const b0 = v128.load(p), b1 = v128.load(p, 16), av = v128.load(q);
      let t = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
      c00 = madd(t, b0, c00);
      c01 = madd(t, b1, c01);
      t = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
      c10 = madd(t, b0, c10);
      c11 = madd(t, b1, c11);
      t = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
      c20 = madd(t, b0, c20);
      c21 = madd(t, b1, c21);
      t = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
      c30 = madd(t, b0, c30);
      c31 = madd(t, b1, c31);
      p += expertBytes;
      q += 16;
    }
    let d = out + (<usize> j << 5);
    v128.store(d, c00);
    v128.store(d, c01, 16);
    d += outStride;
    v128.store(d, c10);
    v128.store(d, c11, 16);
    d += outStride;
    v128.store(d, c20);
    v128.store(d, c21, 16);
    d += outStride;
    v128.store(d, c30);
    v128.store(d, c31, 16);
  }
}

/**
 * Full row panels (`rows == MR`) for examples `b0 + 4 * g ..` in groups of 4, k below
 * `K & ~3`: chunk by chunk of `MIX_CHUNK` k, each row's span mixed by `mixTile` into the
 * staging buffer `stage` (`[E][4]` routing weights, then `[4 examples][4 rows][MIX_CHUNK]`),
 * then transposed into the panels.
 */
function mixGroups(
  plan: usize,
  r: usize,
  b0: i32,
  groups: i32,
  o0: i32,
  dst: usize,
  dstStride: usize,
  stage: usize,
): void {
  const E = word(plan, P_E), K = word(plan, P_K), K4 = K & ~3;
  const expertBytes = <usize> (word(plan, P_O) * K) << 2;
  const w0 = at(ptr(plan, P_EXPERTS_PTR), o0 * K);
  const r4 = stage, rows = stage + (<usize> E << 4);
  const exampleStride = <usize> (MR * MIX_CHUNK) << 2, rowStride = <usize> MIX_CHUNK << 2;
  for (let k0 = 0; k0 < K4; k0 += MIX_CHUNK) {
    const k1 = min(K4, k0 + MIX_CHUNK), n8 = (k1 - k0 + 7) >> 3;
    for (let g = 0; g < groups; g++) {
      const b = b0 + 4 * g;
      for (let e = 0; e < E; e++) {
        for (let i = 0; i < 4; i++) {
          store<f32>(at(r4, e * 4 + i), load<f32>(at(r, (b + i) * E + e)));
        }
      }
      for (let q = 0; q < MR; q++) {
        mixTile(
          r4,
          w0 + (<usize> (q * K + k0) << 2),
          E,
          expertBytes,
          n8,
          rows + <usize> q * rowStride,
          exampleStride,
        );
      }
      for (let i = 0; i < 4; i++) {
        const src = rows + <usize> i * exampleStride;
        const d = dst + <usize> (b - b0 + i) * dstStride;
        for (let k = k0; k < k1; k += 4) {
          const f = at(src, k - k0);
          storeTransposed(
            d + (<usize> (k * MR) << 2),
            v128.load(f),
            v128.load(f + rowStride),
            v128.load(f + 2 * rowStride),
            v128.load(f + 3 * rowStride),
          );
        }
      }
    }
  }
}

/**
 * Mixes output rows `o0 .. o0 + rows` (rows <= MR; missing rows are zero) of every expert
 * for examples `b0 .. b0 + nb` into `[K][MR]` panels at `dst + i * dstStride`. Four rows are
 * mixed as float32x4 along k, two examples at a time (each expert vector loaded once for
 * both), then transposed to the panel's `[k][row]` order.
 */
function mixPanel(
  plan: usize,
  r: usize,
  b0: i32,
  nb: i32,
  o0: i32,
  rows: i32,
  dst: usize,
  dstStride: usize,
  stage: usize,
): void {
  const E = word(plan, P_E), K = word(plan, P_K);
  const expertBytes = <usize> (word(plan, P_O) * K) << 2;
  const rowBytes = <usize> K << 2;
  const w0 = at(ptr(plan, P_EXPERTS_PTR), o0 * K);
  const zero = f32x4.splat(0);
  const groups = rows == MR ? nb >> 2 : 0;
  if (groups > 0) mixGroups(plan, r, b0, groups, o0, dst, dstStride, stage);
  const first = 4 * groups;
  const pairs = rows == MR ? (nb - first) >> 1 : 0;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    for (let i = 0; i < pairs; i++) {
      const rb = at(r, (b0 + first + 2 * i) * E), rc = at(rb, E);
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      let c0 = zero, c1 = zero, c2 = zero, c3 = zero;
      let w = w0 + (<usize> k << 2);
      for (let e = 0; e < E; e++) {
        const re = v128.load32_splat(at(rb, e)), rf = v128.load32_splat(at(rc, e));
        const v0 = v128.load(w), v1 = v128.load(w + rowBytes);
        const v2 = v128.load(w + 2 * rowBytes), v3 = v128.load(w + 3 * rowBytes);
        a0 = madd(re, v0, a0);
        c0 = madd(rf, v0, c0);
        a1 = madd(re, v1, a1);
        c1 = madd(rf, v1, c1);
        a2 = madd(re, v2, a2);
        c2 = madd(rf, v2, c2);
        a3 = madd(re, v3, a3);
        c3 = madd(rf, v3, c3);
        w += expertBytes;
      }
      const d = dst + <usize> (first + 2 * i) * dstStride + (<usize> (k * MR) << 2);
      storeTransposed(d, a0, a1, a2, a3);
      storeTransposed(d + dstStride, c0, c1, c2, c3);
    }
    for (let i = first + 2 * pairs; i < nb; i++) {
      const rb = at(r, (b0 + i) * E);
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      let w = w0 + (<usize> k << 2);
      for (let e = 0; e < E; e++) {
        const re = v128.load32_splat(at(rb, e));
        a0 = madd(re, v128.load(w), a0);
        if (rows > 1) a1 = madd(re, v128.load(w + rowBytes), a1);
        if (rows > 2) a2 = madd(re, v128.load(w + 2 * rowBytes), a2);
        if (rows > 3) a3 = madd(re, v128.load(w + 3 * rowBytes), a3);
        w += expertBytes;
      }
      storeTransposed(dst + <usize> i * dstStride + (<usize> (k * MR) << 2), a0, a1, a2, a3);
    }
  }
  for (; k < K; k++) {
    for (let i = 0; i < nb; i++) {
      const rb = at(r, (b0 + i) * E);
      const d = dst + <usize> i * dstStride + (<usize> (k * MR) << 2);
      for (let q = 0; q < MR; q++) {
        let sum: f32 = 0;
        if (q < rows) {
          for (let e = 0; e < E; e++) {
            sum += load<f32>(at(rb, e)) *
              load<f32>(w0 + <usize> e * expertBytes + <usize> q * rowBytes + (<usize> k << 2));
          }
        }
        store<f32>(at(d, q), sum);
      }
    }
  }
}

/**
 * Mixes `count` consecutive floats of every expert from float `from` for examples
 * `0 .. nb` into `dst + i * dstStride` (depthwise taps).
 */
function mixFlat(
  plan: usize,
  r: usize,
  nb: i32,
  from: i32,
  count: i32,
  dst: usize,
  dstStride: usize,
): void {
  const E = word(plan, P_E);
  const expertBytes = <usize> (word(plan, P_O) * word(plan, P_K)) << 2;
  const w0 = at(ptr(plan, P_EXPERTS_PTR), from);
  for (let i = 0; i < nb; i++) {
    const rb = at(r, i * E), d = dst + <usize> i * dstStride;
    let j = 0;
    for (; j + 4 <= count; j += 4) {
      let a = f32x4.splat(0);
      let w = at(w0, j);
      for (let e = 0; e < E; e++) {
        a = madd(v128.load32_splat(at(rb, e)), v128.load(w), a);
        w += expertBytes;
      }
      v128.store(at(d, j), a);
    }
    for (; j < count; j++) {
      let sum: f32 = 0;
      for (let e = 0; e < E; e++) {
        sum += load<f32>(at(rb, e)) * load<f32>(w0 + <usize> e * expertBytes + (<usize> j << 2));
      }
      store<f32>(at(d, j), sum);
    }
  }
}

// ---------------------------------------------------------------------------------------
// The GEMM micro-kernel

/**
 * A full `MR x NR` tile: `A` `[K][MR]`, `B` `[K][NR]`, the 4 x 8 outputs to `y` (row stride
 * `ldy` bytes), started from the 4 biases at `bias`. Per k: one A vector (the 4 rows, each
 * broadcast by a lane shuffle), two B vectors, eight fused multiply-adds.
 */
function kernel4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize, bias: usize): void {
  const v = v128.load(bias);
  let c00 = v128.shuffle<f32>(v, v, 0, 0, 0, 0), c01 = c00;
  let c10 = v128.shuffle<f32>(v, v, 1, 1, 1, 1), c11 = c10;
  let c20 = v128.shuffle<f32>(v, v, 2, 2, 2, 2), c21 = c20;
  let c30 = v128.shuffle<f32>(v, v, 3, 3, 3, 3), c31 = c30;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16), av = v128.load(a);
    let s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = madd(s, b0, c00);
    c01 = madd(s, b1, c01);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = madd(s, b0, c10);
    c11 = madd(s, b1, c11);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = madd(s, b0, c20);
    c21 = madd(s, b1, c21);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = madd(s, b0, c30);
    c31 = madd(s, b1, c31);
    a += 16;
    b += 32;
  }
  // The stores are unrolled on purpose, one per accumulator register: a loop over an array of
  // v128 values would spill the 8 accumulators to memory.
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** A `MR x 4` tile: the first B vector of each k only (a column panel with 4 or fewer left). */
function kernel4x4(a: usize, b: usize, K: i32, y: usize, ldy: usize, bias: usize): void {
  const v = v128.load(bias);
  let c0 = v128.shuffle<f32>(v, v, 0, 0, 0, 0), c1 = v128.shuffle<f32>(v, v, 1, 1, 1, 1);
  let c2 = v128.shuffle<f32>(v, v, 2, 2, 2, 2), c3 = v128.shuffle<f32>(v, v, 3, 3, 3, 3);
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), av = v128.load(a);
    c0 = madd(v128.shuffle<f32>(av, av, 0, 0, 0, 0), b0, c0);
    c1 = madd(v128.shuffle<f32>(av, av, 1, 1, 1, 1), b0, c1);
    c2 = madd(v128.shuffle<f32>(av, av, 2, 2, 2, 2), b0, c2);
    c3 = madd(v128.shuffle<f32>(av, av, 3, 3, 3, 3), b0, c3);
    a += 16;
    b += 32;
  }
  v128.store(y, c0);
  v128.store(y + ldy, c1);
  v128.store(y + 2 * ldy, c2);
  v128.store(y + 3 * ldy, c3);
}

/**
 * One `MR x NR` tile of which `rows` x `cols` are valid (see `kernel4x8`): a full tile is
 * stored in place, an edge tile through the worker's tile buffer `tmp` (`MR x NR` floats).
 */
function tile(
  a: usize,
  b: usize,
  K: i32,
  y: usize,
  ldy: usize,
  bias: usize,
  rows: i32,
  cols: i32,
  tmp: usize,
): void {
  if (rows == MR && cols == NR) {
    kernel4x8(a, b, K, y, ldy, bias);
    return;
  }
  if (cols <= 4) kernel4x4(a, b, K, tmp, NR << 2, bias);
  else kernel4x8(a, b, K, tmp, NR << 2, bias);
  for (let q = 0; q < rows; q++) {
    memory.copy(y + <usize> q * ldy, tmp + (<usize> (q * NR) << 2), <usize> cols << 2);
  }
}

// ---------------------------------------------------------------------------------------
// Phase two

/** Pointwise unit: row panels `unit * size ..` for every example of the job. */
function pointwise(plan: usize, unit: i32, worker: i32): void {
  const batch = word(plan, P_BATCH), K = word(plan, P_K), C = word(plan, P_C);
  const Og = word(plan, P_OG), O = word(plan, P_O), rowPanels = word(plan, P_ROW_PANELS);
  const size = word(plan, P_UNIT_SIZE), total = word(plan, P_GROUPS) * rowPanels;
  const p0 = unit * size, p1 = min(total, p0 + size), n = p1 - p0;
  const s = scratch(plan, worker), r = s + ptr(plan, P_S_ROUTING);
  const mixed = s + ptr(plan, P_S_MIXED), biases = s + ptr(plan, P_S_BIAS);
  const tmp = s + ptr(plan, P_S_TILE), stage = s + ptr(plan, P_S_STAGE);
  const panelBytes = <usize> (K * MR) << 2, exampleBytes = <usize> n * panelBytes;
  for (let p = p0; p < p1; p++) {
    const g = p / rowPanels, o0 = g * Og + (p % rowPanels) * MR;
    const rows = min(MR, (g + 1) * Og - o0);
    const dst = mixed + <usize> (p - p0) * panelBytes;
    mixPanel(plan, r, 0, batch, o0, rows, dst, exampleBytes, stage);
    for (let b = 0; b < batch; b++) {
      for (let q = 0; q < MR; q++) {
        store<f32>(
          at(biases, (b * n + p - p0) * MR + q),
          q < rows ? biasOf(plan, r, b, o0 + q) : 0,
        );
      }
    }
  }
  const HW = word(plan, P_OH) * word(plan, P_OW), colPanels = word(plan, P_COL_PANELS);
  const bPanelBytes = <usize> (C * NR) << 2, ldy = <usize> HW << 2;
  const packed = ptr(plan, P_PACKED_PTR), output = ptr(plan, P_OUTPUT_PTR);
  for (let b = 0; b < batch; b++) {
    const bBase = packed + <usize> b * <usize> colPanels * bPanelBytes;
    for (let jp = 0; jp < colPanels; jp++) {
      const cols = min(NR, HW - jp * NR);
      for (let p = p0; p < p1; p++) {
        const g = p / rowPanels, o0 = g * Og + (p % rowPanels) * MR;
        tile(
          mixed + <usize> b * exampleBytes + <usize> (p - p0) * panelBytes,
          bBase + <usize> jp * bPanelBytes + (<usize> (g * K * NR) << 2),
          K,
          at(output, (b * O + o0) * HW + jp * NR),
          ldy,
          at(biases, (b * n + p - p0) * MR),
          min(MR, (g + 1) * Og - o0),
          cols,
          tmp,
        );
      }
    }
  }
}

/**
 * The padded plane of input channel `c` of example `b` into `stride` column phases at `work`:
 * phase q, row y, column x holds padded (y, x * stride + q). With zero padding only the
 * interior is written (`zeroed` says the border is zero already).
 */
function loadPlane(plan: usize, work: usize, b: i32, c: i32, zeroed: bool): void {
  const H = word(plan, P_H), W = word(plan, P_W), Hp = word(plan, P_HP), Wp = word(plan, P_WP);
  const sw = word(plan, P_SW), pw = word(plan, P_PHASE_WIDTH);
  const src = at(ptr(plan, P_INPUT_PTR), (b * word(plan, P_C) + c) * H * W);
  if (zeroed) {
    const top = word(plan, P_PAD_TOP), left = word(plan, P_PAD_LEFT);
    for (let i = 0; i < H; i++) {
      const row = at(src, i * W);
      if (sw == 1) {
        memory.copy(at(work, (top + i) * pw + left), row, <usize> W << 2);
        continue;
      }
      let j = 0;
      if (sw == 2) {
        // even input columns to one phase, odd to the other, 8 columns a step
        const even = at(work, ((left & 1) * Hp + top + i) * pw + (left >> 1));
        const odd = at(work, (((left + 1) & 1) * Hp + top + i) * pw + ((left + 1) >> 1));
        for (; j + 8 <= W; j += 8) {
          const v0 = v128.load(at(row, j)), v1 = v128.load(at(row, j + 4));
          v128.store(at(even, j >> 1), v128.shuffle<f32>(v0, v1, 0, 2, 4, 6));
          v128.store(at(odd, j >> 1), v128.shuffle<f32>(v0, v1, 1, 3, 5, 7));
        }
      }
      for (; j < W; j++) {
        const pc = j + left, q = pc % sw;
        store<f32>(at(work, (q * Hp + top + i) * pw + pc / sw), load<f32>(at(row, j)));
      }
    }
    return;
  }
  const rowMap = ptr(plan, P_ROWMAP_PTR), colMap = ptr(plan, P_COLMAP_PTR);
  for (let q = 0; q < sw; q++) {
    for (let y = 0; y < Hp; y++) {
      const sr = load<i32>(at(rowMap, y));
      const d = at(work, (q * Hp + y) * pw);
      for (let x = 0; x < pw; x++) {
        const pc = x * sw + q;
        const sc = pc < Wp ? load<i32>(at(colMap, pc)) : -1;
        store<f32>(at(d, x), sr < 0 || sc < 0 ? 0 : load<f32>(at(src, sr * W + sc)));
      }
    }
  }
}

/** Offset in floats of tap column `v` (phase and shift) within the phase planes. */
function tapOffset(v: i32, dw: i32, sw: i32, phaseFloats: i32): i32 {
  const x = v * dw;
  return (x % sw) * phaseFloats + x / sw;
}

/** Mixed tap `i` of the kernel at `k`, in all four lanes. */
function tap(k: usize, i: i32): v128 {
  return v128.load32_splat(at(k, i));
}

/**
 * `acc` plus one row of three taps: `k_v * p[f_v .. f_v + 4]` (offsets in floats). A multiply
 * then an add, not a fused multiply-add: each sum waits only for the add (measured: the fused
 * form made the 5x5 layers 1.2 to 1.5x slower, and 1.1x with four sums instead of two).
 */
function taps3(acc: v128, p: usize, f0: i32, f1: i32, f2: i32, k0: v128, k1: v128, k2: v128): v128 {
  acc = f32x4.add(acc, f32x4.mul(k0, v128.load(at(p, f0))));
  acc = f32x4.add(acc, f32x4.mul(k1, v128.load(at(p, f1))));
  return f32x4.add(acc, f32x4.mul(k2, v128.load(at(p, f2))));
}

/** `acc` plus one row of five taps (see `taps3`). */
function taps5(
  acc: v128,
  p: usize,
  f0: i32,
  f1: i32,
  f2: i32,
  f3: i32,
  f4: i32,
  k0: v128,
  k1: v128,
  k2: v128,
  k3: v128,
  k4: v128,
): v128 {
  acc = taps3(acc, p, f0, f1, f2, k0, k1, k2);
  acc = f32x4.add(acc, f32x4.mul(k3, v128.load(at(p, f3))));
  return f32x4.add(acc, f32x4.mul(k4, v128.load(at(p, f4))));
}

/** A 5x5 depthwise plane, dilation 1, any stride: taps in locals, 8 outputs a step. */
function depthwise5(plan: usize, work: usize, k: usize, y: usize, bias: f32): void {
  const OH = word(plan, P_OH), OW = word(plan, P_OW), sh = word(plan, P_SH), sw = word(plan, P_SW);
  const pw = word(plan, P_PHASE_WIDTH), phase = word(plan, P_HP) * pw;
  const f0 = tapOffset(0, 1, sw, phase), f1 = tapOffset(1, 1, sw, phase);
  const f2 = tapOffset(2, 1, sw, phase), f3 = tapOffset(3, 1, sw, phase);
  const f4 = tapOffset(4, 1, sw, phase);
  const k00 = tap(k, 0), k01 = tap(k, 1), k02 = tap(k, 2), k03 = tap(k, 3), k04 = tap(k, 4);
  const k10 = tap(k, 5), k11 = tap(k, 6), k12 = tap(k, 7), k13 = tap(k, 8), k14 = tap(k, 9);
  const k20 = tap(k, 10), k21 = tap(k, 11), k22 = tap(k, 12), k23 = tap(k, 13), k24 = tap(k, 14);
  const k30 = tap(k, 15), k31 = tap(k, 16), k32 = tap(k, 17), k33 = tap(k, 18), k34 = tap(k, 19);
  const k40 = tap(k, 20), k41 = tap(k, 21), k42 = tap(k, 22), k43 = tap(k, 23), k44 = tap(k, 24);
  const vb = f32x4.splat(bias), rowBytes = <usize> pw << 2;
  for (let i = 0; i < OH; i++) {
    for (let j = 0; j < OW; j += 8) {
      const p = at(work, i * sh * pw + j);
      const p1 = p + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes, p4 = p3 + rowBytes;
      let a = taps5(vb, p, f0, f1, f2, f3, f4, k00, k01, k02, k03, k04);
      let c = taps5(vb, p + 16, f0, f1, f2, f3, f4, k00, k01, k02, k03, k04);
      a = taps5(a, p1, f0, f1, f2, f3, f4, k10, k11, k12, k13, k14);
      c = taps5(c, p1 + 16, f0, f1, f2, f3, f4, k10, k11, k12, k13, k14);
      a = taps5(a, p2, f0, f1, f2, f3, f4, k20, k21, k22, k23, k24);
      c = taps5(c, p2 + 16, f0, f1, f2, f3, f4, k20, k21, k22, k23, k24);
      a = taps5(a, p3, f0, f1, f2, f3, f4, k30, k31, k32, k33, k34);
      c = taps5(c, p3 + 16, f0, f1, f2, f3, f4, k30, k31, k32, k33, k34);
      a = taps5(a, p4, f0, f1, f2, f3, f4, k40, k41, k42, k43, k44);
      c = taps5(c, p4 + 16, f0, f1, f2, f3, f4, k40, k41, k42, k43, k44);
      const d = at(y, i * OW + j);
      storeLanes(d, a, OW - j);
      storeLanes(d + 16, c, OW - j - 4);
    }
  }
}

/** A 3x3 depthwise plane, dilation 1, any stride (see `depthwise5`). */
function depthwise3(plan: usize, work: usize, k: usize, y: usize, bias: f32): void {
  const OH = word(plan, P_OH), OW = word(plan, P_OW), sh = word(plan, P_SH), sw = word(plan, P_SW);
  const pw = word(plan, P_PHASE_WIDTH), phase = word(plan, P_HP) * pw;
  const f0 = tapOffset(0, 1, sw, phase), f1 = tapOffset(1, 1, sw, phase);
  const f2 = tapOffset(2, 1, sw, phase);
  const k00 = tap(k, 0), k01 = tap(k, 1), k02 = tap(k, 2);
  const k10 = tap(k, 3), k11 = tap(k, 4), k12 = tap(k, 5);
  const k20 = tap(k, 6), k21 = tap(k, 7), k22 = tap(k, 8);
  const vb = f32x4.splat(bias), rowBytes = <usize> pw << 2;
  for (let i = 0; i < OH; i++) {
    for (let j = 0; j < OW; j += 8) {
      const p = at(work, i * sh * pw + j), p1 = p + rowBytes, p2 = p1 + rowBytes;
      let a = taps3(vb, p, f0, f1, f2, k00, k01, k02);
      let c = taps3(vb, p + 16, f0, f1, f2, k00, k01, k02);
      a = taps3(a, p1, f0, f1, f2, k10, k11, k12);
      c = taps3(c, p1 + 16, f0, f1, f2, k10, k11, k12);
      a = taps3(a, p2, f0, f1, f2, k20, k21, k22);
      c = taps3(c, p2 + 16, f0, f1, f2, k20, k21, k22);
      const d = at(y, i * OW + j);
      storeLanes(d, a, OW - j);
      storeLanes(d + 16, c, OW - j - 4);
    }
  }
}

/** Any depthwise kernel, stride and dilation: taps splatted as they are used. */
function depthwiseAny(plan: usize, work: usize, k: usize, y: usize, bias: f32): void {
  const OH = word(plan, P_OH), OW = word(plan, P_OW), sh = word(plan, P_SH), sw = word(plan, P_SW);
  const kh = word(plan, P_KH), kw = word(plan, P_KW), dh = word(plan, P_DH), dw = word(plan, P_DW);
  const pw = word(plan, P_PHASE_WIDTH), phase = word(plan, P_HP) * pw;
  const vb = f32x4.splat(bias);
  for (let i = 0; i < OH; i++) {
    for (let j = 0; j < OW; j += 8) {
      let a = vb, c = vb;
      for (let u = 0; u < kh; u++) {
        const p = at(work, (i * sh + u * dh) * pw + j);
        for (let v = 0; v < kw; v++) {
          const t = v128.load32_splat(at(k, u * kw + v));
          const f = tapOffset(v, dw, sw, phase);
          a = f32x4.add(a, f32x4.mul(t, v128.load(at(p, f))));
          c = f32x4.add(c, f32x4.mul(t, v128.load(at(p, f + 4))));
        }
      }
      const d = at(y, i * OW + j);
      storeLanes(d, a, OW - j);
      storeLanes(d + 16, c, OW - j - 4);
    }
  }
}

/** Depthwise unit: output channels `unit * size ..` for every example of the job. */
function depthwise(plan: usize, unit: i32, worker: i32): void {
  const batch = word(plan, P_BATCH), O = word(plan, P_O), Og = word(plan, P_OG);
  const size = word(plan, P_UNIT_SIZE), kk = word(plan, P_K);
  const o0 = unit * size, o1 = min(O, o0 + size), n = o1 - o0;
  const s = scratch(plan, worker), r = s + ptr(plan, P_S_ROUTING);
  const mixed = s + ptr(plan, P_S_MIXED), work = s + ptr(plan, P_S_WORK);
  const exampleBytes = <usize> (n * kk) << 2;
  mixFlat(plan, r, batch, o0 * kk, n * kk, mixed, exampleBytes);
  const zeroed = word(plan, P_PAD_MODE) == 0;
  if (zeroed) {
    const floats = word(plan, P_SW) * word(plan, P_HP) * word(plan, P_PHASE_WIDTH);
    memory.fill(work, 0, <usize> floats << 2);
  }
  const kh = word(plan, P_KH), kw = word(plan, P_KW);
  const unit1 = word(plan, P_DH) == 1 && word(plan, P_DW) == 1 && kh == kw;
  const HW = word(plan, P_OH) * word(plan, P_OW), output = ptr(plan, P_OUTPUT_PTR);
  for (let b = 0; b < batch; b++) {
    let loaded = -1;
    for (let o = o0; o < o1; o++) {
      const c = o / Og;
      if (c != loaded) {
        loadPlane(plan, work, b, c, zeroed);
        loaded = c;
      }
      const k = mixed + <usize> b * exampleBytes + (<usize> ((o - o0) * kk) << 2);
      const y = at(output, (b * O + o) * HW), bias = biasOf(plan, r, b, o);
      if (unit1 && kh == 5) depthwise5(plan, work, k, y, bias);
      else if (unit1 && kh == 3) depthwise3(plan, work, k, y, bias);
      else depthwiseAny(plan, work, k, y, bias);
    }
  }
}

/** General path: im2col of column panels `jp0 .. jp0 + n` of group `g`, example `b`. */
function im2col(plan: usize, work: usize, b: i32, g: i32, jp0: i32, n: i32): void {
  const C = word(plan, P_C), H = word(plan, P_H), W = word(plan, P_W), Cg = word(plan, P_CG);
  const kh = word(plan, P_KH), kw = word(plan, P_KW), K = word(plan, P_K);
  const sh = word(plan, P_SH), sw = word(plan, P_SW), dh = word(plan, P_DH), dw = word(plan, P_DW);
  const OW = word(plan, P_OW), HW = word(plan, P_OH) * OW;
  const rowMap = ptr(plan, P_ROWMAP_PTR), colMap = ptr(plan, P_COLMAP_PTR);
  const src = at(ptr(plan, P_INPUT_PTR), (b * C + g * Cg) * H * W);
  for (let jp = 0; jp < n; jp++) {
    const panel = at(work, jp * K * NR);
    for (let t = 0; t < NR; t++) {
      const px = (jp0 + jp) * NR + t;
      let d = at(panel, t);
      if (px >= HW) {
        for (let k = 0; k < K; k++) {
          store<f32>(d, 0);
          d += NR << 2;
        }
        continue;
      }
      const y0 = (px / OW) * sh, x0 = (px % OW) * sw;
      for (let c = 0; c < Cg; c++) {
        const plane = at(src, c * H * W);
        for (let u = 0; u < kh; u++) {
          const sr = load<i32>(at(rowMap, y0 + u * dh));
          for (let v = 0; v < kw; v++) {
            const sc = load<i32>(at(colMap, x0 + v * dw));
            store<f32>(d, sr < 0 || sc < 0 ? 0 : load<f32>(at(plane, sr * W + sc)));
            d += NR << 2;
          }
        }
      }
    }
  }
}

/** General unit: example, group and a block of column panels. */
function general(plan: usize, unit: i32, worker: i32): void {
  const groups = word(plan, P_GROUPS), K = word(plan, P_K), O = word(plan, P_O);
  const Og = word(plan, P_OG), rowPanels = word(plan, P_ROW_PANELS);
  const colPanels = word(plan, P_COL_PANELS), size = word(plan, P_UNIT_SIZE);
  const chunks = (colPanels + size - 1) / size;
  const b = unit / (groups * chunks), g = (unit / chunks) % groups;
  const jp0 = (unit % chunks) * size, n = min(size, colPanels - jp0);
  const s = scratch(plan, worker), r = s + ptr(plan, P_S_ROUTING);
  const mixed = s + ptr(plan, P_S_MIXED), biases = s + ptr(plan, P_S_BIAS);
  const work = s + ptr(plan, P_S_WORK), panelBytes = <usize> (K * MR) << 2;
  const tmp = s + ptr(plan, P_S_TILE), stage = s + ptr(plan, P_S_STAGE);
  const key = b * groups + g;
  if (load<i32>(s) != key) {
    for (let p = 0; p < rowPanels; p++) {
      const o0 = g * Og + p * MR, rows = min(MR, (g + 1) * Og - o0);
      mixPanel(plan, r, b, 1, o0, rows, mixed + <usize> p * panelBytes, 0, stage);
      for (let q = 0; q < MR; q++) {
        store<f32>(at(biases, p * MR + q), q < rows ? biasOf(plan, r, b, o0 + q) : 0);
      }
    }
    store<i32>(s, key);
  }
  im2col(plan, work, b, g, jp0, n);
  const HW = word(plan, P_OH) * word(plan, P_OW), output = ptr(plan, P_OUTPUT_PTR);
  for (let jp = 0; jp < n; jp++) {
    const j = (jp0 + jp) * NR, cols = min(NR, HW - j);
    for (let p = 0; p < rowPanels; p++) {
      const o0 = g * Og + p * MR;
      tile(
        mixed + <usize> p * panelBytes,
        at(work, jp * K * NR),
        K,
        at(output, (b * O + o0) * HW + j),
        <usize> HW << 2,
        at(biases, p * MR),
        min(MR, (g + 1) * Og - o0),
        cols,
        tmp,
      );
    }
  }
}

/** Phase two unit: mixing and convolution (see the module doc for what a unit is). */
export function phaseTwo(plan: usize, unit: i32, worker: i32): void {
  const path = word(plan, P_PATH);
  if (path == 0) pointwise(plan, unit, worker);
  else if (path == 1) depthwise(plan, unit, worker);
  else general(plan, unit, worker);
}

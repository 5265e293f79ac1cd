/**
 * The `conv` stage as a tiled GEMM: per example and group, `Y[M x N] = K[M x KD] * B[KD x N]`
 * plus bias, with `M` output channels per group, `N` output pixels and `KD` the reduction.
 * - `"gemm-1x1"` (1x1 kernel, stride 1, no padding): row `k` of `B` is input plane `k`;
 * - `"general"`: `B` is the implicit im2col matrix, gathered with the padding mapping.
 *
 * Compiled once per path (its tile is {@link GEMM_TILES}); every size, the padding mode and
 * the bias kind are parameters.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import {
  BIAS_WGSL,
  CONV_ROLES,
  convBindings,
  geometryParams,
  sourceIndexWgsl,
} from "./conv_common.ts";
import { paramsWgsl, type StagePlan, tiledEntryWgsl, u32Params } from "./stage.ts";

/** A GEMM tile: `TM x TN` outputs per workgroup, `TK` of the reduction per step. */
export interface GemmTile {
  TM: number;
  TN: number;
  TK: number;
  /** rows of each invocation's register tile (of 4 columns) */
  RM: number;
  threads: number;
}

/**
 * The GEMM tile of each path, one per path whatever the layer's size, so that one pipeline
 * serves every layer (each extra tile was one more compile of about a second on llvmpipe).
 * Each invocation holds an `RM x 4` register tile; rows and columns move as `vec4<f32>`
 * through workgroup memory, which on llvmpipe (scripts/wgsl_timing.ts) ran about twice as fast
 * as scalar tiles, and `RM = 8` over `4` gained as much again. 1x1 layers (EfficientNet's
 * expand and project, with 112 to 1152 output channels) take 64 rows; the general path, whose
 * layers are mostly narrower, 32.
 */
export const GEMM_TILES: Record<"gemm-1x1" | "general", GemmTile> = {
  "gemm-1x1": { TM: 64, TN: 32, TK: 16, RM: 8, threads: 64 },
  general: { TM: 32, TN: 32, TK: 16, RM: 8, threads: 32 },
};

const LOAD_1X1 = `// 1x1, stride 1, no padding: row k of B is input plane k of the group
fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.KD) { return 0.0; }
  return xin[(b * P.C + g * P.CPG + k) * P.N + n];
}`;

const LOAD_GENERAL = `// implicit im2col: B[k, n] = xp[c, i * SH + u * DH, j * SW + v * DW]
${sourceIndexWgsl("srcY", "H")}
${sourceIndexWgsl("srcX", "W")}
fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.KD) { return 0.0; }
  let taps = P.KH * P.KW;
  let c = k / taps;
  let r = k - c * taps;
  let ku = r / P.KW;
  let kv = r - ku * P.KW;
  let oi = n / P.OW;
  let oj = n - oi * P.OW;
  let y = srcY(i32(oi * P.SH + ku * P.DH) - P.PT);
  let x = srcX(i32(oj * P.SW + kv * P.DW) - P.PL);
  if (y < 0i || x < 0i) { return 0.0; }
  return xin[((b * P.C + g * P.CPG + c) * P.H + u32(y)) * P.W + u32(x)];
}`;

/**
 * WGSL that fills the `B` tile for rows `k0..k0+TK` and columns `n0..n0+TN`, and the `bv`
 * read of the inner loop. 1x1 layers load four columns as a `vec4`; the general path loads
 * one element per step, so its `loadB` (a gather through the padding mapping) is written
 * once, not four times: on llvmpipe that compiled in a third of the time.
 */
function tileB(path: "gemm-1x1" | "general", TK: number, TN: number) {
  if (path === "gemm-1x1") {
    return {
      declare: `var<workgroup> Bs: array<vec4f, ${(TK * TN) / 4}>;`,
      load: `    for (var t = lid; t < TK * TN / 4u; t = t + THREADS) {
      let kk = t / (TN / 4u);
      let n = n0 + (t - kk * (TN / 4u)) * 4u;
      let k = k0 + kk;
      Bs[t] = vec4f(loadB(b, g, k, n), loadB(b, g, k, n + 1u), loadB(b, g, k, n + 2u),
        loadB(b, g, k, n + 3u));
    }`,
      read: `      let bv = Bs[kk * (TN / 4u) + tx];`,
    };
  }
  return {
    declare: `var<workgroup> Bs: array<f32, ${TK * TN}>;`,
    load: `    for (var t = lid; t < TK * TN; t = t + THREADS) {
      let kk = t / TN;
      Bs[t] = loadB(b, g, k0 + kk, n0 + t - kk * TN);
    }`,
    read: `      let bi = kk * TN + tx * 4u;
      let bv = vec4f(Bs[bi], Bs[bi + 1u], Bs[bi + 2u], Bs[bi + 3u]);`,
  };
}

function gemmParams(
  spec: CondConvSpec,
  g: Geometry,
  mixedStride: number,
  tilesM: number,
  tilesN: number,
) {
  return [
    ...geometryParams(spec, g, mixedStride),
    ...u32Params({
      KH: g.kernelHeight,
      KW: g.kernelWidth,
      SH: g.strideHeight,
      SW: g.strideWidth,
      DH: g.dilationHeight,
      DW: g.dilationWidth,
      M: g.outChannelsPerGroup,
      N: g.outHeight * g.outWidth,
      KD: g.channelsPerGroup * g.kernelHeight * g.kernelWidth,
      GROUPS: g.groups,
      TILES_M: tilesM,
      TILES_N: tilesN,
      TOTAL: g.batch * g.groups * tilesM * tilesN,
    }),
  ];
}

/** The conv stage of `spec` on `g` as a GEMM, with its tile and workgroup memory. */
export function gemmStage(
  spec: CondConvSpec,
  g: Geometry,
  path: "gemm-1x1" | "general",
  mixedStride: number,
) {
  const M = g.outChannelsPerGroup;
  const N = g.outHeight * g.outWidth;
  const { TM, TN, TK, RM, threads } = GEMM_TILES[path];
  const tilesM = Math.ceil(M / TM), tilesN = Math.ceil(N / TN);
  const params = gemmParams(spec, g, mixedStride, tilesM, tilesN);
  const B = tileB(path, TK, TN);
  const rowUpdates = [0, 1, 2, 3].map((lane) =>
    `        acc[q * 4u + ${lane}u] = acc[q * 4u + ${lane}u] + a.${"xyzw"[lane]} * bv;`
  ).join("\n");
  const code = `// conv (${path}): per example and group, Y[M x N] = K[M x KD] * B[KD x N] + bias
${convBindings()}
${paramsWgsl(CONV_ROLES.length, params)}
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
const TK: u32 = ${TK}u;
const RM: u32 = ${RM}u;
const THREADS: u32 = ${threads}u;
// As[k][m / 4]: rows m..m+3 of column k of K_b; Bs[k][n / 4]: columns n..n+3 of row k of B
var<workgroup> As: array<vec4f, ${(TK * TM) / 4}>;
${B.declare}

${BIAS_WGSL}
${path === "gemm-1x1" ? LOAD_1X1 : LOAD_GENERAL}
fn loadA(row: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.KD) { return 0.0; }
  return kmix[row + m * P.KD + k];
}

${tiledEntryWgsl(threads, [["tn", "TILES_N"], ["tm", "TILES_M"], ["g", "GROUPS"]], "b")}
  let m0 = tm * TM;
  let n0 = tn * TN;
  let tx = lid % (TN / 4u);
  let ty = lid / (TN / 4u);
  // K_b of this group starts at row g * M: rows are KD floats long
  let kRow = b * P.L + g * P.M * P.KD;
  var acc = array<vec4f, ${RM}>();
  for (var k0 = 0u; k0 < P.KD; k0 = k0 + TK) {
    for (var t = lid; t < TK * TM / 4u; t = t + THREADS) {
      let mq = t / TK;
      let kk = t - mq * TK;
      let m = m0 + mq * 4u;
      let k = k0 + kk;
      As[kk * (TM / 4u) + mq] = vec4f(
        loadA(kRow, m, k), loadA(kRow, m + 1u, k), loadA(kRow, m + 2u, k), loadA(kRow, m + 3u, k),
      );
    }
${B.load}
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
${B.read}
      for (var q = 0u; q < RM / 4u; q = q + 1u) {
        let a = As[kk * (TM / 4u) + ty * (RM / 4u) + q];
${rowUpdates}
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < RM; r = r + 1u) {
    let m = m0 + ty * RM + r;
    if (m >= P.M) { break; }
    let o = g * P.M + m;
    let bo = biasOf(b, o);
    for (var s = 0u; s < 4u; s = s + 1u) {
      let n = n0 + tx * 4u + s;
      if (n < P.N) { yout[(b * P.O + o) * P.N + n] = acc[r][s] + bo; }
    }
  }
}
`;
  const stage: StagePlan = {
    name: "conv",
    code,
    bindings: CONV_ROLES,
    params,
    workgroups: g.batch * g.groups * tilesM * tilesN,
  };
  return { stage, workgroupBytes: 4 * TK * (TM + TN), tile: [TM, TN] as [number, number], threads };
}

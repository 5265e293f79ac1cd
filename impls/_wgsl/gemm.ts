/**
 * The `conv` stage as a tiled GEMM: per example and group, `Y[M x N] = K[M x KD] * B[KD x N]`
 * plus bias, with `M` output channels per group, `N` output pixels and `KD` the reduction.
 * - `"gemm-1x1"` (1x1 kernel, stride 1, no padding): row `k` of `B` is input plane `k`;
 * - `"general"`: `B` is the implicit im2col matrix, gathered with the padding mapping.
 *
 * Compiled per path, padding mode, bias kind and tile ({@link gemmTile}); every size is a
 * parameter.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { biasWgsl, convBindings, geometryParams, sourceIndexWgsl } from "./conv_common.ts";
import {
  type BufferRole,
  ENTRY_ARGS,
  FLAT_ID,
  type ParamField,
  paramsWgsl,
  type StagePlan,
} from "./stage.ts";

/**
 * The GEMM tile for `M` rows (output channels per group) and `N` columns (output pixels):
 * `TM x TN` outputs per workgroup, `TK` of the reduction per step, each invocation holding an
 * `RM x 4` register tile. Rows and columns are moved as `vec4<f32>` through workgroup memory,
 * which on llvmpipe (measured with scripts/wgsl_timing.ts) ran about twice as fast as scalar
 * tiles; `RM = 8` over `4` gained as much again.
 */
export function gemmTile(M: number, N: number) {
  const TM = M <= 4 ? 4 : M <= 8 ? 8 : M <= 16 ? 16 : M <= 32 ? 32 : 64;
  const TN = N <= 16 ? 16 : 32;
  const RM = TM >= 16 ? 8 : 4, RN = 4, TK = 16;
  return { TM, TN, TK, RM, RN, threads: (TM / RM) * (TN / RN) };
}

const LOAD_1X1 = `// 1x1, stride 1, no padding: row k of B is input plane k of the group
fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
  if (n >= P.N || k >= P.KD) { return 0.0; }
  return xin[(b * P.C + g * P.CPG + k) * P.N + n];
}`;

function loadGeneral(mode: CondConvSpec["paddingMode"]): string {
  return `// implicit im2col: B[k, n] = xp[c, i * SH + u * DH, j * SW + v * DW]
${sourceIndexWgsl("srcY", "H", mode)}
${sourceIndexWgsl("srcX", "W", mode)}
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
}

function gemmParams(g: Geometry, mixedStride: number, tilesM: number, tilesN: number) {
  const fields: ParamField[] = [
    ...geometryParams(g, mixedStride),
    ["KH", "u32", g.kernelHeight],
    ["KW", "u32", g.kernelWidth],
    ["SH", "u32", g.strideHeight],
    ["SW", "u32", g.strideWidth],
    ["DH", "u32", g.dilationHeight],
    ["DW", "u32", g.dilationWidth],
    ["M", "u32", g.outChannelsPerGroup],
    ["N", "u32", g.outHeight * g.outWidth],
    ["KD", "u32", g.channelsPerGroup * g.kernelHeight * g.kernelWidth],
    ["GROUPS", "u32", g.groups],
    ["TILES_M", "u32", tilesM],
    ["TILES_N", "u32", tilesN],
    ["TOTAL", "u32", g.batch * g.groups * tilesM * tilesN],
  ];
  return fields;
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
  const { TM, TN, TK, RM, threads } = gemmTile(M, N);
  const tilesM = Math.ceil(M / TM), tilesN = Math.ceil(N / TN);
  const params = gemmParams(g, mixedStride, tilesM, tilesN);
  const bias = biasWgsl(spec);
  const roles: BufferRole[] = ["input", "mixed", ...bias.roles, "output"];
  const rowUpdates = [0, 1, 2, 3].map((lane) =>
    `        acc[q * 4u + ${lane}u] = acc[q * 4u + ${lane}u] + a.${"xyzw"[lane]} * bv;`
  ).join("\n");
  const code = `// conv (${path}): per example and group, Y[M x N] = K[M x KD] * B[KD x N] + bias
${convBindings(roles)}
${paramsWgsl(roles.length, params)}
const TM: u32 = ${TM}u;
const TN: u32 = ${TN}u;
const TK: u32 = ${TK}u;
const RM: u32 = ${RM}u;
const THREADS: u32 = ${threads}u;
// As[k][m / 4]: rows m..m+3 of column k of K_b; Bs[k][n / 4]: columns n..n+3 of row k of B
var<workgroup> As: array<vec4f, ${(TK * TM) / 4}>;
var<workgroup> Bs: array<vec4f, ${(TK * TN) / 4}>;

${bias.fn}
${path === "gemm-1x1" ? LOAD_1X1 : loadGeneral(spec.paddingMode)}
fn loadA(row: u32, m: u32, k: u32) -> f32 {
  if (m >= P.M || k >= P.KD) { return 0.0; }
  return kmix[row + m * P.KD + k];
}

@compute @workgroup_size(${threads})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  if (wid >= P.TOTAL) { return; }
  let tn = wid % P.TILES_N;
  var rest = wid / P.TILES_N;
  let tm = rest % P.TILES_M;
  rest = rest / P.TILES_M;
  let g = rest % P.GROUPS;
  let b = rest / P.GROUPS;
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
    for (var t = lid; t < TK * TN / 4u; t = t + THREADS) {
      let kk = t / (TN / 4u);
      let n = n0 + (t - kk * (TN / 4u)) * 4u;
      let k = k0 + kk;
      Bs[t] = vec4f(loadB(b, g, k, n), loadB(b, g, k, n + 1u), loadB(b, g, k, n + 2u),
        loadB(b, g, k, n + 3u));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let bv = Bs[kk * (TN / 4u) + tx];
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
    bindings: roles,
    params,
    workgroups: g.batch * g.groups * tilesM * tilesN,
  };
  return { stage, workgroupBytes: 4 * TK * (TM + TN), tile: [TM, TN] as [number, number], threads };
}

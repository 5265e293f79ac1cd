/**
 * The WGSL of the `wgsl` adapter, generated per layer and input shape, and the plan that says
 * which shaders run, over which buffers, with how many workgroups.
 *
 * Every size is baked into the shader as a `const`, so each pipeline is specialised for one
 * geometry (the compiler unrolls the small kernel loops and folds the index arithmetic). The
 * plan is pure data: no GPU is needed to build or test it.
 *
 * Stages, in the order they are dispatched (one compute pass each, one command buffer):
 * 1. `pool`: `pooled[b, c]` = mean of the plane `x[b, c]`: each plane summed by a few lanes
 *    of a workgroup and a tree reduction in workgroup memory, several small planes per
 *    workgroup (see {@link poolLanes}; computed routing only).
 * 2. `route`: `routing[b, e]` = activation(`fcWeight[e] . pooled[b] + fcBias[e]`), one
 *    workgroup per example (computed routing only; supplied routing is uploaded instead).
 * 3. `mix`: `mixed[b, k]` = `sum_e routing[b, e] * experts[e, k]`, one invocation per four
 *    elements (`vec4`) or per element. The experts buffer holds each expert's kernel followed,
 *    for a per-expert bias, by its bias, so the bias mix comes out of the same pass.
 * 4. `conv`: one of three convolutions (see {@link ConvPath}).
 *
 * Every stage is dispatched as a flat count of workgroups spread over `x` and `y` (see
 * {@link flatDispatch}), so no count runs into `maxComputeWorkgroupsPerDimension`.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";

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

/** The buffers a stage binds, by role; a stage binds its roles at bindings 0, 1, 2, ... */
export type BufferRole =
  | "input"
  | "pooled"
  | "routingParams"
  | "routing"
  | "experts"
  | "mixed"
  | "bias"
  | "output";

/** One compute dispatch: its WGSL, the buffers it binds and its flat workgroup count. */
export interface StagePlan {
  name: "pool" | "route" | "mix" | "conv";
  code: string;
  bindings: BufferRole[];
  /** workgroups in all, spread over x and y by {@link flatDispatch} */
  workgroups: number;
}

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

/** Invocations per workgroup of the reductions (`pool`, `route`); a power of two. */
export const REDUCE_WORKGROUP = 64;
/** Invocations per workgroup of `mix`. */
export const MIX_WORKGROUP = 256;
/** Most invocations along each side of a depthwise workgroup (each computes a small block). */
export const DEPTHWISE_MAX_TILE = 8;
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

const u = (n: number) => `${n}u`;
const i = (n: number) => `${n}i`;

/** A WGSL float literal of `x` (a finite number), never read back as an integer. */
export function floatLiteral(x: number): string {
  const text = String(x);
  return /[.eE]/.test(text) ? `${text}f` : `${text}.0f`;
}

/** WGSL of `fn name(p: i32) -> i32`: the input coordinate padded coordinate `p` reads, or -1. */
export function sourceIndexWgsl(name: string, size: number, mode: CondConvSpec["paddingMode"]) {
  // `p` is the padded coordinate minus the leading padding, as in reference.ts sourceIndex.
  // Only in-range coordinates come back: tiles that hang past the output read garbage
  // positions, which must still be safe to load.
  const inRange = `if (p >= 0i && p < ${i(size)}) { return p; }`;
  switch (mode) {
    case "zeros":
      return `fn ${name}(p: i32) -> i32 {\n  ${inRange}\n  return -1i;\n}`;
    case "replicate":
      return `fn ${name}(p: i32) -> i32 {\n  return clamp(p, 0i, ${i(size - 1)});\n}`;
    case "reflect":
      return `fn ${name}(p: i32) -> i32 {
  ${inRange}
  var q = ${i(2 * (size - 1))} - p;
  if (p < 0i) { q = -p; }
  if (q < 0i || q >= ${i(size)}) { return -1i; }
  return q;
}`;
    case "circular":
      return `fn ${name}(p: i32) -> i32 {\n  return ((p % ${i(size)}) + ${i(size)}) % ${
        i(size)
      };\n}`;
  }
}

const FLAT_ID = `  let wid = wg.x + wg.y * nwg.x;`;
const ENTRY_ARGS = `@builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,`;

function storage(binding: number, name: string, writable: boolean): string {
  const access = writable ? "read_write" : "read";
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<f32>;`;
}

/** WGSL of the workgroup tree reduction of `part` (size {@link REDUCE_WORKGROUP}). */
function reduceWgsl(): string {
  return `  workgroupBarrier();
  for (var stride = ${u(REDUCE_WORKGROUP / 2)}; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { part[lid] = part[lid] + part[lid + stride]; }
    workgroupBarrier();
  }`;
}

/**
 * Lanes that reduce one plane in `pool`: a power of two near an eighth of the plane, so a
 * workgroup of {@link REDUCE_WORKGROUP} pools `REDUCE_WORKGROUP / lanes` small planes at once
 * (7x7 planes: 8 lanes each, 8 planes a workgroup) and one large plane with all its lanes.
 */
export function poolLanes(plane: number): number {
  let lanes = 1;
  while (lanes < REDUCE_WORKGROUP && lanes * 8 < plane) lanes *= 2;
  return lanes;
}

function poolStage(g: Geometry): StagePlan {
  const plane = g.inHeight * g.inWidth;
  const planes = g.batch * g.inChannels;
  const lanes = poolLanes(plane);
  const perGroup = REDUCE_WORKGROUP / lanes;
  const code =
    `// pool: pooled[b, c] = mean of x[b, c, :, :]; ${lanes} lanes per plane, ${perGroup} planes
// per workgroup, a tree reduction in workgroup memory
${storage(0, "xin", false)}
${storage(1, "pooled", true)}
const PLANE: u32 = ${u(plane)};
const PLANES: u32 = ${u(planes)};
const LANES: u32 = ${u(lanes)};
const PER_GROUP: u32 = ${u(perGroup)};
var<workgroup> part: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  let p = wid * PER_GROUP + lid / LANES;
  let lane = lid % LANES;
  var sum = 0.0;
  if (p < PLANES) {
    for (var k = lane; k < PLANE; k = k + LANES) { sum = sum + xin[p * PLANE + k]; }
  }
  part[lid] = sum;
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride = stride >> 1u) {
    if (lane < stride) { part[lid] = part[lid] + part[lid + stride]; }
    workgroupBarrier();
  }
  if (lane == 0u && p < PLANES) { pooled[p] = part[lid] / f32(PLANE); }
}
`;
  return {
    name: "pool",
    code,
    bindings: ["input", "pooled"],
    workgroups: Math.ceil(planes / perGroup),
  };
}

function routeStage(spec: CondConvSpec, g: Geometry): StagePlan {
  const C = g.inChannels, E = g.numExperts;
  let activation: string;
  if (spec.routing.kind === "softmax") {
    // softmax(z / T), shifted by the largest logit as reference.ts does
    activation = `    let T = ${floatLiteral(spec.routing.temperature)};
    var top = routing[base] / T;
    for (var e = 1u; e < E; e = e + 1u) { top = max(top, routing[base + e] / T); }
    var total = 0.0;
    for (var e = 0u; e < E; e = e + 1u) {
      let v = exp(routing[base + e] / T - top);
      routing[base + e] = v;
      total = total + v;
    }
    for (var e = 0u; e < E; e = e + 1u) { routing[base + e] = routing[base + e] / total; }`;
  } else {
    // exp of a non-positive number only: no overflow, whatever the logit
    activation = `    for (var e = 0u; e < E; e = e + 1u) {
      let z = routing[base + e];
      let t = exp(-abs(z));
      routing[base + e] = select(t / (1.0 + t), 1.0 / (1.0 + t), z >= 0.0);
    }`;
  }
  const code = `// route: routing[b, e] = ${spec.routing.kind}(fcWeight[e] . pooled[b] + fcBias[e])
${storage(0, "pooled", false)}
${storage(1, "params", false)}
${storage(2, "routing", true)}
const C: u32 = ${u(C)};
const E: u32 = ${u(E)};
const TOTAL: u32 = ${u(g.batch)};
var<workgroup> part: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  if (wid >= TOTAL) { return; }
  let base = wid * E;
  for (var e = 0u; e < E; e = e + 1u) {
    var sum = 0.0;
    for (var c = lid; c < C; c = c + ${u(REDUCE_WORKGROUP)}) {
      sum = sum + params[e * C + c] * pooled[wid * C + c];
    }
    part[lid] = sum;
${reduceWgsl()}
    // params holds fcWeight (E, C) then fcBias (E); invocation 0 writes every logit, so its
    // activation below reads only its own writes.
    if (lid == 0u) { routing[base + e] = part[0] + params[E * C + e]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
${activation}
  }
}
`;
  return {
    name: "route",
    code,
    bindings: ["pooled", "routingParams", "routing"],
    workgroups: g.batch,
  };
}

function mixStage(g: Geometry, mixedStride: number): StagePlan {
  // four consecutive floats per invocation, as vec4 loads, when rows split into vec4s
  const width = mixedStride % 4 === 0 ? 4 : 1;
  const type = width === 4 ? "vec4f" : "f32";
  const total = (g.batch * mixedStride) / width;
  const code = `// mix: mixed[b, k] = sum_e routing[b, e] * experts[e, k], ${width} k per invocation
@group(0) @binding(0) var<storage, read> routing: array<f32>;
@group(0) @binding(1) var<storage, read> experts: array<${type}>;
@group(0) @binding(2) var<storage, read_write> mixed: array<${type}>;
const E: u32 = ${u(g.numExperts)};
const L: u32 = ${u(mixedStride / width)};
const TOTAL: u32 = ${u(total)};

@compute @workgroup_size(${MIX_WORKGROUP})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  let idx = wid * ${u(MIX_WORKGROUP)} + lid;
  if (idx >= TOTAL) { return; }
  let b = idx / L;
  let k = idx - b * L;
  var sum = ${type}(0.0);
  for (var e = 0u; e < E; e = e + 1u) {
    sum = sum + routing[b * E + e] * experts[e * L + k];
  }
  mixed[idx] = sum;
}
`;
  return {
    name: "mix",
    code,
    bindings: ["routing", "experts", "mixed"],
    workgroups: Math.ceil(total / MIX_WORKGROUP),
  };
}

/** WGSL declarations and the `biasOf(b, o)` function for the layer's bias kind. */
function biasWgsl(spec: CondConvSpec, kernelFloats: number, mixedStride: number) {
  switch (spec.bias) {
    case "none":
      return { roles: [] as BufferRole[], fn: `fn biasOf(b: u32, o: u32) -> f32 { return 0.0; }` };
    case "shared":
      return {
        roles: ["bias"] as BufferRole[],
        fn: `fn biasOf(b: u32, o: u32) -> f32 { return bias[o]; }`,
      };
    case "perExpert":
      // the mixed bias sits after the mixed kernel of each example
      return {
        roles: [] as BufferRole[],
        fn: `fn biasOf(b: u32, o: u32) -> f32 { return kmix[b * ${u(mixedStride)} + ${
          u(kernelFloats)
        } + o]; }`,
      };
  }
}

/** Geometry constants shared by the conv shaders. */
function geometryConsts(g: Geometry, mixedStride: number): string {
  return `const C: u32 = ${u(g.inChannels)};
const H: u32 = ${u(g.inHeight)};
const W: u32 = ${u(g.inWidth)};
const O: u32 = ${u(g.outChannels)};
const OH: u32 = ${u(g.outHeight)};
const OW: u32 = ${u(g.outWidth)};
const KH: u32 = ${u(g.kernelHeight)};
const KW: u32 = ${u(g.kernelWidth)};
const SH: u32 = ${u(g.strideHeight)};
const SW: u32 = ${u(g.strideWidth)};
const DH: u32 = ${u(g.dilationHeight)};
const DW: u32 = ${u(g.dilationWidth)};
const PT: i32 = ${i(g.padTop)};
const PL: i32 = ${i(g.padLeft)};
const CPG: u32 = ${u(g.channelsPerGroup)};
const L: u32 = ${u(mixedStride)};`;
}

function convBindings(roles: BufferRole[]): string {
  const names: Record<string, [string, boolean]> = {
    input: ["xin", false],
    mixed: ["kmix", false],
    bias: ["bias", false],
    output: ["yout", true],
  };
  return roles.map((r, n) => storage(n, names[r][0], names[r][1])).join("\n");
}

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

function gemmStage(spec: CondConvSpec, g: Geometry, path: ConvPath, mixedStride: number) {
  const M = g.outChannelsPerGroup;
  const N = g.outHeight * g.outWidth;
  const KD = g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  const kernelFloats = g.outChannels * KD;
  const { TM, TN, TK, RM, threads } = gemmTile(M, N);
  const tilesM = Math.ceil(M / TM), tilesN = Math.ceil(N / TN);
  const total = g.batch * g.groups * tilesM * tilesN;
  const bias = biasWgsl(spec, kernelFloats, mixedStride);
  const roles: BufferRole[] = ["input", "mixed", ...bias.roles, "output"];
  const loadB = path === "gemm-1x1"
    ? `// 1x1, stride 1, no padding: row k of B is input plane k of the group
fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
  if (n >= N || k >= KD) { return 0.0; }
  return xin[(b * C + g * CPG + k) * N + n];
}`
    : `// implicit im2col: B[k, n] = xp[c, i * SH + u * DH, j * SW + v * DW]
${sourceIndexWgsl("srcY", g.inHeight, spec.paddingMode)}
${sourceIndexWgsl("srcX", g.inWidth, spec.paddingMode)}
fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
  if (n >= N || k >= KD) { return 0.0; }
  let c = k / (KH * KW);
  let r = k - c * (KH * KW);
  let ku = r / KW;
  let kv = r - ku * KW;
  let oi = n / OW;
  let oj = n - oi * OW;
  let y = srcY(i32(oi * SH + ku * DH) - PT);
  let x = srcX(i32(oj * SW + kv * DW) - PL);
  if (y < 0i || x < 0i) { return 0.0; }
  return xin[((b * C + g * CPG + c) * H + u32(y)) * W + u32(x)];
}`;
  const rowUpdates = [0, 1, 2, 3].map((lane) =>
    `        acc[q * 4u + ${lane}u] = acc[q * 4u + ${lane}u] + a.${"xyzw"[lane]} * bv;`
  ).join("\n");
  const code = `// conv (${path}): per example and group, Y[M x N] = K[M x KD] * B[KD x N] + bias
${convBindings(roles)}
${geometryConsts(g, mixedStride)}
const M: u32 = ${u(M)};
const N: u32 = ${u(N)};
const KD: u32 = ${u(KD)};
const GROUPS: u32 = ${u(g.groups)};
const TM: u32 = ${u(TM)};
const TN: u32 = ${u(TN)};
const TK: u32 = ${u(TK)};
const RM: u32 = ${u(RM)};
const THREADS: u32 = ${u(threads)};
const TILES_M: u32 = ${u(tilesM)};
const TILES_N: u32 = ${u(tilesN)};
const TOTAL: u32 = ${u(total)};
// As[k][m / 4]: rows m..m+3 of column k of K_b; Bs[k][n / 4]: columns n..n+3 of row k of B
var<workgroup> As: array<vec4f, ${(TK * TM) / 4}>;
var<workgroup> Bs: array<vec4f, ${(TK * TN) / 4}>;

${bias.fn}
${loadB}
fn loadA(row: u32, m: u32, k: u32) -> f32 {
  if (m >= M || k >= KD) { return 0.0; }
  return kmix[row + m * KD + k];
}

@compute @workgroup_size(${threads})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  if (wid >= TOTAL) { return; }
  let tn = wid % TILES_N;
  var rest = wid / TILES_N;
  let tm = rest % TILES_M;
  rest = rest / TILES_M;
  let g = rest % GROUPS;
  let b = rest / GROUPS;
  let m0 = tm * TM;
  let n0 = tn * TN;
  let tx = lid % (TN / 4u);
  let ty = lid / (TN / 4u);
  // K_b of this group starts at row g * M: rows are KD floats long
  let kRow = b * L + g * M * KD;
  var acc: array<vec4f, ${RM}>;
  for (var k0 = 0u; k0 < KD; k0 = k0 + TK) {
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
    if (m >= M) { break; }
    let o = g * M + m;
    let bo = biasOf(b, o);
    for (var s = 0u; s < 4u; s = s + 1u) {
      let n = n0 + tx * 4u + s;
      if (n < N) { yout[(b * O + o) * N + n] = acc[r][s] + bo; }
    }
  }
}
`;
  return {
    stage: { name: "conv" as const, code, bindings: roles, workgroups: total },
    workgroupBytes: 4 * TK * (TM + TN),
    tile: [TM, TN] as [number, number],
    threads,
  };
}

/** The halo patch, in floats, a depthwise workgroup loads for a `th x tw` output tile. */
export function depthwisePatch(g: Geometry, th: number, tw: number): [number, number] {
  return [
    (th - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1,
    (tw - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1,
  ];
}

/** Splits `size` into the fewest parts of at most `max`, of balanced size. */
function balanced(size: number, max: number): number {
  return Math.ceil(size / Math.ceil(size / max));
}

/**
 * How a depthwise workgroup is laid out: a `threadsY x threadsX` grid of invocations, each
 * computing a `blockY x blockX` block of outputs, so the workgroup's output tile is
 * `(threadsY * blockY) x (threadsX * blockX)`.
 */
export interface DepthwiseTile {
  threadsY: number;
  threadsX: number;
  blockY: number;
  blockX: number;
}

/** The most multiply-adds one depthwise invocation unrolls (`blockY * blockX * kh * kw`). */
export const DEPTHWISE_MAX_UNROLLED = 128;

/**
 * The depthwise layout whose halo patch and kernel fit in `budgetBytes` of workgroup memory,
 * or `undefined` when not even one output's patch fits. Blocks of 2x2 outputs per invocation
 * share their overlapping window loads (on llvmpipe 2-3 times faster than one output each).
 */
export function depthwiseTile(g: Geometry, budgetBytes: number): DepthwiseTile | undefined {
  const taps = g.kernelHeight * g.kernelWidth;
  const blocks: [number, number][] = [[2, 2], [2, 1], [1, 2], [1, 1]];
  for (const [by, bx] of blocks) {
    const blockY = Math.min(by, g.outHeight), blockX = Math.min(bx, g.outWidth);
    if (blockY * blockX * taps > DEPTHWISE_MAX_UNROLLED && blockY * blockX > 1) continue;
    let threadsY = balanced(Math.ceil(g.outHeight / blockY), DEPTHWISE_MAX_TILE);
    let threadsX = balanced(Math.ceil(g.outWidth / blockX), DEPTHWISE_MAX_TILE);
    for (;;) {
      const [ph, pw] = depthwisePatch(g, threadsY * blockY, threadsX * blockX);
      if (4 * (ph * pw + taps) <= budgetBytes) return { threadsY, threadsX, blockY, blockX };
      if (threadsY === 1 && threadsX === 1) break;
      if (threadsY >= threadsX) threadsY = Math.ceil(threadsY / 2);
      else threadsX = Math.ceil(threadsX / 2);
    }
  }
  return undefined;
}

/**
 * WGSL that accumulates one invocation's output block, fully unrolled: each window value the
 * block needs is loaded from `halo` once (`rows x columns` loads for
 * `blockY * blockX * kh * kw` multiply-adds) into `acc_<y>_<x>`.
 */
function depthwiseBody(g: Geometry, t: DepthwiseTile, PW: number): string {
  const { kernelHeight: KH, kernelWidth: KW } = g;
  const lines: string[] = [];
  for (let ku = 0; ku < KH; ku++) {
    for (let kv = 0; kv < KW; kv++) lines.push(`  let k_${ku}_${kv} = ker[${ku * KW + kv}];`);
  }
  for (let y = 0; y < t.blockY; y++) {
    for (let x = 0; x < t.blockX; x++) lines.push(`  var acc_${y}_${x} = 0.0;`);
  }
  const rows = new Map<number, [number, number][]>(); // halo row -> (block row, kernel row)
  for (let y = 0; y < t.blockY; y++) {
    for (let ku = 0; ku < KH; ku++) {
      const r = y * g.strideHeight + ku * g.dilationHeight;
      rows.set(r, [...(rows.get(r) ?? []), [y, ku]]);
    }
  }
  const cols = new Set<number>();
  for (let x = 0; x < t.blockX; x++) {
    for (let kv = 0; kv < KW; kv++) cols.add(x * g.strideWidth + kv * g.dilationWidth);
  }
  for (const r of [...rows.keys()].sort((a, b) => a - b)) {
    for (const c of [...cols].sort((a, b) => a - b)) {
      lines.push(`  let w_${r}_${c} = halo[base + ${u(r * PW + c)}];`);
    }
    for (const [y, ku] of rows.get(r)!) {
      for (let x = 0; x < t.blockX; x++) {
        for (let kv = 0; kv < KW; kv++) {
          const c = x * g.strideWidth + kv * g.dilationWidth;
          lines.push(`  acc_${y}_${x} = acc_${y}_${x} + k_${ku}_${kv} * w_${r}_${c};`);
        }
      }
    }
  }
  for (let y = 0; y < t.blockY; y++) {
    for (let x = 0; x < t.blockX; x++) {
      lines.push(
        `  store(b, o, oy0 + ly * ${u(t.blockY)} + ${u(y)}, ` +
          `ox0 + lx * ${u(t.blockX)} + ${u(x)}, acc_${y}_${x});`,
      );
    }
  }
  return lines.join("\n");
}

function depthwiseStage(
  spec: CondConvSpec,
  g: Geometry,
  mixedStride: number,
  t: DepthwiseTile,
) {
  const TH = t.threadsY * t.blockY, TW = t.threadsX * t.blockX;
  const [PH, PW] = depthwisePatch(g, TH, TW);
  const kernelFloats = g.outChannels * g.kernelHeight * g.kernelWidth;
  const tilesY = Math.ceil(g.outHeight / TH), tilesX = Math.ceil(g.outWidth / TW);
  const total = g.batch * g.outChannels * tilesY * tilesX;
  const threads = t.threadsY * t.threadsX;
  const bias = biasWgsl(spec, kernelFloats, mixedStride);
  const roles: BufferRole[] = ["input", "mixed", ...bias.roles, "output"];
  const code =
    `// conv (depthwise): output channel o reads input channel o / (O / C); tile + halo in
// workgroup memory, padding applied while loading; ${t.blockY}x${t.blockX} outputs per invocation
${convBindings(roles)}
${geometryConsts(g, mixedStride)}
const MULT: u32 = ${u(g.outChannelsPerGroup)};
const TH: u32 = ${u(TH)};
const TW: u32 = ${u(TW)};
const PH: u32 = ${u(PH)};
const PW: u32 = ${u(PW)};
const THREADS_X: u32 = ${u(t.threadsX)};
const THREADS: u32 = ${u(threads)};
const TILES_Y: u32 = ${u(tilesY)};
const TILES_X: u32 = ${u(tilesX)};
const TOTAL: u32 = ${u(total)};
var<workgroup> halo: array<f32, ${PH * PW}>;
var<workgroup> ker: array<f32, ${g.kernelHeight * g.kernelWidth}>;

${bias.fn}
${sourceIndexWgsl("srcY", g.inHeight, spec.paddingMode)}
${sourceIndexWgsl("srcX", g.inWidth, spec.paddingMode)}
fn store(b: u32, o: u32, oy: u32, ox: u32, value: f32) {
  if (oy < OH && ox < OW) { yout[((b * O + o) * OH + oy) * OW + ox] = value + biasOf(b, o); }
}

@compute @workgroup_size(${threads})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
  if (wid >= TOTAL) { return; }
  let tx = wid % TILES_X;
  var rest = wid / TILES_X;
  let ty = rest % TILES_Y;
  rest = rest / TILES_Y;
  let o = rest % O;
  let b = rest / O;
  let c = o / MULT;
  let oy0 = ty * TH;
  let ox0 = tx * TW;
  let iy0 = i32(oy0 * SH) - PT;
  let ix0 = i32(ox0 * SW) - PL;
  let plane = (b * C + c) * H * W;
  for (var t = lid; t < PH * PW; t = t + THREADS) {
    let py = t / PW;
    let px = t - py * PW;
    let y = srcY(iy0 + i32(py));
    let x = srcX(ix0 + i32(px));
    var v = 0.0;
    if (y >= 0i && x >= 0i) { v = xin[plane + u32(y) * W + u32(x)]; }
    halo[t] = v;
  }
  for (var t = lid; t < KH * KW; t = t + THREADS) { ker[t] = kmix[b * L + o * KH * KW + t]; }
  workgroupBarrier();
  let ly = lid / THREADS_X;
  let lx = lid - ly * THREADS_X;
  // top-left of this invocation's window in the halo patch
  let base = ly * ${u(t.blockY)} * SH * PW + lx * ${u(t.blockX)} * SW;
${depthwiseBody(g, t, PW)}
}
`;
  return {
    stage: { name: "conv" as const, code, bindings: roles, workgroups: total },
    workgroupBytes: 4 * (PH * PW + g.kernelHeight * g.kernelWidth),
    tile: [TH, TW] as [number, number],
    threads,
  };
}

/** Floats per expert in the experts buffer: its kernel, then its bias when per-expert. */
export function mixedStrideOf(spec: CondConvSpec, g: Geometry): number {
  const kernel = g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
  return kernel + (spec.bias === "perExpert" ? g.outChannels : 0);
}

/** Builds the shaders and dispatch sizes of `spec` on the geometry `g`. */
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
    conv = gemmStage(spec, g, convPath, mixedStride);
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

/**
 * The `conv` stage for depthwise layers (one input channel per group): each workgroup loads an
 * output tile's input patch plus halo, padding applied, into workgroup memory, and each
 * invocation computes a small block of outputs with the kernel loops unrolled.
 *
 * Compiled per kernel size, stride, dilation and tile layout ({@link depthwiseTile}); the
 * channel counts, plane sizes and bias kind are parameters. The padding mode is compiled in
 * too: read from the parameters, its branches in the halo load made EfficientNet's depthwise
 * layers about 1.5 times slower on llvmpipe (noisy measurements, scripts/wgsl_timing.ts).
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import * as conv from "./conv_common.ts";
import { paramsWgsl, type StagePlan, tiledEntryWgsl, u, u32Params } from "./stage.ts";

/**
 * Invocations along each side of a depthwise workgroup (each computes a small block), the same
 * for every layer so that layers of one kernel shape share a pipeline: 4x4 invocations of 2x2
 * blocks cover EfficientNet's 7x7 planes in one tile and its 14x14 planes in four.
 */
export const DEPTHWISE_THREADS = 4;

/** The most multiply-adds one depthwise invocation unrolls (`blockY * blockX * kh * kw`). */
export const DEPTHWISE_MAX_UNROLLED = 128;

/** The halo patch, in floats, a depthwise workgroup loads for a `th x tw` output tile. */
export function depthwisePatch(g: Geometry, th: number, tw: number): [number, number] {
  return [
    (th - 1) * g.strideHeight + (g.kernelHeight - 1) * g.dilationHeight + 1,
    (tw - 1) * g.strideWidth + (g.kernelWidth - 1) * g.dilationWidth + 1,
  ];
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
    let threadsY = DEPTHWISE_THREADS, threadsX = DEPTHWISE_THREADS;
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

/** The conv stage of depthwise `spec` on `g` with layout `t`, with its workgroup memory. */
export function depthwiseStage(
  spec: CondConvSpec,
  g: Geometry,
  mixedStride: number,
  t: DepthwiseTile,
) {
  const TH = t.threadsY * t.blockY, TW = t.threadsX * t.blockX;
  const [PH, PW] = depthwisePatch(g, TH, TW);
  const taps = g.kernelHeight * g.kernelWidth;
  const tilesY = Math.ceil(g.outHeight / TH), tilesX = Math.ceil(g.outWidth / TW);
  const total = g.batch * g.outChannels * tilesY * tilesX;
  const threads = t.threadsY * t.threadsX;
  const params = [
    ...conv.geometryParams(spec, g, mixedStride),
    ...u32Params({ MULT: g.outChannelsPerGroup, TILES_Y: tilesY, TILES_X: tilesX, TOTAL: total }),
  ];
  const code =
    `// conv (depthwise): output channel o reads input channel o / (O / C); tile + halo in
// workgroup memory, padding applied while loading; ${t.blockY}x${t.blockX} outputs per invocation
${conv.convBindings()}
${paramsWgsl(conv.CONV_ROLES.length, params)}
const KH: u32 = ${u(g.kernelHeight)};
const KW: u32 = ${u(g.kernelWidth)};
const SH: u32 = ${u(g.strideHeight)};
const SW: u32 = ${u(g.strideWidth)};
const PH: u32 = ${u(PH)};
const PW: u32 = ${u(PW)};
const THREADS_X: u32 = ${u(t.threadsX)};
const THREADS: u32 = ${u(threads)};
const TH: u32 = ${u(TH)};
const TW: u32 = ${u(TW)};
var<workgroup> halo: array<f32, ${PH * PW}>;
var<workgroup> ker: array<f32, ${taps}>;

${conv.BIAS_WGSL}
${conv.sourceIndexWgsl("srcY", "H", spec.paddingMode)}
${conv.sourceIndexWgsl("srcX", "W", spec.paddingMode)}
fn store(b: u32, o: u32, oy: u32, ox: u32, value: f32) {
  if (oy < P.OH && ox < P.OW) {
    yout[((b * P.O + o) * P.OH + oy) * P.OW + ox] = value + biasOf(b, o);
  }
}

${tiledEntryWgsl(threads, [["tx", "TILES_X"], ["ty", "TILES_Y"], ["o", "O"]], "b")}
  let c = o / P.MULT;
  let oy0 = ty * TH;
  let ox0 = tx * TW;
  let iy0 = i32(oy0 * SH) - P.PT;
  let ix0 = i32(ox0 * SW) - P.PL;
  let plane = (b * P.C + c) * P.H * P.W;
  for (var t = lid; t < PH * PW; t = t + THREADS) {
    let py = t / PW;
    let px = t - py * PW;
    let y = srcY(iy0 + i32(py));
    let x = srcX(ix0 + i32(px));
    var v = 0.0;
    if (y >= 0i && x >= 0i) { v = xin[plane + u32(y) * P.W + u32(x)]; }
    halo[t] = v;
  }
  for (var t = lid; t < KH * KW; t = t + THREADS) { ker[t] = kmix[b * P.L + o * KH * KW + t]; }
  workgroupBarrier();
  let ly = lid / THREADS_X;
  let lx = lid - ly * THREADS_X;
  // top-left of this invocation's window in the halo patch
  let base = ly * ${u(t.blockY)} * SH * PW + lx * ${u(t.blockX)} * SW;
${depthwiseBody(g, t, PW)}
}
`;
  const stage: StagePlan = {
    name: "conv",
    code,
    bindings: conv.CONV_ROLES,
    params,
    workgroups: total,
  };
  return {
    stage,
    workgroupBytes: 4 * (PH * PW + taps),
    tile: [TH, TW] as [number, number],
    threads,
  };
}

/**
 * The `pool` stage: `pooled[b, c]` = mean of the plane `x[b, c]`. Each plane is summed by a
 * few lanes of a workgroup and a tree reduction in workgroup memory, several small planes per
 * workgroup (see {@link poolLanes}). One pipeline serves every layer.
 * @module
 */
import type { Geometry } from "../../condconv/geometry.ts";
import { entryWgsl, paramsWgsl, type StagePlan, storage, u32Params } from "./stage.ts";

/** Invocations per workgroup of the reductions (`pool`, `route`); a power of two. */
export const REDUCE_WORKGROUP = 64;

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

function params(plane: number, planes: number, lanes: number) {
  return u32Params({
    PLANE: plane,
    PLANES: planes,
    LANES: lanes,
    PER_GROUP: REDUCE_WORKGROUP / lanes,
  });
}

const CODE = `// pool: pooled[b, c] = mean of x[b, c, :, :]; P.LANES lanes per plane, P.PER_GROUP
// planes per workgroup, a tree reduction in workgroup memory
${storage(0, "xin", false)}
${storage(1, "pooled", true)}
${paramsWgsl(2, params(0, 0, 1))}
var<workgroup> part: array<f32, ${REDUCE_WORKGROUP}>;

${entryWgsl(REDUCE_WORKGROUP)}
  let p = wid * P.PER_GROUP + lid / P.LANES;
  let lane = lid % P.LANES;
  var sum = 0.0;
  if (p < P.PLANES) {
    for (var k = lane; k < P.PLANE; k = k + P.LANES) { sum = sum + xin[p * P.PLANE + k]; }
  }
  part[lid] = sum;
  workgroupBarrier();
  // LANES is a power of two: lane + stride stays within this plane's lanes
  for (var stride = P.LANES >> 1u; stride > 0u; stride = stride >> 1u) {
    if (lane < stride) { part[lid] = part[lid] + part[lid + stride]; }
    workgroupBarrier();
  }
  if (lane == 0u && p < P.PLANES) { pooled[p] = part[lid] / f32(P.PLANE); }
}
`;

/** The pool stage of geometry `g` (computed routing only). */
export function poolStage(g: Geometry): StagePlan {
  const plane = g.inHeight * g.inWidth;
  const planes = g.batch * g.inChannels;
  const lanes = poolLanes(plane);
  return {
    name: "pool",
    code: CODE,
    bindings: ["input", "pooled"],
    params: params(plane, planes, lanes),
    workgroups: Math.ceil(planes / (REDUCE_WORKGROUP / lanes)),
  };
}

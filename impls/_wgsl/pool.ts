/**
 * The `pool` stage: `pooled[b, c]` = mean of the plane `x[b, c]`. Each plane is summed by a
 * few lanes of a workgroup and a tree reduction in workgroup memory, several small planes per
 * workgroup (see {@link poolLanes}). One pipeline serves every layer.
 * @module
 */
import type { Geometry } from "../../condconv/geometry.ts";
import {
  ENTRY_ARGS,
  FLAT_ID,
  type ParamField,
  paramsWgsl,
  type StagePlan,
  storage,
} from "./stage.ts";

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

const CODE =
  `// pool: pooled[b, c] = mean of x[b, c, :, :]; P.LANES lanes per plane, P.PER_GROUP planes
// per workgroup, a tree reduction in workgroup memory
${storage(0, "xin", false)}
${storage(1, "pooled", true)}
${
    paramsWgsl(2, [
      ["PLANE", "u32", 0],
      ["PLANES", "u32", 0],
      ["LANES", "u32", 0],
      ["PER_GROUP", "u32", 0],
    ])
  }
var<workgroup> part: array<f32, ${REDUCE_WORKGROUP}>;

@compute @workgroup_size(${REDUCE_WORKGROUP})
fn main(
  ${ENTRY_ARGS}
) {
${FLAT_ID}
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
  const perGroup = REDUCE_WORKGROUP / lanes;
  const params: ParamField[] = [
    ["PLANE", "u32", plane],
    ["PLANES", "u32", planes],
    ["LANES", "u32", lanes],
    ["PER_GROUP", "u32", perGroup],
  ];
  return {
    name: "pool",
    code: CODE,
    bindings: ["input", "pooled"],
    params,
    workgroups: Math.ceil(planes / perGroup),
  };
}

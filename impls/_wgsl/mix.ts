/**
 * The `mix` stage: `mixed[b, k]` = `sum_e routing[b, e] * experts[e, k]`, one invocation per
 * four elements (`vec4`) or per element. The experts buffer holds each expert's kernel
 * followed, for a per-expert bias, by its bias, so the bias mix comes out of the same pass.
 * Two pipelines: `vec4` and scalar.
 * @module
 */
import type { Geometry } from "../../condconv/geometry.ts";
import { entryWgsl, paramsWgsl, type StagePlan, u, u32Params } from "./stage.ts";

/** Invocations per workgroup of `mix`. */
export const MIX_WORKGROUP = 256;

function params(experts: number, rowLength: number, total: number) {
  return u32Params({ E: experts, L: rowLength, TOTAL: total });
}

function code(width: 1 | 4): string {
  const type = width === 4 ? "vec4f" : "f32";
  return `// mix: mixed[b, k] = sum_e routing[b, e] * experts[e, k], ${width} k per invocation
@group(0) @binding(0) var<storage, read> routing: array<f32>;
@group(0) @binding(1) var<storage, read> experts: array<${type}>;
@group(0) @binding(2) var<storage, read_write> mixed: array<${type}>;
${paramsWgsl(3, params(0, 0, 0))}

${entryWgsl(MIX_WORKGROUP)}
  let idx = wid * ${u(MIX_WORKGROUP)} + lid;
  if (idx >= P.TOTAL) { return; }
  let b = idx / P.L;
  let k = idx - b * P.L;
  var sum = ${type}(0.0);
  for (var e = 0u; e < P.E; e = e + 1u) {
    sum = sum + routing[b * P.E + e] * experts[e * P.L + k];
  }
  mixed[idx] = sum;
}
`;
}

const CODES = { 1: code(1), 4: code(4) };

/** The mix stage of geometry `g`, rows of `mixedStride` floats. */
export function mixStage(g: Geometry, mixedStride: number): StagePlan {
  // four consecutive floats per invocation, as vec4 loads, when rows split into vec4s
  const width = mixedStride % 4 === 0 ? 4 : 1;
  const total = (g.batch * mixedStride) / width;
  return {
    name: "mix",
    code: CODES[width],
    bindings: ["routing", "experts", "mixed"],
    params: params(g.numExperts, mixedStride / width, total),
    workgroups: Math.ceil(total / MIX_WORKGROUP),
  };
}

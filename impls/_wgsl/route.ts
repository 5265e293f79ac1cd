/**
 * The `route` stage: `routing[b, e]` = activation(`fcWeight[e] . pooled[b] + fcBias[e]`), one
 * workgroup per example (computed routing only; supplied routing is uploaded instead). Two
 * pipelines: sigmoid and softmax (its temperature a parameter).
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { REDUCE_WORKGROUP } from "./pool.ts";
import type { ParamField, StagePlan } from "./stage.ts";
import { entryWgsl, paramsWgsl, storage, u } from "./stage.ts";

// softmax(z / T), shifted by the largest logit as reference.ts does; the sum is at least 1
// (the largest term is exp(0)), so the division is by no zero
const SOFTMAX = `    let T = P.TEMPERATURE;
    var top = routing[base] / T;
    for (var e = 1u; e < P.E; e = e + 1u) { top = max(top, routing[base + e] / T); }
    var total = 0.0;
    for (var e = 0u; e < P.E; e = e + 1u) {
      let v = exp(routing[base + e] / T - top);
      routing[base + e] = v;
      total = total + v;
    }
    for (var e = 0u; e < P.E; e = e + 1u) { routing[base + e] = routing[base + e] / total; }`;

// exp of a non-positive number only: no overflow, whatever the logit; 1 + t >= 1
const SIGMOID = `    for (var e = 0u; e < P.E; e = e + 1u) {
      let z = routing[base + e];
      let t = exp(-abs(z));
      routing[base + e] = select(t / (1.0 + t), 1.0 / (1.0 + t), z >= 0.0);
    }`;

function params(channels: number, experts: number, batch: number, temperature: number) {
  const fields: ParamField[] = [
    ["C", "u32", channels],
    ["E", "u32", experts],
    ["TOTAL", "u32", batch],
    ["TEMPERATURE", "f32", temperature],
  ];
  return fields;
}

function code(kind: "sigmoid" | "softmax"): string {
  return `// route: routing[b, e] = ${kind}(fcWeight[e] . pooled[b] + fcBias[e])
${storage(0, "pooled", false)}
${storage(1, "params", false)}
${storage(2, "routing", true)}
${paramsWgsl(3, params(0, 0, 0, 1))}
var<workgroup> part: array<f32, ${REDUCE_WORKGROUP}>;

${entryWgsl(REDUCE_WORKGROUP)}
  if (wid >= P.TOTAL) { return; }
  let base = wid * P.E;
  for (var e = 0u; e < P.E; e = e + 1u) {
    var sum = 0.0;
    for (var c = lid; c < P.C; c = c + ${u(REDUCE_WORKGROUP)}) {
      sum = sum + params[e * P.C + c] * pooled[wid * P.C + c];
    }
    part[lid] = sum;
    workgroupBarrier();
    for (var stride = ${u(REDUCE_WORKGROUP / 2)}; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) { part[lid] = part[lid] + part[lid + stride]; }
      workgroupBarrier();
    }
    // params holds fcWeight (E, C) then fcBias (E); invocation 0 writes every logit, so its
    // activation below reads only its own writes.
    if (lid == 0u) { routing[base + e] = part[0] + params[P.E * P.C + e]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
${kind === "softmax" ? SOFTMAX : SIGMOID}
  }
}
`;
}

const CODES = { sigmoid: code("sigmoid"), softmax: code("softmax") };

/** The route stage of `spec` (computed routing only) on geometry `g`. */
export function routeStage(spec: CondConvSpec, g: Geometry): StagePlan {
  const routing = spec.routing;
  if (routing.kind === "supplied") {
    throw new TypeError(`Cannot plan a route stage: routing.kind is "supplied"`);
  }
  const temperature = routing.kind === "softmax" ? routing.temperature : 1;
  return {
    name: "route",
    code: CODES[routing.kind],
    bindings: ["pooled", "routingParams", "routing"],
    params: params(g.inChannels, g.numExperts, g.batch, temperature),
    workgroups: g.batch,
  };
}

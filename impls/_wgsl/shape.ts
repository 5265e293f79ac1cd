/**
 * The GPU state of one `wgsl` layer on one input shape: its buffers (the uniform parameters
 * of every stage among them), bind groups and the cached pipelines they use.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import {
  checked,
  createBuffer,
  createQuerySet,
  destroyBuffer,
  destroyQuerySet,
  type DeviceHandle,
  forgetPipelines,
  pipelineFor,
} from "./device.ts";
import { flatDispatch, type LayerPlan } from "./plan.ts";
import { type BufferRole, PARAMS_SLOT_BYTES, paramsBytes, type StagePlan } from "./stage.ts";

/** The name of one dispatch of a run: `pool`, `route`, `mix` or `conv`. */
export type StageName = StagePlan["name"];

/** The buffers, bind groups and pipelines of one input shape. */
export interface ShapeState {
  key: string;
  geometry: Geometry;
  plan: LayerPlan;
  buffers: Partial<Record<BufferRole, GPUBuffer>>;
  /** every stage's uniform parameters, one {@link PARAMS_SLOT_BYTES} slot each */
  params: GPUBuffer;
  staging: GPUBuffer;
  outputBytes: number;
  /** byte offset of the timestamps (a start and an end per stage) in the staging buffer */
  timestampOffset: number;
  resolve?: GPUBuffer;
  querySet?: GPUQuerySet;
  dispatches: {
    name: StageName;
    pipeline: GPUComputePipeline;
    bindGroup: GPUBindGroup;
    size: [number, number];
  }[];
}

/** Weight buffers uploaded by prepare, owned by the layer. */
export interface WeightBuffers {
  experts: GPUBuffer;
  /** the shared bias, or a placeholder the conv shaders bind but do not read */
  bias: GPUBuffer;
  routingParams?: GPUBuffer;
}

/** The per-shape buffers a shape state owns (the others are the layer's weights). */
const OWNED_ROLES = ["input", "pooled", "routing", "mixed", "output"] as const;

/** Destroys what a shape owns; the weight buffers stay (the layer destroys them). */
export function destroyShape(state: ShapeState): void {
  for (const role of OWNED_ROLES) {
    const buffer = state.buffers[role];
    if (buffer) destroyBuffer(buffer);
  }
  destroyBuffer(state.params);
  destroyBuffer(state.staging);
  if (state.resolve) destroyBuffer(state.resolve);
  if (state.querySet) destroyQuerySet(state.querySet);
}

function checkBindingSizes(device: GPUDevice, g: Geometry, plan: LayerPlan): void {
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  for (const [name, floats] of Object.entries(plan.floats)) {
    if (4 * floats > maxBinding) {
      throw new RangeError(
        `Cannot run the wgsl layer on input [${g.batch}, ${g.inChannels}, ${g.inHeight}, ` +
          `${g.inWidth}]: the "${name}" buffer needs ${4 * floats} bytes, over ` +
          `maxStorageBufferBindingSize "${maxBinding}"; run a smaller batch`,
      );
    }
  }
}

/** Builds the state of `plan` on `handle`'s device; nothing is left behind if it fails. */
export async function buildShape(
  handle: DeviceHandle,
  spec: CondConvSpec,
  g: Geometry,
  plan: LayerPlan,
  weights: WeightBuffers,
  key: string,
): Promise<ShapeState> {
  const { device } = handle;
  checkBindingSizes(device, g, plan);
  const S = GPUBufferUsage.STORAGE, COPY_DST = GPUBufferUsage.COPY_DST;
  const outputBytes = 4 * plan.floats.output;
  const timestampOffset = Math.ceil(outputBytes / 8) * 8;
  const stageCount = plan.stages.length;
  const buffers: Partial<Record<BufferRole, GPUBuffer>> = { ...weights };
  const owned: GPUBuffer[] = [];
  const own = (label: string, bytes: number, usage: number) => {
    const buffer = createBuffer(device, label, bytes, usage);
    owned.push(buffer);
    return buffer;
  };
  const createdPipelines: string[] = [];
  let querySet: GPUQuerySet | undefined;
  try {
    return await checked(device, `build the wgsl layer for input "${key}"`, () => {
      buffers.input = own("input", 4 * plan.floats.input, S | COPY_DST);
      if (spec.routing.kind !== "supplied") {
        buffers.pooled = own("pooled", 4 * plan.floats.pooled, S);
      }
      buffers.routing = own("routing", 4 * plan.floats.routing, S | COPY_DST);
      buffers.mixed = own("mixed", 4 * plan.floats.mixed, S);
      buffers.output = own("output", outputBytes, S | GPUBufferUsage.COPY_SRC);
      const params = own(
        "params",
        PARAMS_SLOT_BYTES * stageCount,
        GPUBufferUsage.UNIFORM | COPY_DST,
      );
      plan.stages.forEach((stage, n) => {
        device.queue.writeBuffer(params, PARAMS_SLOT_BYTES * n, paramsBytes(stage.params));
      });
      const staging = own(
        "staging",
        timestampOffset + (handle.timestamps ? 16 * stageCount : 0),
        GPUBufferUsage.MAP_READ | COPY_DST,
      );
      let resolve: GPUBuffer | undefined;
      if (handle.timestamps) {
        querySet = createQuerySet(device, "wgsl pass times", 2 * stageCount);
        resolve = own(
          "timestamps",
          16 * stageCount,
          GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
        );
      }
      const maxPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
      const dispatches = plan.stages.map((stage, n) => {
        const pipeline = pipelineFor(handle, stage.name, stage.code, createdPipelines);
        const entries: GPUBindGroupEntry[] = stage.bindings.map((role, binding) => {
          const buffer = buffers[role];
          if (!buffer) throw new Error(`Cannot bind "${role}": the layer has no such buffer`);
          return { binding, resource: { buffer } };
        });
        entries.push({
          binding: stage.bindings.length,
          resource: { buffer: params, offset: PARAMS_SLOT_BYTES * n, size: PARAMS_SLOT_BYTES },
        });
        const bindGroup = device.createBindGroup({
          label: `wgsl ${stage.name}`,
          layout: pipeline.getBindGroupLayout(0),
          entries,
        });
        const size = flatDispatch(stage.workgroups, maxPerDimension);
        return { name: stage.name, pipeline, bindGroup, size };
      });
      return {
        key,
        geometry: g,
        plan,
        buffers,
        params,
        staging,
        outputBytes,
        timestampOffset,
        resolve,
        querySet,
        dispatches,
      };
    });
  } catch (error) {
    for (const b of owned) destroyBuffer(b);
    if (querySet) destroyQuerySet(querySet);
    forgetPipelines(handle, createdPipelines);
    throw error;
  }
}

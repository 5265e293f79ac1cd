/**
 * `prepare` of the `wgsl` adapter: the weights packed as the shaders read them and uploaded
 * to the shared device.
 * @module
 */
import type { CondConvSpec, CondConvWeights } from "../../condconv/spec.ts";
import { checkWeights } from "../../condconv/geometry.ts";
import { acquireDevice, checked, createBuffer, destroyBuffer, releaseDevice } from "./device.ts";
import { WgslCondConv } from "./layer.ts";

/**
 * The weights as the shaders read them: `experts` is (E, kernel) or, for a per-expert bias,
 * (E, kernel + O) with each expert's bias after its kernel, so one pass mixes both;
 * `bias` is the shared bias or a placeholder; `routingParams` is fcWeight (E, C) then fcBias (E).
 */
export function packWeights(spec: CondConvSpec, weights: CondConvWeights) {
  const E = spec.numExperts;
  const kernel = weights.expertKernels.length / E;
  let experts = weights.expertKernels;
  if (spec.bias === "perExpert") {
    const O = spec.outChannels;
    experts = new Float32Array(E * (kernel + O));
    for (let e = 0; e < E; e++) {
      experts.set(weights.expertKernels.subarray(e * kernel, (e + 1) * kernel), e * (kernel + O));
      experts.set(weights.bias!.subarray(e * O, (e + 1) * O), e * (kernel + O) + kernel);
    }
  }
  let routingParams: Float32Array | undefined;
  if (weights.routingWeight && weights.routingBias) {
    routingParams = new Float32Array(weights.routingWeight.length + weights.routingBias.length);
    routingParams.set(weights.routingWeight);
    routingParams.set(weights.routingBias, weights.routingWeight.length);
  }
  // every conv shader binds a bias buffer: a one-float placeholder when the bias is not shared
  const bias = spec.bias === "shared" ? weights.bias! : new Float32Array(1);
  return { experts, bias, routingParams };
}

/** Checks and uploads the weights of `spec` and wraps them in a {@link WgslCondConv}. */
export async function prepareWgsl(
  spec: CondConvSpec,
  weights: CondConvWeights,
): Promise<WgslCondConv> {
  checkWeights(spec, weights);
  const packed = packWeights(spec, weights);
  const handle = await acquireDevice();
  const { device } = handle;
  const created: GPUBuffer[] = [];
  const upload = (label: string, data: Float32Array) => {
    if (data.byteLength > device.limits.maxStorageBufferBindingSize) {
      throw new RangeError(
        `Cannot prepare the wgsl layer: "${label}" needs ${data.byteLength} bytes, over ` +
          `maxStorageBufferBindingSize "${device.limits.maxStorageBufferBindingSize}"`,
      );
    }
    const buffer = createBuffer(
      device,
      label,
      data.byteLength,
      GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    );
    created.push(buffer);
    device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  try {
    const buffers = await checked(device, "upload the wgsl layer's weights", () => ({
      experts: upload("experts", packed.experts),
      bias: upload("bias", packed.bias),
      routingParams: packed.routingParams && upload("routing params", packed.routingParams),
    }));
    return new WgslCondConv(handle, spec, buffers);
  } catch (error) {
    for (const b of created) destroyBuffer(b);
    releaseDevice(handle);
    throw error;
  }
}

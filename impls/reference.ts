/**
 * `reference`: plain, obviously correct TypeScript. Direct convolution with float64
 * accumulation, one loop per index of the formula in `condconv/spec.ts`. The yardstick
 * the other adapters are compared with; never tuned for speed.
 * @module
 */
import type { CondConvSpec, CondConvWeights, Tensor } from "../condconv/spec.ts";
import type { Geometry } from "../condconv/geometry.ts";
import { checkRunInputs, staticConvSpec } from "../condconv/geometry.ts";
import type { CondConvAdapter, PreparedCondConv } from "./adapter.ts";
import { defineAdapter } from "./_contract.ts";

/**
 * Maps a padded coordinate to the input coordinate it reads, or -1 for a zero.
 * `p` is the coordinate in the padded frame minus the leading padding (so it may be < 0).
 */
export function sourceIndex(p: number, size: number, mode: CondConvSpec["paddingMode"]): number {
  if (p >= 0 && p < size) return p;
  switch (mode) {
    case "zeros":
      return -1;
    case "replicate":
      return p < 0 ? 0 : size - 1;
    case "reflect":
      // mirror without repeating the edge: -1 -> 1, size -> size - 2
      return p < 0 ? -p : 2 * (size - 1) - p;
    case "circular":
      return ((p % size) + size) % size;
  }
}

/** Routing weights `(B, E)` for a computed routing, in float64. */
export function computeRouting(
  spec: CondConvSpec,
  weights: CondConvWeights,
  input: Tensor,
  g: Geometry,
): Float64Array {
  const { batch, inChannels, inHeight, inWidth, numExperts } = g;
  const plane = inHeight * inWidth;
  const routing = new Float64Array(batch * numExperts);
  const pooled = new Float64Array(inChannels);
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < inChannels; c++) {
      let sum = 0;
      const base = (b * inChannels + c) * plane;
      for (let i = 0; i < plane; i++) sum += input.data[base + i];
      pooled[c] = sum / plane;
    }
    const logits = new Float64Array(numExperts);
    for (let e = 0; e < numExperts; e++) {
      let z = weights.routingBias![e];
      for (let c = 0; c < inChannels; c++) {
        z += weights.routingWeight![e * inChannels + c] * pooled[c];
      }
      logits[e] = z;
    }
    const out = routing.subarray(b * numExperts, (b + 1) * numExperts);
    if (spec.routing.kind === "softmax") {
      const t = spec.routing.temperature;
      const max = Math.max(...logits.map((z) => z / t));
      let total = 0;
      for (let e = 0; e < numExperts; e++) total += out[e] = Math.exp(logits[e] / t - max);
      for (let e = 0; e < numExperts; e++) out[e] /= total;
    } else {
      for (let e = 0; e < numExperts; e++) out[e] = 1 / (1 + Math.exp(-logits[e]));
    }
  }
  return routing;
}

class ReferenceCondConv implements PreparedCondConv {
  readonly backend = "typescript:float64";
  #spec: CondConvSpec;
  #weights: CondConvWeights;

  constructor(spec: CondConvSpec, weights: CondConvWeights) {
    this.#spec = spec;
    this.#weights = weights;
  }

  run(input: Tensor, suppliedRouting?: Float32Array): Promise<Tensor> {
    const spec = this.#spec, weights = this.#weights;
    const g = checkRunInputs(spec, input, suppliedRouting);
    const routing = suppliedRouting
      ? Float64Array.from(suppliedRouting)
      : computeRouting(spec, weights, input, g);
    const { batch, inChannels, inHeight, inWidth, outChannels, numExperts } = g;
    const { channelsPerGroup, outChannelsPerGroup, kernelHeight, kernelWidth } = g;
    const { outHeight, outWidth } = g;
    const kernelLength = outChannels * channelsPerGroup * kernelHeight * kernelWidth;
    const kernelPerOut = channelsPerGroup * kernelHeight * kernelWidth;
    const output = new Float32Array(batch * outChannels * outHeight * outWidth);
    const kernel = new Float64Array(kernelLength);
    const bias = new Float64Array(outChannels);

    for (let b = 0; b < batch; b++) {
      const r = routing.subarray(b * numExperts, (b + 1) * numExperts);
      // K_b = sum_e r_e W_e
      kernel.fill(0);
      for (let e = 0; e < numExperts; e++) {
        for (let k = 0; k < kernelLength; k++) {
          kernel[k] += r[e] * weights.expertKernels[e * kernelLength + k];
        }
      }
      bias.fill(0);
      if (spec.bias === "shared") {
        for (let o = 0; o < outChannels; o++) bias[o] = weights.bias![o];
      } else if (spec.bias === "perExpert") {
        for (let e = 0; e < numExperts; e++) {
          for (let o = 0; o < outChannels; o++) {
            bias[o] += r[e] * weights.bias![e * outChannels + o];
          }
        }
      }
      for (let o = 0; o < outChannels; o++) {
        const firstChannel = Math.floor(o / outChannelsPerGroup) * channelsPerGroup;
        for (let i = 0; i < outHeight; i++) {
          for (let j = 0; j < outWidth; j++) {
            let sum = bias[o];
            for (let c = 0; c < channelsPerGroup; c++) {
              const plane = (b * inChannels + firstChannel + c) * inHeight;
              for (let u = 0; u < kernelHeight; u++) {
                const y = sourceIndex(
                  i * g.strideHeight + u * g.dilationHeight - g.padTop,
                  inHeight,
                  spec.paddingMode,
                );
                for (let v = 0; v < kernelWidth; v++) {
                  const x = sourceIndex(
                    j * g.strideWidth + v * g.dilationWidth - g.padLeft,
                    inWidth,
                    spec.paddingMode,
                  );
                  // a zero of the padding is multiplied like a pixel: 0 * inf is NaN
                  const pixel = y < 0 || x < 0 ? 0 : input.data[(plane + y) * inWidth + x];
                  sum += kernel[o * kernelPerOut + (c * kernelHeight + u) * kernelWidth + v] *
                    pixel;
                }
              }
            }
            output[((b * outChannels + o) * outHeight + i) * outWidth + j] = sum;
          }
        }
      }
    }
    return Promise.resolve({ shape: [batch, outChannels, outHeight, outWidth], data: output });
  }

  dispose(): Promise<void> {
    return Promise.resolve();
  }
}

/** Moved to `condconv/geometry.ts`; kept here for the imports that still name this file. */
export { staticConvSpec };

/** The `reference` adapter. */
export const referenceAdapter: CondConvAdapter = defineAdapter({
  id: "reference",
  description: "plain TypeScript, direct convolution, float64 accumulation (the yardstick)",
  toleranceClass: "exact",
  availability() {
    return Promise.resolve({
      available: true,
      backend: "typescript:float64",
      info: { accumulation: "float64" },
    });
  },
  // defineAdapter has parsed the spec, checked the weights and copied them
  prepare(spec: CondConvSpec, weights: CondConvWeights) {
    return Promise.resolve(new ReferenceCondConv(spec, weights));
  },
  prepareStatic(spec: CondConvSpec, kernel: Float32Array, bias?: Float32Array) {
    const staticSpec = staticConvSpec(spec);
    const weights = bias ? { expertKernels: kernel, bias } : { expertKernels: kernel };
    const layer = new ReferenceCondConv(staticSpec, weights);
    return Promise.resolve({
      backend: layer.backend,
      run: (input: Tensor) => layer.run(input, new Float32Array(input.shape[0]).fill(1)),
      dispose: () => layer.dispose(),
    });
  },
});

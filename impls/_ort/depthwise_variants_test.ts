/**
 * The measured depthwise graphs (`depthwise_variants.ts`) compute the depthwise CondConv
 * convolution: each one that applies, on onnxruntime-web's wasm EP, against a float64
 * depthwise convolution written out here, on small layers with the effnet-b0 shapes' traits
 * (5x5 and 3x3, stride 1 and 2, TensorFlow "same" and symmetric pads, odd and even sizes, a
 * rectangular input). So a timing of a variant is a timing of a correct graph.
 * @module
 */
import assert from "node:assert/strict";
import { CondConvSpec } from "../../condconv/spec.ts";
import { resolveGeometry } from "../../condconv/geometry.ts";
import { seededUniform } from "../../condconv/seeded.ts";
import { INPUT_NAME, OUTPUT_NAME, ROUTING_INPUT_NAME } from "../../condconv/formats/onnx_graph.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";
import { runtimeLoader } from "./runtime.ts";
import {
  buildDepthwiseVariant,
  DEPTHWISE_VARIANTS,
  depthwiseVariantProblem,
} from "./depthwise_variants.ts";

const wasmRuntime = runtimeLoader({
  executionProvider: "wasm",
  wasmArtifact: "ort-wasm-simd-threaded.wasm",
  load: () => import("onnxruntime-web/wasm"),
});

const LAYERS = [
  { c: 4, k: 5, stride: 1, padding: "same" as const, batch: 2, height: 6, width: 5 },
  { c: 4, k: 5, stride: 2, padding: "same" as const, batch: 2, height: 7, width: 7 },
  { c: 6, k: 3, stride: 1, padding: 1, batch: 3, height: 5, width: 5 },
  { c: 2, k: 3, stride: 2, padding: 1, batch: 1, height: 6, width: 6 },
  { c: 3, k: 5, stride: 2, padding: "same" as const, batch: 2, height: 8, width: 6 },
];

/** float64 depthwise conv with the per-example mixed kernels; also `sum |w x|` per output. */
function reference(
  g: ReturnType<typeof resolveGeometry>,
  x: Float32Array,
  routing: Float32Array,
  experts: Float32Array,
): { y: Float64Array; scale: Float64Array } {
  const { batch, inChannels: c, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = g;
  const k = g.kernelHeight, s = g.strideHeight, e = g.numExperts;
  const y = new Float64Array(batch * c * oh * ow), scale = new Float64Array(y.length);
  for (let n = 0; n < batch; n++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let sum = 0, abs = 0;
          for (let ky = 0; ky < k; ky++) {
            for (let kx = 0; kx < k; kx++) {
              const r = i * s + ky - g.padTop, q = j * s + kx - g.padLeft;
              if (r < 0 || r >= h || q < 0 || q >= w) continue;
              let weight = 0;
              for (let x0 = 0; x0 < e; x0++) {
                weight += routing[n * e + x0] * experts[((x0 * c + ch) * k + ky) * k + kx];
              }
              const term = weight * x[((n * c + ch) * h + r) * w + q];
              sum += term;
              abs += Math.abs(term);
            }
          }
          y[((n * c + ch) * oh + i) * ow + j] = sum;
          scale[((n * c + ch) * oh + i) * ow + j] = abs;
        }
      }
    }
  }
  return { y, scale };
}

Deno.test("each depthwise variant computes the layer on ort-wasm, or says why not", async () => {
  const availability = await ortWasmAdapter.availability();
  assert.ok(availability.available, !availability.available ? availability.reason : "");
  const { ort } = await wasmRuntime();
  const built = new Map<string, number>();
  for (const [i, layer] of LAYERS.entries()) {
    const spec = CondConvSpec.parse({
      inChannels: layer.c,
      outChannels: layer.c,
      groups: layer.c,
      kernelSize: layer.k,
      stride: layer.stride,
      padding: layer.padding,
      numExperts: 3,
      bias: "none",
    });
    const g = resolveGeometry(spec, [layer.batch, layer.c, layer.height, layer.width]);
    const x = seededUniform(40 + i, 1, layer.batch * layer.c * layer.height * layer.width);
    const routing = seededUniform(40 + i, 2, layer.batch * 3, 0.5, 0.5);
    const experts = seededUniform(40 + i, 3, 3 * layer.c * layer.k * layer.k);
    const truth = reference(g, x, routing, experts);
    for (const variant of DEPTHWISE_VARIANTS) {
      const what = `layer ${i} (${JSON.stringify(layer)}), ${variant}`;
      const problem = depthwiseVariantProblem(g, variant);
      if (problem) {
        assert.throws(
          () => buildDepthwiseVariant(spec, experts, layer, variant),
          (e) => e instanceof RangeError && e.message.includes(problem),
          what,
        );
        continue;
      }
      const session = await ort.InferenceSession.create(
        buildDepthwiseVariant(spec, experts, layer, variant),
        { executionProviders: ["wasm"] },
      );
      try {
        const result = await session.run({
          [INPUT_NAME]: new ort.Tensor("float32", x, [
            layer.batch,
            layer.c,
            layer.height,
            layer.width,
          ]),
          [ROUTING_INPUT_NAME]: new ort.Tensor("float32", routing, [layer.batch, 3]),
        });
        const output = result[OUTPUT_NAME];
        assert.deepEqual(output.dims, [layer.batch, layer.c, g.outHeight, g.outWidth], what);
        const data = output.data as Float32Array;
        for (let j = 0; j < data.length; j++) {
          const bound = 1e-5 * truth.scale[j] + 1e-7;
          assert.ok(
            Math.abs(data[j] - truth.y[j]) <= bound,
            `${what}: output ${j} is ${data[j]}, expected ${truth.y[j]} (bound ${bound})`,
          );
        }
      } finally {
        await session.release();
      }
      built.set(variant, (built.get(variant) ?? 0) + 1);
    }
  }
  // every variant was checked on at least one layer
  assert.deepEqual([...built.keys()].sort(), [...DEPTHWISE_VARIANTS].sort());
  assert.equal(built.get("polyphase"), 3);
  assert.equal(built.get("toeplitz-gemm"), 2);
});

/**
 * The child `impls/ort_node_test.ts` starts with exactly the permission flags conform and bench
 * give `ort-node`'s process (`adapterChildPermissions`): it runs `ort-node` against the
 * reference on a spread of layers at batch 1 and 8 (one prepared layer, both batches), reads
 * its availability at 1 thread and by default, and tries to load a library other than the
 * addon. It prints one JSON line; the test judges it.
 * @module
 */
import type { CondConvAdapter } from "../adapter.ts";
import type { CondConvSpecInput, Tensor } from "../../condconv/spec.ts";
import { seededLayer, seededUniform } from "../../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../../condconv/tolerance.ts";
import { referenceAdapter } from "../reference.ts";
import { createOrtNodeAdapter, ortNodeAdapter } from "../ort_node.ts";

/** The layers checked: the 1x1 (matmul), depthwise and general (grouped-conv) paths. */
export const CHECKED_LAYERS: { name: string; spec: CondConvSpecInput }[] = [
  { name: "1x1 16->24", spec: { inChannels: 16, outChannels: 24, kernelSize: 1, numExperts: 4 } },
  {
    name: "depthwise 5x5 same stride 2",
    spec: {
      inChannels: 12,
      outChannels: 12,
      kernelSize: 5,
      groups: 12,
      stride: 2,
      padding: "same",
      bias: "none",
      numExperts: 8,
    },
  },
  {
    name: "3x3 groups 2 reflect, per-expert bias, softmax routing",
    spec: {
      inChannels: 8,
      outChannels: 12,
      kernelSize: 3,
      padding: 1,
      groups: 2,
      paddingMode: "reflect",
      bias: "perExpert",
      routing: { kind: "softmax", temperature: 0.5 },
    },
  },
  {
    name: "3x3 dilation 2 circular, supplied routing",
    spec: {
      inChannels: 6,
      outChannels: 10,
      kernelSize: 3,
      padding: 2,
      dilation: 2,
      paddingMode: "circular",
      routing: { kind: "supplied" },
    },
  },
  {
    name: "3x3 stride 2 replicate",
    spec: {
      inChannels: 4,
      outChannels: 8,
      kernelSize: [3, 2],
      stride: 2,
      padding: 1,
      paddingMode: "replicate",
    },
  },
];

/** The first example of a batch: a view, as a caller may pass one. */
function first(input: Tensor): Tensor {
  const [, c, h, w] = input.shape;
  return { shape: [1, c, h, w], data: input.data.subarray(0, c * h * w) };
}

/** The worst error of `ort` against the reference, in tolerances, per batch (1, then 8). */
async function check(
  ort: CondConvAdapter,
  seed: number,
  spec: CondConvSpecInput,
  useStatic: boolean,
): Promise<number[]> {
  const layer = seededLayer(seed, spec, [8, spec.inChannels, 9, 11]);
  const kernelLength = layer.weights.expertKernels.length / layer.spec.numExperts;
  const kernel = seededUniform(seed, 99, kernelLength, 0.25);
  const prepare = (a: CondConvAdapter) =>
    useStatic
      ? a.prepareStatic!(layer.spec, kernel, layer.weights.bias)
      : a.prepare(layer.spec, layer.weights);
  const [mine, truth] = [await prepare(ort), await prepare(referenceAdapter)];
  const ratios = [];
  for (const input of [first(layer.input), layer.input]) {
    const batch = input.shape[0];
    const routing = useStatic
      ? undefined
      : layer.routingWeights?.subarray(0, batch * layer.spec.numExperts);
    const actual = await mine.run(input, routing);
    const expected = await truth.run(input, routing);
    if (JSON.stringify(actual.shape) !== JSON.stringify(expected.shape)) {
      throw new Error(`shape [${actual.shape}] against [${expected.shape}]`);
    }
    const c = compareWithTruth(
      actual.data,
      Float64Array.from(expected.data),
      toleranceFor("cpu", 0),
    );
    ratios.push(c.pass ? c.worstRatio : Infinity);
  }
  await mine.dispose();
  await truth.dispose();
  return ratios;
}

if (import.meta.main) {
  const rows = [];
  for (const [i, { name, spec }] of CHECKED_LAYERS.entries()) {
    rows.push({ name, ratios: await check(ortNodeAdapter, 300 + i, spec, false) });
  }
  const staticSpec = CHECKED_LAYERS[2].spec;
  rows.push({
    name: "static 3x3 groups 2 reflect",
    ratios: await check(ortNodeAdapter, 400, { ...staticSpec, bias: "shared" }, true),
  });
  const one = await createOrtNodeAdapter({ threads: 1 }).availability();
  const all = await ortNodeAdapter.availability();
  let otherLibrary = "loaded";
  try {
    Deno.dlopen("libc.so.6", {}).close();
  } catch (error) {
    otherLibrary = error instanceof Error ? error.name : String(error);
  }
  console.log(
    JSON.stringify({
      rows,
      one,
      all,
      cores: navigator.hardwareConcurrency,
      otherLibrary,
      sessions: ortNodeAdapter.resourceCounts!(),
    }),
  );
}

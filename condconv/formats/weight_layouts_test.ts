import assert from "node:assert/strict";
import { CondConvSpec, type CondConvSpecInput } from "../spec.ts";
import { encodeSafetensors, parseSafetensors, type TensorToWrite } from "./safetensors.ts";
import {
  detectLayout,
  tensorflowKernelToExperts,
  type WeightLayout,
  weightsFromLayout,
} from "./weight_layouts.ts";

const SOURCE = "x.safetensors";

/** A tensor of `shape` whose element i is `start + i`. */
function counting(shape: number[], start = 0): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: "F32", shape, data: Float32Array.from({ length: n }, (_, i) => start + i) };
}

function convert(
  layout: WeightLayout,
  spec: CondConvSpecInput,
  tensors: Record<string, TensorToWrite>,
  prefix = "",
) {
  const file = parseSafetensors(encodeSafetensors(tensors), SOURCE);
  return weightsFromLayout(layout, CondConvSpec.parse(spec), file.tensors, SOURCE, prefix);
}

const base = { inChannels: 4, outChannels: 8, kernelSize: 3, numExperts: 3 } as const;

Deno.test("detectLayout tells the three layouts apart by name and rank", () => {
  const shapes = (entries: [string, number[]][]) => new Map(entries);
  assert.equal(detectLayout(shapes([["weight", [3, 8, 4, 3, 3]]]), SOURCE), "reference");
  assert.equal(
    detectLayout(shapes([["weight", [3, 288]], ["_routing_fn.fc.bias", [3]]]), SOURCE),
    "reference",
  );
  assert.equal(detectLayout(shapes([["weight", [3, 288]], ["bias", [3, 8]]]), SOURCE), "timm");
  assert.equal(detectLayout(shapes([["condconv_kernel", [3, 288]]]), SOURCE), "tensorflow");
  assert.equal(
    detectLayout(shapes([["depthwise_condconv_kernel", [3, 36]]]), SOURCE),
    "tensorflow",
  );
  assert.throws(() => detectLayout(shapes([["conv.weight", [3, 8, 4, 3, 3]]]), SOURCE), {
    name: "TypeError",
    message: `Cannot load weights "${SOURCE}": cannot tell the layout from the tensor names ` +
      `(found "conv.weight"): expected a 5-D "weight" (reference), a 2-D "weight" (timm) or ` +
      `"condconv_kernel" / "depthwise_condconv_kernel" (tensorflow), or the layout stated in ` +
      `__metadata__ "layout"`,
  });
});

Deno.test("weightsFromLayout: reference keeps the module's tensors as they are", () => {
  const { weights, roundedToFloat32 } = convert("reference", base, {
    weight: counting([3, 8, 4, 3, 3]),
    bias: counting([8], 1000),
    "_routing_fn.fc.weight": counting([3, 4], 2000),
    "_routing_fn.fc.bias": counting([3], 3000),
  });
  assert.deepEqual(weights.expertKernels, counting([3, 8, 4, 3, 3]).data);
  assert.deepEqual([...weights.bias!], [...counting([8], 1000).data]);
  assert.deepEqual([...weights.routingWeight!], [...counting([3, 4], 2000).data]);
  assert.deepEqual([...weights.routingBias!], [3000, 3001, 3002]);
  assert.deepEqual(roundedToFloat32, []);
});

Deno.test("weightsFromLayout: timm's flat (E, O*C/g*kh*kw) rows are (O, C/g, kh, kw)", () => {
  const spec = { ...base, groups: 2, bias: "perExpert", routing: { kind: "supplied" } } as const;
  const { weights } = convert("timm", spec, {
    weight: counting([3, 8 * 2 * 9]),
    bias: counting([3, 8], 100),
  });
  assert.deepEqual(weights.expertKernels, counting([3, 8, 2, 3, 3]).data);
  assert.deepEqual(weights.bias, counting([3, 8], 100).data);
  assert.equal(weights.routingWeight, undefined);
  const routed = convert("timm", { ...spec, routing: { kind: "sigmoid" } }, {
    "blk.weight": counting([3, 144]),
    "blk.bias": counting([3, 8]),
    "blk.routing_fn.weight": counting([3, 4], 50),
    "blk.routing_fn.bias": counting([3]),
    "other.weight": counting([1]),
  }, "blk.");
  assert.deepEqual(routed.weights.routingWeight, counting([3, 4], 50).data);
});

Deno.test("weightsFromLayout: TensorFlow (kh, kw, C, O) kernels and Dense routing", () => {
  const spec: CondConvSpecInput = {
    inChannels: 2,
    outChannels: 3,
    kernelSize: [2, 1],
    numExperts: 2,
    bias: "perExpert",
  };
  const { weights } = convert("tensorflow", spec, {
    condconv_kernel: counting([2, 2 * 1 * 2 * 3]),
    condconv_bias: counting([2, 3]),
    "routing_fn/kernel": counting([2, 2], 10), // (C, E): [[10, 11], [12, 13]]
    "routing_fn/bias": counting([2]),
  });
  // element [e, o, c, u, v] of ours is element [e, u, v, c, o] of TensorFlow's
  for (let e = 0; e < 2; e++) {
    for (let o = 0; o < 3; o++) {
      for (let c = 0; c < 2; c++) {
        for (let u = 0; u < 2; u++) {
          const ours = weights.expertKernels[(((e * 3 + o) * 2 + c) * 2 + u) * 1];
          assert.equal(ours, e * 12 + ((u * 1) * 2 + c) * 3 + o);
        }
      }
    }
  }
  assert.deepEqual([...weights.routingWeight!], [10, 12, 11, 13]); // (E, C)
});

Deno.test("weightsFromLayout: TensorFlow depthwise (kh, kw, C, M) gives channel c*M + m", () => {
  const spec = {
    inChannels: 2,
    outChannels: 4,
    groups: 2,
    kernelSize: 2,
    numExperts: 1,
    bias: "none",
    routing: { kind: "supplied" },
  } as const;
  for (const name of ["depthwise_condconv_kernel", "condconv_kernel"]) {
    const { weights } = convert("tensorflow", spec, { [name]: counting([1, 2 * 2 * 2 * 2]) });
    for (let c = 0; c < 2; c++) {
      for (let m = 0; m < 2; m++) {
        for (let u = 0; u < 2; u++) {
          for (let v = 0; v < 2; v++) {
            const ours = weights.expertKernels[((c * 2 + m) * 2 + u) * 2 + v];
            assert.equal(ours, ((u * 2 + v) * 2 + c) * 2 + m, `${name} c${c} m${m} u${u} v${v}`);
          }
        }
      }
    }
  }
  assert.deepEqual(
    [...tensorflowKernelToExperts(new Float32Array([1, 2, 3, 4]), 1, 2, 1, 1, 2, false)],
    [1, 3, 2, 4],
  );
});

Deno.test("weightsFromLayout lists float64 weights that float32 rounds", () => {
  const { roundedToFloat32, weights } = convert(
    "timm",
    { ...base, kernelSize: 1, bias: "none", routing: { kind: "supplied" } },
    { weight: { dtype: "F64", shape: [3, 32], data: new Float64Array(96).fill(0.1) } },
  );
  assert.deepEqual(roundedToFloat32, ["weight"]);
  assert.equal(weights.expertKernels[0], Math.fround(0.1));
});

Deno.test("weightsFromLayout: wrong names, shapes and specs are named", async (t) => {
  const reference = {
    weight: counting([3, 8, 4, 3, 3]),
    bias: counting([8]),
    "_routing_fn.fc.weight": counting([3, 4]),
    "_routing_fn.fc.bias": counting([3]),
  };
  const prefix = `Cannot load weights "${SOURCE}": `;
  const cases: [string, () => unknown, string][] = [
    [
      "a bias of the wrong shape",
      () => convert("reference", base, { ...reference, bias: counting([4, 8]) }),
      `${prefix}tensor "bias" has shape [4, 8] but layout "reference" with spec outChannels 8 ` +
      "needs [8]",
    ],
    [
      "a kernel of the wrong shape",
      () => convert("reference", base, { ...reference, weight: counting([3, 8, 4, 3]) }),
      `${prefix}tensor "weight" has shape [3, 8, 4, 3] but layout "reference" with spec ` +
      "numExperts 3, outChannels 8, inChannels 4, groups 1, kernelSize [3, 3] needs " +
      "[3, 8, 4, 3, 3]",
    ],
    [
      "a misspelled tensor",
      () => {
        const { "_routing_fn.fc.bias": _, ...rest } = reference;
        return convert("reference", base, { ...rest, "_routing_fn.fc.bais": counting([3]) });
      },
      `${prefix}tensor "_routing_fn.fc.bais" is not part of layout "reference" (its tensors: ` +
      `"weight", "bias", "_routing_fn.fc.weight", "_routing_fn.fc.bias")`,
    ],
    [
      "a missing tensor",
      () => {
        const { "_routing_fn.fc.bias": _, ...rest } = reference;
        return convert("reference", base, rest);
      },
      `${prefix}tensor "_routing_fn.fc.bias" is missing: layout "reference" with spec ` +
      "numExperts 3 needs it, shape [3]",
    ],
    [
      "a tensor the spec does not use",
      () => convert("reference", { ...base, bias: "none" }, reference),
      `${prefix}tensor "bias" is not used by layout "reference" with spec bias "none" and ` +
      `routing "sigmoid" (it uses "weight", "_routing_fn.fc.weight", "_routing_fn.fc.bias")`,
    ],
    [
      "a per-expert bias in the reference layout",
      () => convert("reference", { ...base, bias: "perExpert" }, reference),
      `${prefix}layout "reference" has one bias "bias" (O) shared by the experts: spec.bias ` +
      `must be "shared" or "none", got "perExpert"`,
    ],
    [
      "supplied routing in the reference layout",
      () => convert("reference", { ...base, routing: { kind: "supplied" } }, reference),
      `${prefix}layout "reference" computes its routing with a sigmoid ` +
      `("_routing_fn.fc.weight", "_routing_fn.fc.bias"): spec.routing.kind must be ` +
      `"sigmoid", got "supplied"`,
    ],
    [
      "a shared bias in the timm layout",
      () => convert("timm", base, { weight: counting([3, 288]) }),
      `${prefix}layout "timm" has a per-expert bias (E, O) mixed by the routing: spec.bias ` +
      `must be "perExpert" or "none", got "shared"`,
    ],
    [
      "a grouped TensorFlow convolution",
      () =>
        convert("tensorflow", { ...base, groups: 2, bias: "none" }, {
          condconv_kernel: counting([3, 144]),
        }),
      `${prefix}layout "tensorflow" has no grouped convolution: spec.groups must be 1 ` +
      "(CondConv2D) or inChannels 4 (DepthwiseCondConv2D), got 2",
    ],
    [
      "both TensorFlow kernels",
      () =>
        convert("tensorflow", { ...base, bias: "none" }, {
          condconv_kernel: counting([3, 288]),
          depthwise_condconv_kernel: counting([3, 36]),
        }),
      `${prefix}layout "tensorflow" holds one kernel, "condconv_kernel" (CondConv2D) or ` +
      `"depthwise_condconv_kernel" (DepthwiseCondConv2D), and the file has both`,
    ],
    [
      "an integer kernel",
      () =>
        weightsFromLayout(
          "timm",
          CondConvSpec.parse({
            ...base,
            kernelSize: 1,
            bias: "none",
            routing: { kind: "supplied" },
          }),
          new Map([["weight", {
            name: "weight",
            dtype: "I32",
            shape: [3, 32],
            bytes: new Uint8Array(384),
          }]]),
          SOURCE,
        ),
      `${prefix}tensor "weight" has dtype I32, expected a floating-point dtype (F16, BF16, ` +
      "F32, F64)",
    ],
  ];
  for (const [what, run, message] of cases) {
    await t.step(what, () => {
      assert.throws(run, { name: "TypeError", message });
    });
  }
});

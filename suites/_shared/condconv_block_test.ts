import assert from "node:assert/strict";
import { ADAPTERS } from "../../impls/registry.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { compareWithTruth, toleranceFor } from "../../condconv/tolerance.ts";
import { encodeSafetensors } from "../../condconv/formats/safetensors.ts";
import { loadCondConvBlock, parseCondConvBlock, runCondConvBlock } from "./condconv_block.ts";
import { hasTorch, runPython } from "../_testing/user_layer.ts";
import { knownFailure } from "../conform/known_failures.ts";
import { withTimeout } from "./calls.ts";

// Adapters keep backend state (wasm modules, GPU devices, workers) for the life of the
// process, by design; the op and resource sanitizers would count those as leaks.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;
const TIMEOUT_MS = 120_000;

Deno.test({
  name:
    "runCondConvBlock: one shared routing through expand, depthwise and project matches PyTorch",
  ...sanitizers,
  async fn(t) {
    if (!await hasTorch()) return;
    const dir = await Deno.makeTempDir({ prefix: "condconv-block-" });
    try {
      const blocks = [];
      for (const kernel of [3, 5]) {
        const path = `${dir}/block_dw${kernel}.safetensors`;
        await runPython([
          "scripts/condconv_block.py",
          "--out",
          path,
          "--dw-kernel",
          String(kernel),
        ]);
        blocks.push({ name: `block-dw${kernel}`, block: await loadCondConvBlock(path) });
      }
      for (const { block } of blocks) {
        assert.equal(block.layers.length, 3);
        assert.deepEqual(block.layers.map((l) => l.spec.routing.kind), [
          "supplied",
          "supplied",
          "supplied",
        ]);
      }
      const passed = new Set<string>();
      // Adapter after adapter, as conform runs them, known library bugs applied.
      for (const adapter of ADAPTERS) {
        const availability = await adapter.availability();
        if (!availability.available) {
          console.log(`skipped ${adapter.id}: ${availability.reason}`);
          continue;
        }
        for (const { name, block } of blocks) {
          await t.step(`${adapter.id} on ${name}`, async () => {
            const { output, routing } = await withTimeout(
              runCondConvBlock(adapter, block),
              TIMEOUT_MS,
              `${adapter.id} on ${name}`,
            );
            // The routing is computed once, from the block input, as PyTorch did.
            for (let i = 0; i < routing.length; i++) {
              assert.ok(Math.abs(routing[i] - block.routing[i]) <= 1e-7, `routing[${i}]`);
            }
            assert.deepEqual(output.shape, block.outputShape);
            const tolerance = toleranceFor(adapter.toleranceClass, block.torchFloat32MaxAbsErr);
            const comparison = compareWithTruth(output.data, block.output, tolerance);
            // A rule of suites/conform/known_failures.ts on any of the block's layers.
            const batch = block.input.shape[0];
            const known = block.layers.map((l) => knownFailure(adapter.id, { spec: l.spec, batch }))
              .find((k) => k !== undefined);
            if (known && !comparison.pass) {
              console.log(`known failure ${adapter.id} on ${name}: ${known.reason}`);
              return;
            }
            assert.ok(
              comparison.pass,
              `${adapter.id} on ${name}: max abs err ${comparison.maxAbsErr.toExponential(2)}, ` +
                `${comparison.worstRatio.toFixed(2)}x the tolerance (atol ${tolerance.atol})`,
            );
            passed.add(adapter.id);
          });
        }
      }
      assert.ok(passed.has(referenceAdapter.id), "the reference adapter must pass the block");
      const others = [...passed].filter((id) => id !== referenceAdapter.id);
      assert.ok(
        others.length >= 2,
        `at least two adapters besides the reference must run the block, ran: ${others}`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("parseCondConvBlock names the file and field of a bad block", () => {
  const f32 = (shape: number[]) => ({
    dtype: "F32" as const,
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
  });
  assert.throws(
    () => parseCondConvBlock(encodeSafetensors({ input: f32([1, 2, 3, 3]) }), "b.safetensors"),
    {
      name: "TypeError",
      message: `Cannot load block "b.safetensors": __metadata__ has no "block"`,
    },
  );
  const layer = {
    prefix: "conv_pw.",
    spec: {
      inChannels: 2,
      outChannels: 2,
      kernelSize: 1,
      numExperts: 2,
      bias: "none",
      routing: { kind: "sigmoid" },
    },
  };
  const bytes = encodeSafetensors(
    { input: f32([1, 2, 3, 3]), "conv_pw.weight": f32([2, 4]) },
    { block: JSON.stringify({ activation: "swish", layers: [layer] }) },
  );
  assert.throws(() => parseCondConvBlock(bytes, "b.safetensors"), {
    name: "TypeError",
    message: `Cannot load block "b.safetensors": layer "conv_pw." has routing "sigmoid": ` +
      `every layer takes the block's routing, so it must be "supplied"`,
  });
});

Deno.test("parseCondConvBlock refuses a claimed PyTorch error that dwarfs round-off", () => {
  const tensor = (dtype: "F32" | "F64", shape: number[], value: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = dtype === "F32" ? new Float32Array(n) : new Float64Array(n);
    return { dtype, shape, data: data.fill(value) };
  };
  const layer = {
    prefix: "conv_pw.",
    spec: { inChannels: 2, outChannels: 2, kernelSize: 1, numExperts: 2, bias: "none" },
  };
  const block = (torchFloat32MaxAbsErr: string) =>
    encodeSafetensors({
      input: tensor("F32", [1, 2, 3, 3], 0.5),
      "conv_pw.weight": tensor("F32", [2, 4], 0.25),
      "routing_fn.weight": tensor("F32", [2, 2], 0.125),
      "routing_fn.bias": tensor("F32", [2], 0),
      routing: tensor("F64", [1, 2], 0.5),
      // the claim is checked against the output's largest magnitude
      output: tensor("F64", [1, 2, 3, 3], 0.25),
    }, {
      block: JSON.stringify({
        activation: "swish",
        layers: [{ ...layer, spec: { ...layer.spec, routing: { kind: "supplied" } } }],
      }),
      torchFloat32MaxAbsErr,
    });
  // PyTorch's own round-off is trusted
  assert.equal(parseCondConvBlock(block("1e-8"), "b.safetensors").torchFloat32MaxAbsErr, 1e-8);
  for (const claim of ["10", "NaN", "-1"]) {
    assert.throws(() => parseCondConvBlock(block(claim), "b.safetensors"), {
      name: "TypeError",
      message: new RegExp(
        `^Cannot load block "b\\.safetensors": __metadata__ "torchFloat32MaxAbsErr" cannot be ` +
          `trusted: the claimed PyTorch float32 error ${claim} `,
      ),
    });
  }
});

import assert from "node:assert/strict";
import { ADAPTERS } from "../../impls/registry.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { parseSafetensors, tensorToFloat64 } from "../../condconv/formats/safetensors.ts";
import { loadWeightsFile, type UserLayer, WeightsFileError } from "./weights_file.ts";
import { checkUserLayer } from "../conform/run.ts";
import { hasTorch, PYTHON, runPython } from "../_testing/user_layer.ts";
import { editedReference, unavailableReference } from "../_testing/adapters.ts";
import { writeTinyLayerFile } from "../_testing/tiny_layer.ts";

// Adapters keep backend state (wasm modules, GPU devices, workers) for the life of the
// process, by design; the op and resource sanitizers would count those as leaks.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

Deno.test("loadWeightsFile names the file when it is missing or malformed", async () => {
  await assert.rejects(loadWeightsFile("/tmp/condconv-no-such-file.safetensors"), {
    name: "WeightsFileError",
    message: `Cannot load weights "/tmp/condconv-no-such-file.safetensors": file not found`,
  });
  const dir = await Deno.makeTempDir({ prefix: "condconv-weights-" });
  try {
    const path = `${dir}/bad.safetensors`;
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
    const error = await loadWeightsFile(path).then(
      () => assert.fail("should reject"),
      (e) => e,
    );
    assert.ok(error instanceof WeightsFileError);
    assert.ok(error.cause instanceof RangeError);
    assert.match(error.message, /^Cannot load weights ".*bad\.safetensors": the file is 3 bytes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkUserLayer: pass, fail, skip, each with its reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "condconv-weights-" });
  try {
    const layer = await loadWeightsFile(await writeTinyLayerFile(dir));
    assert.equal(layer.id, "tiny");
    const off = editedReference("off-by-one", (data) => data[5] += 1);
    const unavailable = unavailableReference("unavailable", "no GPU here");
    const results = await checkUserLayer([referenceAdapter, off, unavailable], layer);
    assert.deepEqual(results.map((r) => [r.adapter, r.case, r.status]), [
      ["reference", "tiny", "pass"],
      ["off-by-one", "tiny", "fail"],
      ["unavailable", "tiny", "skip"],
    ]);
    assert.equal(results[0].maxAbsErr, 0);
    assert.match(results[1].reason!, /^worst element 5: 3 vs truth 2, /);
    assert.equal(results[2].reason, "no GPU here");

    const withoutCheck: UserLayer = { ...layer, check: undefined };
    const [skipped] = await checkUserLayer([referenceAdapter], withoutCheck);
    assert.equal(skipped.status, "skip");
    assert.match(skipped.reason!, /has no check tensors/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interface Trainee {
  name: string;
  layout: string;
  prefix: string;
  stateDict: string;
  spec: string;
  checkInput: string;
  checkRouting?: string;
  native: string;
}

Deno.test({
  name: "round trip: train in PyTorch, export in each layout, every adapter matches PyTorch",
  ...sanitizers,
  async fn(t) {
    if (!await hasTorch()) return;
    const dir = await Deno.makeTempDir({ prefix: "condconv-roundtrip-" });
    try {
      const trainees: Trainee[] = JSON.parse(
        await runPython(["scripts/train_tiny_condconv.py", "--out-dir", dir]),
      );
      assert.deepEqual(trainees.map((x) => x.layout), [
        "reference",
        "timm",
        "tensorflow",
        "tensorflow",
      ]);
      const layers: { name: string; layer: UserLayer }[] = [];
      for (const trainee of trainees) {
        const out = `${dir}/${trainee.name}.safetensors`;
        const args = [
          "scripts/export_weights.py",
          trainee.stateDict,
          "--spec",
          trainee.spec,
          "--layout",
          trainee.layout,
          "--out",
          out,
          "--check-input",
          trainee.checkInput,
        ];
        if (trainee.prefix) args.push("--prefix", trainee.prefix);
        if (trainee.checkRouting) args.push("--check-routing", trainee.checkRouting);
        await runPython(args);
        const layer = await loadWeightsFile(out);
        assert.equal(layer.layout, trainee.layout);
        assert.equal(layer.layoutFrom, "metadata");
        assert.deepEqual(layer.roundedToFloat32, []);
        assert.ok(layer.check, `${trainee.name}: check tensors`);
        assert.equal(layer.check.torchErrorRecorded, true);
        assert.ok(layer.check.torchFloat32MaxAbsErr > 0);
        // The exported check output is what the trained module itself computes.
        const native = parseSafetensors(await Deno.readFile(trainee.native), trainee.native);
        const own = tensorToFloat64(native.tensors.get("output")!, trainee.native);
        assert.equal(own.length, layer.check.output.length);
        for (let i = 0; i < own.length; i++) {
          assert.ok(
            Math.abs(own[i] - layer.check.output[i]) <= 1e-12 * Math.max(1, Math.abs(own[i])),
            `${trainee.name}: check.output[${i}] ${layer.check.output[i]} vs the module's ${
              own[i]
            }`,
          );
        }
        layers.push({ name: trainee.name, layer });
      }

      // Adapter after adapter, as conform runs them, known library bugs applied.
      for (const adapter of ADAPTERS) {
        for (const { name, layer } of layers) {
          await t.step(`${adapter.id} on ${name}`, async () => {
            const [result] = await checkUserLayer([adapter], layer, { timeoutMs: 120_000 });
            if (result.status === "skip") {
              console.log(`skipped ${adapter.id}: ${result.reason}`);
              return;
            }
            // A rule of suites/conform/known_failures.ts turns a library's bug into known-fail.
            if (result.status === "known-fail") {
              console.log(`known failure ${adapter.id} on ${name}: ${result.reason}`);
              return;
            }
            assert.equal(
              result.status,
              "pass",
              `${adapter.id} on ${name}: ${result.reason ?? ""} (max abs err ` +
                `${result.maxAbsErr}, atol ${result.atol})`,
            );
          });
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "export_weights.py stops with exit 2 and the tensor at fault",
  ...sanitizers,
  async fn() {
    if (!await hasTorch()) return;
    const dir = await Deno.makeTempDir({ prefix: "condconv-export-" });
    try {
      // A timm-shaped state_dict exported as the reference layout.
      await runPython([
        "-c",
        "import sys, torch; torch.save({'weight': torch.zeros(3, 72), 'bias': torch.zeros(8), " +
        "'_routing_fn.fc.weight': torch.zeros(3, 4), '_routing_fn.fc.bias': torch.zeros(3)}, " +
        "sys.argv[1])",
        `${dir}/state.pt`,
      ]);
      const output = await new Deno.Command(PYTHON, {
        args: [
          "scripts/export_weights.py",
          `${dir}/state.pt`,
          "--spec",
          '{"inChannels": 4, "outChannels": 8, "kernelSize": 3}',
          "--layout",
          "reference",
          "--out",
          `${dir}/out.safetensors`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(output.code, 2);
      assert.equal(
        new TextDecoder().decode(output.stderr).trim(),
        `error: Cannot export layout "reference": tensor "weight" has shape [3, 72] but the ` +
          "spec (numExperts 3, outChannels 8, inChannels 4, groups 1, kernelSize [3, 3]) needs " +
          "[3, 8, 4, 3, 3]",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

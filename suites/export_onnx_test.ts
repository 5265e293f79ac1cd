import assert from "node:assert/strict";
import { defaultFormulation } from "../impls/_formulations/defaults.ts";
import { chooseFormulation, formulationProblem } from "../condconv/formats/onnx_graph.ts";
import {
  CONV_FORMULATIONS,
  INPUT_NAME,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
} from "../condconv/formats/onnx_graph.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import { TINY_INPUT, TINY_ROUTING, writeTinyLayerFile } from "./_testing/tiny_layer.ts";
import {
  checkFiniteWeights,
  exportCase,
  ExportInputError,
  parseBatch,
  parseSpecFile,
  parseWeightsFile,
  writeModel,
} from "./export_onnx.ts";
import { loadCaseTensors, loadFixtureSet, loadGolden } from "./_shared/fixtures.ts";

const PYTHON = "/usr/bin/python3";

/** Why the ONNX checker cannot run here, or `undefined` when it can. */
async function checkerUnavailable(): Promise<string | undefined> {
  try {
    const probe = await new Deno.Command(PYTHON, { args: ["-c", "import onnx"], stderr: "piped" })
      .output();
    if (!probe.success) {
      return `${PYTHON} cannot import onnx (install python3-onnx): ` +
        new TextDecoder().decode(probe.stderr).trim().split("\n").at(-1);
    }
    return undefined;
  } catch (error) {
    return `${PYTHON} cannot run: ${(error as Error).message}`;
  }
}

Deno.test({
  name: "export-onnx: every effnet-b0 layer passes the ONNX checker and matches its golden",
  // onnxruntime-web keeps its wasm instance for the process
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const set = await loadFixtureSet();
    const fixtures = set.fixtures.filter((f) => f.entry.id.startsWith("effnet-b0."));
    assert.equal(fixtures.length, 13);
    const dir = await Deno.makeTempDir({ prefix: "condconv-onnx-" });
    try {
      const exported: { path: string; id: string }[] = [];
      for (const fixture of fixtures) {
        for (const batch of ["dynamic", fixture.goldenCase.input.batch] as const) {
          const model = await exportCase(fixture.entry.id, { batch });
          const path = `${dir}/${fixture.entry.id}.${batch}.onnx`;
          await writeModel(path, model);
          exported.push({ path, id: fixture.entry.id });
        }
      }

      const unavailable = await checkerUnavailable();
      if (unavailable) {
        console.log(`ONNX checker step skipped: ${unavailable}`);
      } else {
        const result = await new Deno.Command(PYTHON, {
          args: ["scripts/check_onnx.py", ...exported.map((e) => e.path)],
        }).output();
        const stdout = new TextDecoder().decode(result.stdout);
        assert.ok(result.success, `the ONNX checker failed:\n${stdout}`);
        assert.equal(stdout.match(/^ok /gm)?.length, exported.length, stdout);
      }

      const ort = await import("onnxruntime-web/wasm");
      ort.env.wasm.numThreads = 1;
      for (const { path, id } of exported) {
        const fixture = fixtures.find((f) => f.entry.id === id)!;
        const { input } = await loadCaseTensors(fixture);
        const truth = await loadGolden(set, fixture);
        const session = await ort.InferenceSession.create(await Deno.readFile(path), {
          executionProviders: ["wasm"],
        });
        try {
          const feeds = { [INPUT_NAME]: new ort.Tensor("float32", input.data, [...input.shape]) };
          const output = (await session.run(feeds))[OUTPUT_NAME];
          assert.deepEqual(output.dims, fixture.entry.outputShape, path);
          const comparison = compareWithTruth(
            output.data as Float32Array,
            truth,
            toleranceFor("wasm", fixture.entry.torchFloat32.maxAbsErr),
          );
          assert.ok(comparison.pass, `${path}: ${comparison.worstRatio}x the tolerance`);
        } finally {
          await session.release();
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("export-onnx weights file: arrays and base64 float32 read alike", () => {
  const values = [0.5, -2, 3.25];
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  const base64 = btoa(String.fromCharCode(...bytes));
  const fromArrays = parseWeightsFile({ expertKernels: values, bias: [1] }, "w.json");
  const fromBase64 = parseWeightsFile({ expertKernels: base64, bias: [1] }, "w.json");
  assert.deepEqual(fromArrays.expertKernels, Float32Array.from(values));
  assert.deepEqual(fromBase64.expertKernels, Float32Array.from(values));
  assert.deepEqual(fromBase64.bias, Float32Array.from([1]));
});

Deno.test("export-onnx weights and spec files: errors name the file and the field", () => {
  assert.throws(
    () => parseWeightsFile({ expertKernels: [1], bias: "not base64!" }, "w.json"),
    (error: Error) =>
      error instanceof ExportInputError && /"w\.json"/.test(error.message) &&
      /bias/.test(error.message),
  );
  assert.throws(
    () => parseWeightsFile({ expertKernels: [1], kernels: [1] }, "w.json"),
    { name: "ExportInputError", message: /kernels/ },
  );
  assert.throws(
    () => parseWeightsFile({ expertKernels: btoa("abc") }, "w.json"),
    { name: "ExportInputError", message: /"expertKernels" decodes to 3 bytes/ },
  );
  assert.throws(
    () => parseSpecFile({ inChannels: 4, outChannels: 6, kernelSize: 3, groups: 4 }, "s.json"),
    { name: "ExportInputError", message: /"s\.json"[\s\S]*groups/ },
  );
  assert.throws(
    () => parseSpecFile({ inChannels: 4, outChannels: 8 }, "s.json"),
    { name: "ExportInputError", message: /kernelSize/ },
  );
});

Deno.test("export-onnx --batch: a positive integer or dynamic", () => {
  assert.equal(parseBatch("dynamic"), "dynamic");
  assert.equal(parseBatch("8"), 8);
  assert.throws(() => parseBatch("0"), { name: "UsageError", message: /--batch "0"/ });
  assert.throws(() => parseBatch("two"), { name: "UsageError" });
});

/** Runs `deno task export-onnx`'s entry with `args`; its exit code, stdout and stderr. */
async function exportOnnx(...args: string[]) {
  return await exportOnnxWith(["--allow-read=.,/tmp", "--allow-write=/tmp"], ...args);
}

/** The same with other permissions (the task's own: read and write `.`). */
async function exportOnnxWith(permissions: string[], ...args: string[]) {
  const result = await new Deno.Command("deno", {
    args: ["run", ...permissions, "suites/export_onnx.ts", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    stdout: decoder.decode(result.stdout),
    stderr: decoder.decode(result.stderr),
  };
}

Deno.test("export-onnx --out <folder> or outside the project: a clear error first, no stack", async () => {
  const dir = await Deno.makeTempDir({ prefix: "condconv-onnx-out-" });
  try {
    const { code, stderr } = await exportOnnx("--case", "control", "--out", dir);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error: Cannot write --out ".*": it is a folder; name the model file/);
    assert.doesNotMatch(stderr, /\n\s+at /, "a stack trace was printed");
    assert.deepEqual([...Deno.readDirSync(dir)], [], "something was written");
    // with the task's permissions, a path outside the project is refused the same way
    const outside = await exportOnnxWith(
      ["--allow-read=.", "--allow-write=."],
      "--case",
      "control",
      "--out",
      `${dir}/model.onnx`,
    );
    assert.equal(outside.code, 2, outside.stderr);
    assert.match(outside.stderr, /^error: Cannot write --out ".*": this task may read only inside/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export-onnx writes atomically: the old model is replaced whole, no partial file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "condconv-onnx-atomic-" });
  try {
    const path = `${dir}/model.onnx`;
    await Deno.writeTextFile(path, "old");
    const model = await exportCase("control", { batch: 1 });
    await writeModel(path, model);
    assert.deepEqual(await Deno.readFile(path), model.bytes);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["model.onnx"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export-onnx weights: float32 overflow and non-finite values are refused, named", () => {
  assert.throws(
    () => parseWeightsFile({ expertKernels: [0.5, 1e39] }, "w.json"),
    {
      name: "ExportInputError",
      message: /"w\.json": "expertKernels"\[1\] is 1e\+39, beyond float32's range/,
    },
  );
  // the largest float32 itself is fine
  parseWeightsFile({ expertKernels: [3.4028234663852886e38] }, "w.json");
  const nan = btoa(String.fromCharCode(...new Uint8Array(new Float32Array([1, NaN]).buffer)));
  const weights = parseWeightsFile({ expertKernels: [1], routingBias: nan }, "w.json");
  assert.throws(
    () => checkFiniteWeights(weights, "w.json"),
    { name: "ExportInputError", message: /weight "routingBias"\[1\] is NaN/ },
  );
});

Deno.test("export-onnx --weights is the safetensors file conform and bench take", async () => {
  const dir = await Deno.makeTempDir({ prefix: "condconv-onnx-weights-" });
  try {
    const input = TINY_INPUT;
    const layer = await writeTinyLayerFile(dir);
    const out = `${dir}/tiny.onnx`;
    const run = await exportOnnx("--weights", layer, "--batch", "1", "--out", out);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /input \[1,2,2,2\], output \[1,2,2,2\]/);
    const ort = await import("onnxruntime-web/wasm");
    const session = await ort.InferenceSession.create(await Deno.readFile(out));
    try {
      const output = await session.run({
        [INPUT_NAME]: new ort.Tensor("float32", input, [1, 2, 2, 2]),
        routing: new ort.Tensor("float32", TINY_ROUTING, [1, 2]),
      });
      assert.deepEqual(output[OUTPUT_NAME].data, input); // (0.5 I + 0.25 * 2I) x = x
    } finally {
      await session.release();
    }
    // the old form, a JSON file behind --weights, is told where it goes now
    const old = await exportOnnx("--spec", "s.json", "--weights", "w.json", "--out", out);
    assert.equal(old.code, 2);
    assert.match(old.stderr, /--json-weights/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("export-onnx --webgpu-workaround: the Conv the WebGPU EP gets wrong is changed", async () => {
  const plain = await exportCase("channels-3-5-batch-2", { batch: 2 });
  const changed = await exportCase("channels-3-5-batch-2", { batch: 2, workarounds: true });
  assert.equal(plain.convBug, "grouped-vector-straddles-groups");
  assert.equal(plain.workaround, null);
  assert.deepEqual(changed.workaround, {
    zeroRowOnTop: false,
    channelsPerGroup: 3,
    outChannelsPerGroup: 8,
  });
});

Deno.test({
  name: "export-onnx --formulation: each formulation's model runs on onnxruntime-web wasm and " +
    "matches the golden; an impossible one is refused with the reason",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const help = await exportOnnx("--help");
    for (const name of CONV_FORMULATIONS) assert.match(help.stdout, new RegExp(`\\b${name}\\b`));
    const set = await loadFixtureSet();
    const ort = await import("onnxruntime-web/wasm");
    ort.env.wasm.numThreads = 1;
    const dir = await Deno.makeTempDir({ prefix: "condconv-onnx-formulation-" });
    try {
      for (const id of ["channels-3-5-batch-2", "routing-supplied", "effnet-b0.dw3-1152-7"]) {
        const fixture = set.fixtures.find((f) => f.entry.id === id)!;
        assert.ok(fixture, id);
        const { spec, input: { batch } } = fixture.goldenCase;
        const tensors = await loadCaseTensors(fixture);
        const truth = await loadGolden(set, fixture);
        const tolerance = toleranceFor("wasm", fixture.entry.torchFloat32.maxAbsErr);
        for (const formulation of CONV_FORMULATIONS) {
          const path = `${dir}/${id}.${formulation}.onnx`;
          // per-example's model is for batch 1 (its default); the others for the case's batch
          const args = formulation === "per-example" ? [] : ["--batch", String(batch)];
          const run = await exportOnnx(
            "--case",
            id,
            "--formulation",
            formulation,
            ...args,
            "--out",
            path,
          );
          if (formulation === "depthwise-folded" && spec.groups !== spec.inChannels) {
            assert.equal(run.code, 2, run.stderr);
            assert.match(run.stderr, /depthwise-folded" needs groups == inChannels/);
            continue;
          }
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stdout, new RegExp(`${formulation}, input \\[`));
          const session = await ort.InferenceSession.create(await Deno.readFile(path), {
            executionProviders: ["wasm"],
          });
          try {
            const examples = formulation === "per-example" ? batch : 1;
            const perRun = batch / examples;
            const inSize = tensors.input.data.length / examples;
            const output: number[] = [];
            for (let i = 0; i < examples; i++) {
              const shape = [perRun, ...tensors.input.shape.slice(1)];
              const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
                [INPUT_NAME]: new ort.Tensor(
                  "float32",
                  tensors.input.data.slice(i * inSize, (i + 1) * inSize),
                  shape,
                ),
              };
              if (tensors.routingWeights) {
                const e = spec.numExperts;
                feeds[ROUTING_INPUT_NAME] = new ort.Tensor(
                  "float32",
                  tensors.routingWeights.slice(i * perRun * e, (i + 1) * perRun * e),
                  [perRun, e],
                );
              }
              output.push(...((await session.run(feeds))[OUTPUT_NAME].data as Float32Array));
            }
            const comparison = compareWithTruth(Float32Array.from(output), truth, tolerance);
            assert.ok(
              comparison.pass,
              `${id} ${formulation}: ${comparison.worstRatio}x the tolerance`,
            );
          } finally {
            await session.release();
          }
        }
      }
      const refusals: [string, RegExp][] = [
        ["im2col", /Invalid --formulation "im2col": expected one of batched-matmul/],
        ["grouped", /cannot have a dynamic batch/],
      ];
      for (const [formulation, message] of refusals) {
        const args = ["--case", "channels-3-5-batch-2", "--formulation", formulation];
        const refused = await exportOnnx(...args, "--out", `${dir}/x.onnx`);
        assert.equal(refused.code, 2);
        assert.match(refused.stderr, message);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("export-onnx at a fixed batch takes ort-wasm's measured default for that batch, else the rule", async () => {
  const fixtures = (await loadFixtureSet()).fixtures;
  let fromTable = 0;
  for (const id of ["effnet-b0.expand-80-480-14", "effnet-b0.dw5-672-14", "kitchen-sink"]) {
    const fixture = fixtures.find((f) => f.entry.id === id)!;
    const { spec } = fixture.goldenCase;
    const { height, width } = fixture.goldenCase.input;
    for (const batch of [1, 8]) {
      const size = { batch, inHeight: height, inWidth: width };
      const choice = defaultFormulation(
        "ort-wasm",
        spec,
        size,
        () => chooseFormulation(spec),
        (f) => formulationProblem(spec, f, batch),
      );
      if (choice.from === "table") fromTable++;
      const model = await exportCase(id, { batch });
      assert.equal(model.formulation, choice.formulation, `${id} at batch ${batch}`);
      const forced = await exportCase(id, { batch, formulation: "batched-matmul" });
      assert.equal(forced.formulation, "batched-matmul", "a formulation given wins");
    }
    const dynamic = await exportCase(id, { batch: "dynamic" });
    assert.equal(dynamic.formulation, "batched-matmul", "a dynamic batch keeps batched-matmul");
  }
  assert.ok(fromTable > 0, "the committed table has ort-wasm cells for effnet-b0 layers");
});

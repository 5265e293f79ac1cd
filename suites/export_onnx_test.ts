import assert from "node:assert/strict";
import { INPUT_NAME, OUTPUT_NAME } from "../condconv/formats/onnx_graph.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";
import {
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
          const model = await exportCase(fixture.entry.id, batch);
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

/**
 * `deno task export-onnx`: writes one CondConv layer as an ONNX model (`condconv/formats/onnx_graph.ts`).
 *
 * ```
 * deno task export-onnx --case <golden case id> --out model.onnx [--batch <n>|dynamic]
 *   [--formulation grouped-conv|im2col-matmul]
 * deno task export-onnx --spec spec.json --weights weights.json --height 14 --width 14
 *   --out model.onnx [--batch <n>|dynamic] [--formulation ...]
 * ```
 * With `--case`, the weights are the golden case's, generated from its seed and checked
 * against the manifest (`suites/_shared/fixtures.ts`), and the input size is the case's. With
 * `--spec`, the spec file is a CondConv spec as `condconv/spec.ts` describes it, and the
 * weights file an object with `expertKernels` and, as the spec needs them, `bias`,
 * `routingWeight` and `routingBias`, each a flat array of numbers or a base64 string of
 * little-endian float32 values, in the layouts of the spec's module doc.
 *
 * `--batch` defaults to `dynamic` (a symbolic batch dimension, formulation `im2col-matmul`);
 * a number makes a fixed-batch model, by default in the formulation measured faster for the
 * kernel (`chooseFormulation`: `im2col-matmul` for 1x1, `grouped-conv` otherwise). The
 * experts are mixed with one `MatMul`.
 *
 * Permissions: the task reads `.` only (spec and weights files must be inside the project)
 * and has `--allow-write` without a path, because the output path is the user's choice and a
 * task's permissions are fixed before the flags are read.
 *
 * Exit status: 0 when written, 2 on a bad flag or file.
 * @module
 */
import { z } from "zod";
import {
  buildCondConvOnnx,
  type CondConvOnnxModel,
  type ConvFormulation,
  ONNX_OPSET,
} from "../condconv/formats/onnx_graph.ts";
import { CondConvSpec, type CondConvWeights } from "../condconv/spec.ts";
import { parseFlags, runMain, selectByIds, UsageError } from "./_shared/cli.ts";
import { FixtureError, loadCaseTensors, loadFixtureSet } from "./_shared/fixtures.ts";

/** A bad spec or weights file; the message names the file and the field at fault. */
export class ExportInputError extends Error {
  override name = "ExportInputError";
}

const FloatTensor = z.union([
  z.array(z.number()),
  z.base64({ message: "expected an array of numbers or a base64 string of float32 values" }),
]);

/** The weights file: each tensor a flat array or base64 little-endian float32. */
export const WeightsFile = z.strictObject({
  expertKernels: FloatTensor,
  bias: FloatTensor.optional(),
  routingWeight: FloatTensor.optional(),
  routingBias: FloatTensor.optional(),
});
/** `WeightsFile` after parsing. */
export type WeightsFile = z.infer<typeof WeightsFile>;

function decodeTensor(value: number[] | string, name: string, path: string): Float32Array {
  if (Array.isArray(value)) return Float32Array.from(value);
  const binary = atob(value);
  if (binary.length % 4 !== 0) {
    throw new ExportInputError(
      `Cannot read weights file "${path}": "${name}" decodes to ${binary.length} bytes, ` +
        "not a whole number of float32 values",
    );
  }
  const view = new DataView(new ArrayBuffer(binary.length));
  for (let i = 0; i < binary.length; i++) view.setUint8(i, binary.charCodeAt(i));
  const out = new Float32Array(binary.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Parses a weights file's JSON value into tensors; throws `ExportInputError` naming fields. */
export function parseWeightsFile(value: unknown, path: string): CondConvWeights {
  const parsed = WeightsFile.safeParse(value);
  if (!parsed.success) {
    throw new ExportInputError(
      `Cannot read weights file "${path}":\n${z.prettifyError(parsed.error)}`,
    );
  }
  const weights: CondConvWeights = {
    expertKernels: decodeTensor(parsed.data.expertKernels, "expertKernels", path),
  };
  for (const name of ["bias", "routingWeight", "routingBias"] as const) {
    const tensor = parsed.data[name];
    if (tensor !== undefined) weights[name] = decodeTensor(tensor, name, path);
  }
  return weights;
}

/** Parses a spec file's JSON value; throws `ExportInputError` naming the field at fault. */
export function parseSpecFile(value: unknown, path: string): CondConvSpec {
  const parsed = CondConvSpec.safeParse(value);
  if (!parsed.success) {
    throw new ExportInputError(
      `Cannot read spec file "${path}":\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ExportInputError(`Cannot read ${what} file "${path}": ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ExportInputError(
      `Cannot read ${what} file "${path}": invalid JSON: ${(error as Error).message}`,
    );
  }
}

/** A `--batch` value: a positive integer or `"dynamic"`. */
export function parseBatch(text: string): number | "dynamic" {
  if (text === "dynamic") return "dynamic";
  const batch = Number(text);
  if (!Number.isInteger(batch) || batch < 1) {
    throw new UsageError(`Invalid --batch "${text}": expected a positive integer or "dynamic"`);
  }
  return batch;
}

function parseFormulation(text: string | undefined): ConvFormulation | undefined {
  if (text === undefined || text === "grouped-conv" || text === "im2col-matmul") return text;
  throw new UsageError(
    `Invalid --formulation "${text}": expected "grouped-conv" or "im2col-matmul"`,
  );
}

function parseSize(text: string | undefined, flag: string): number {
  if (text === undefined) {
    throw new UsageError(`Missing --${flag}: --spec needs the input's height and width`);
  }
  const size = Number(text);
  if (!Number.isInteger(size) || size < 1) {
    throw new UsageError(`Invalid --${flag} "${text}": expected a positive integer`);
  }
  return size;
}

/** Writes `model` to `path`, making its folder. */
export async function writeModel(path: string, model: CondConvOnnxModel): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
  await Deno.writeFile(path, model.bytes);
}

/** The model of a golden case: its spec, seeded weights and input size. */
export async function exportCase(
  caseId: string,
  batch: number | "dynamic",
  formulation?: ConvFormulation,
  fixturesDir?: string,
): Promise<CondConvOnnxModel> {
  const set = await loadFixtureSet(fixturesDir);
  const matches = selectByIds(
    set.fixtures.map((f) => ({ ...f, id: f.entry.id })),
    [caseId],
    "case",
  );
  if (matches.length !== 1) {
    throw new UsageError(
      `Ambiguous --case "${caseId}": it matches ${matches.length} cases ` +
        `(${matches.slice(0, 4).map((m) => m.id).join(", ")}, ...); name one`,
    );
  }
  const [fixture] = matches;
  const { weights } = await loadCaseTensors(fixture);
  const { height, width } = fixture.goldenCase.input;
  return buildCondConvOnnx(fixture.goldenCase.spec, weights, {
    height,
    width,
    batch,
    formulation,
  });
}

/** Runs `build`, turning the builder's `TypeError`s and `RangeError`s into `ExportInputError`s. */
async function asInputError<T>(source: string, build: () => Promise<T>): Promise<T> {
  try {
    return await build();
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new ExportInputError(`Cannot export ${source}: ${error.message}`);
    }
    throw error;
  }
}

const USAGE =
  `deno task export-onnx --case <id> --out <path> [--batch <n>|dynamic] [--formulation f]
deno task export-onnx --spec <spec.json> --weights <weights.json> --height <h> --width <w>
                      --out <path> [--batch <n>|dynamic] [--formulation f]

Writes one CondConv layer as an ONNX model (opset ${ONNX_OPSET}).
  --case         a golden case id from fixtures/cases.json (weights from its seed)
  --spec         a CondConv spec (JSON); with --weights, --height and --width
  --weights      {"expertKernels": [...] | "<base64 float32>", "bias", "routingWeight", ...}
  --batch        a batch size, or "dynamic" (the default)
  --formulation  "grouped-conv" (fixed batch only) or "im2col-matmul"
  --out          where to write the model`;

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    case: { type: "string" },
    spec: { type: "string" },
    weights: { type: "string" },
    height: { type: "string" },
    width: { type: "string" },
    batch: { type: "string", default: "dynamic" },
    formulation: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (!flags.out) throw new UsageError("Missing --out: name the file to write the model to");
  const batch = parseBatch(flags.batch);
  const formulation = parseFormulation(flags.formulation);
  let model: CondConvOnnxModel;
  let source: string;
  if (flags.case !== undefined) {
    if (flags.spec !== undefined || flags.weights !== undefined) {
      throw new UsageError("Cannot combine --case with --spec or --weights: pass one source");
    }
    model = await asInputError(
      `case "${flags.case}"`,
      () => exportCase(flags.case!, batch, formulation),
    );
    source = `case "${flags.case}"`;
  } else if (flags.spec !== undefined && flags.weights !== undefined) {
    const spec = parseSpecFile(await readJsonFile(flags.spec, "spec"), flags.spec);
    const weights = parseWeightsFile(await readJsonFile(flags.weights, "weights"), flags.weights);
    const height = parseSize(flags.height, "height");
    const width = parseSize(flags.width, "width");
    source = `spec "${flags.spec}", weights "${flags.weights}"`;
    model = await asInputError(
      source,
      () =>
        Promise.resolve(buildCondConvOnnx(spec, weights, { height, width, batch, formulation })),
    );
  } else {
    throw new UsageError("Missing input: pass --case <id>, or --spec and --weights");
  }
  await writeModel(flags.out, model);
  console.log(
    `export-onnx: ${source} -> ${flags.out} (${model.bytes.length} bytes, opset ${ONNX_OPSET}, ` +
      `${model.formulation}, input [${model.inputShape}], output [${model.outputShape}])`,
  );
  return 0;
}

if (import.meta.main) await runMain(main, [FixtureError, ExportInputError]);

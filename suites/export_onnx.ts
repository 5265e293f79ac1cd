/**
 * `deno task export-onnx`: writes one CondConv layer as an ONNX model (`condconv/formats/onnx_graph.ts`).
 *
 * ```
 * deno task export-onnx --case <golden case id> --out model.onnx [--batch <n>|dynamic]
 * deno task export-onnx --weights layer.safetensors --out model.onnx [--height h --width w]
 * deno task export-onnx --spec spec.json --json-weights weights.json --height 14 --width 14
 *   --out model.onnx
 *   (each also takes [--batch <n>|dynamic] [--formulation <name>] [--webgpu-workaround])
 * ```
 * With `--case`, the weights are the golden case's, generated from its seed and checked
 * against the manifest (`suites/_shared/fixtures.ts`), and the input size is the case's. With
 * `--weights`, the layer is the same safetensors file `conform --weights` and `bench
 * --weights` take (`condconv/formats/user_layer.ts`: spec in its metadata, any of its weight
 * layouts); the input size defaults to its check input's. With `--spec`, the spec file is a
 * CondConv spec as `condconv/spec.ts` describes it, and the `--json-weights` file an object
 * with `expertKernels` and, as the spec needs them, `bias`, `routingWeight` and
 * `routingBias`, each a flat array of numbers or a base64 string of little-endian float32
 * values, in the layouts of the spec's module doc. Every weight must be a finite float32:
 * a value that overflows float32 (1e39) or is not finite is refused, naming the tensor.
 *
 * `--batch` defaults to `dynamic` (a symbolic batch dimension, formulation `batched-matmul`);
 * a number makes a fixed-batch model, by default in the formulation the `ort-wasm` adapter
 * takes for that batch and input size (`ort-webgpu`'s with `--webgpu-workaround`): the
 * measured defaults table's (`impls/_formulations/table.ts`) where it has the layer's cell
 * and that formulation builds a model of that batch, else `chooseFormulation`'s rule
 * (`batched-matmul` for 1x1, `grouped` otherwise, `depthwise-folded` for a depthwise layer). `--formulation` forces one of the
 * project's formulation axis (`condconv/formats/onnx_graph.ts`): `batched-matmul` and
 * `expert-sum` take any batch, `grouped` and `depthwise-folded` (depthwise layers only) a
 * fixed one, and `per-example` is the batch-1 model a caller runs once per example (its
 * `--batch` defaults to 1 and must be 1). A formulation the layer cannot take is refused with
 * the reason (exit 2). The experts are mixed with one `MatMul`. `--webgpu-workaround` builds a `Conv` node that
 * onnxruntime-web 1.30's WebGPU EP would compute wrong so that it does not (zero channels or a
 * zero kernel row, the same numbers everywhere; `condconv/formats/onnx_graph_conv_bugs.ts`),
 * as the `ort-webgpu` adapter does.
 *
 * The model is written atomically (a temporary file in the same folder, then a rename), so an
 * interrupted export never leaves a truncated model; `--out` naming a folder is refused
 * before any work.
 *
 * Permissions: the task reads and writes `.` only: input files and the model must be inside
 * the project (the atomic rename needs read and write access to the model's folder); a path
 * outside is refused up front with the flag named.
 *
 * Exit status: 0 when written, 2 on a bad flag or file.
 * @module
 */
import { z } from "zod";
import {
  buildCondConvOnnx,
  chooseFormulation,
  type CondConvOnnxModel,
  CONV_FORMULATIONS,
  type ConvFormulation,
  formulationProblem,
  ONNX_OPSET,
} from "../condconv/formats/onnx_graph.ts";
import { defaultFormulation } from "../impls/_formulations/defaults.ts";
import { CondConvSpec, type CondConvWeights } from "../condconv/spec.ts";
import { parseUserLayer, type UserLayer } from "../condconv/formats/user_layer.ts";
import { parseTaskFlags, runMain, selectByIds, UsageError } from "./_shared/cli.ts";
import { FixtureError, loadCaseTensors, loadFixtureSet } from "./_shared/fixtures.ts";

/** The largest finite float32. */
const MAX_FLOAT32 = 3.4028234663852886e38;

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
  if (Array.isArray(value)) {
    const i = value.findIndex((v) => !Number.isFinite(Math.fround(v)));
    if (i >= 0) {
      throw new ExportInputError(
        `Cannot read weights file "${path}": "${name}"[${i}] is ${value[i]}, beyond float32's ` +
          `range (largest ${MAX_FLOAT32}): it would become Infinity`,
      );
    }
    return Float32Array.from(value);
  }
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

/**
 * Checks that every weight is a finite float32 (base64 and safetensors inputs can hold NaN or
 * Infinity); throws an `ExportInputError` naming the tensor and the index.
 */
export function checkFiniteWeights(weights: CondConvWeights, source: string): void {
  for (const [name, tensor] of Object.entries(weights)) {
    const i = (tensor as Float32Array).findIndex((v) => !Number.isFinite(v));
    if (i >= 0) {
      throw new ExportInputError(
        `Cannot export ${source}: weight "${name}"[${i}] is ${tensor[i]}; every weight must ` +
          "be a finite float32",
      );
    }
  }
}

/**
 * Reads a user's layer from the safetensors file that `conform --weights` and `bench
 * --weights` take; throws an `ExportInputError` naming the file and what is wrong.
 */
export async function loadLayerFile(path: string): Promise<UserLayer> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
    throw new ExportInputError(`Cannot read --weights "${path}": ${why}`);
  }
  try {
    return parseUserLayer(bytes, path);
  } catch (error) {
    asInputError("", error); // its message names the file
  }
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

/** A `--formulation` value: one of the ONNX graph's formulations. */
export function parseFormulation(text: string | undefined): ConvFormulation | undefined {
  if (text === undefined) return undefined;
  const known = CONV_FORMULATIONS.find((f) => f === text);
  if (known) return known;
  throw new UsageError(
    `Invalid --formulation "${text}": expected one of ${CONV_FORMULATIONS.join(", ")}`,
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

/**
 * Refuses, before any work, an `--out` path this task may not read and write (the atomic
 * rename needs both) or that is a folder (or ends with "/").
 */
export async function checkOutPath(path: string): Promise<void> {
  if (path === "") throw new UsageError("Invalid --out: the path is empty");
  for (const name of ["read", "write"] as const) {
    if ((await Deno.permissions.query({ name, path })).state !== "granted") {
      throw new UsageError(
        `Cannot write --out "${path}": this task may ${name} only inside the project folder ` +
          "(its --allow-read and --allow-write); choose a path there",
      );
    }
  }
  const info = await Deno.stat(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  if (path.endsWith("/") || info?.isDirectory) {
    throw new UsageError(
      `Cannot write --out "${path}": it is a folder; name the model file, for example ` +
        `"${path.replace(/\/+$/, "")}/model.onnx"`,
    );
  }
}

/**
 * Writes `model` to `path` atomically, making its folder: the bytes go to a temporary file
 * beside it, renamed over `path` once complete, so an interrupted export leaves the old file
 * (or none), never a truncated model.
 */
export async function writeModel(path: string, model: CondConvOnnxModel): Promise<void> {
  await checkOutPath(path);
  const slash = path.lastIndexOf("/");
  const dir = slash > 0 ? path.slice(0, slash) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const partial = await Deno.makeTempFile({ dir, prefix: ".export-onnx-", suffix: ".partial" });
  try {
    await Deno.writeFile(partial, model.bytes);
    await Deno.rename(partial, path);
  } catch (error) {
    await Deno.remove(partial).catch(() => {});
    throw error;
  }
}

/** How a model is built, whatever its source. */
export interface ExportOptions {
  batch: number | "dynamic";
  formulation?: ConvFormulation;
  /** avoid onnxruntime-web 1.30's WebGPU Conv bug (`--webgpu-workaround`) */
  workarounds?: boolean;
}

/** The model of a golden case: its spec, seeded weights and input size. */
export async function exportCase(
  caseId: string,
  options: ExportOptions,
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
  const spec = fixture.goldenCase.spec;
  return buildCondConvOnnx(spec, weights, {
    height,
    width,
    ...withDefaultFormulation(spec, { height, width }, options),
  });
}

/**
 * `options` with the formulation a fixed-batch model takes by default: the measured table's
 * for `ort-wasm` (`ort-webgpu` with `--webgpu-workaround`) at that batch and input size
 * (`impls/_formulations/`), where the table has the layer's cell and the formulation can build
 * a model of that batch, else `chooseFormulation`'s rule. A dynamic batch keeps the builder's
 * default (`batched-matmul`), as does a formulation given.
 */
export function withDefaultFormulation(
  spec: CondConvSpec,
  size: { height: number; width: number },
  options: ExportOptions,
): ExportOptions {
  const { batch } = options;
  if (options.formulation !== undefined || batch === "dynamic") return options;
  const { formulation } = defaultFormulation(
    options.workarounds ? "ort-webgpu" : "ort-wasm",
    spec,
    { batch, inHeight: size.height, inWidth: size.width },
    () => chooseFormulation(spec),
    (f) => formulationProblem(spec, f, batch),
  );
  return { ...options, formulation };
}

/**
 * Builds the model of `spec` and `weights` for an input of `height` x `width`, after checking
 * every weight is a finite float32; the builder's `TypeError`s and `RangeError`s become
 * `ExportInputError`s naming `source`.
 */
export function exportLayer(
  source: string,
  spec: CondConvSpec,
  weights: CondConvWeights,
  size: { height: number; width: number },
  options: ExportOptions,
): CondConvOnnxModel {
  checkFiniteWeights(weights, source);
  try {
    return buildCondConvOnnx(spec, weights, {
      ...size,
      ...withDefaultFormulation(spec, size, options),
    });
  } catch (error) {
    asInputError(`Cannot export ${source}: `, error);
  }
}

/**
 * Throws a builder's or parser's `TypeError` or `RangeError` as an `ExportInputError`, its
 * message after `prefix`; any other error as it is.
 */
function asInputError(prefix: string, error: unknown): never {
  if (error instanceof TypeError || error instanceof RangeError) {
    throw new ExportInputError(`${prefix}${error.message}`, { cause: error });
  }
  throw error;
}

/** The input size: the flags, else the size `fallback` gives, else a usage error. */
function inputSize(
  flags: { height?: string; width?: string },
  fallback?: readonly number[],
): { height: number; width: number } {
  if (fallback && flags.height === undefined && flags.width === undefined) {
    return { height: fallback[2], width: fallback[3] };
  }
  return { height: parseSize(flags.height, "height"), width: parseSize(flags.width, "width") };
}

const USAGE = `deno task export-onnx --case <id> --out <path> [options]
deno task export-onnx --weights <layer.safetensors> --out <path> [--height h --width w] [options]
deno task export-onnx --spec <spec.json> --json-weights <weights.json> --height <h> --width <w>
                      --out <path> [options]
options: [--batch N|dynamic] [--formulation NAME] [--webgpu-workaround]

Writes one CondConv layer as an ONNX model (opset ${ONNX_OPSET}), atomically.
  --case          a golden case id from fixtures/cases.json (weights from its seed)
  --weights       your layer: the safetensors file conform and bench --weights take (from
                  scripts/export_weights.py); the input size defaults to its check input's
  --spec          a CondConv spec (JSON); with --json-weights, --height and --width
  --json-weights  {"expertKernels": [...] | "<base64 float32>", "bias", "routingWeight", ...}
  --height, --width  the input size the model is for
options:
  --batch         a batch size, or "dynamic" (the default; 1 for --formulation per-example)
  --formulation   how the per-example convolution is built (default: batched-matmul for a
                  dynamic batch; for a fixed one, what ort-wasm takes for that batch and
                  input size, ort-webgpu with --webgpu-workaround: the measured table's
                  choice, impls/_formulations/table.ts, else batched-matmul for a 1x1
                  kernel, grouped otherwise, depthwise-folded for a depthwise layer):
                    batched-matmul    im2col + one batched MatMul, any batch
                    grouped           the batch folded into one Conv's groups, fixed batch
                    depthwise-folded  the same graph for a depthwise layer (groups == in)
                    per-example       the batch-1 model, to run once per example (batch 1)
                    expert-sum        E static convs as one Conv with E x O outputs, mixed
                                      per example by the routing weights, any batch
  --webgpu-workaround  build a Conv node that onnxruntime-web 1.30's WebGPU EP computes wrong
                  so that it does not (zero channels or a zero kernel row: the same numbers
                  on every runtime; see condconv/formats/onnx_graph_conv_bugs.ts)
  --out           the model file to write (not a folder)`;

/** The model the flags ask for, and a description of its source. */
async function modelFromFlags(
  flags: {
    case?: string;
    weights?: string;
    spec?: string;
    "json-weights"?: string;
    height?: string;
    width?: string;
  },
  options: ExportOptions,
): Promise<{ model: CondConvOnnxModel; source: string }> {
  const sources = (["case", "weights", "spec"] as const).filter((name) =>
    flags[name] !== undefined
  );
  if (sources.length !== 1) {
    const hint = flags.spec !== undefined && flags.weights !== undefined
      ? " (--weights is a safetensors file, as in conform and bench; a JSON weights file " +
        "goes with --spec as --json-weights)"
      : "";
    throw new UsageError(
      `Pass exactly one source: --case <id>, --weights <file.safetensors>, or --spec with ` +
        `--json-weights (got ${sources.map((s) => `--${s}`).join(", ") || "none"})${hint}`,
    );
  }
  if (flags.case !== undefined) {
    const source = `case "${flags.case}"`;
    const model = await exportCase(flags.case, options).catch((e) =>
      asInputError(`Cannot export ${source}: `, e)
    );
    return { model, source };
  }
  if (flags.weights !== undefined) {
    const layer = await loadLayerFile(flags.weights);
    const source = `weights "${flags.weights}"`;
    const size = inputSize(flags, layer.check?.input.shape);
    return { model: exportLayer(source, layer.spec, layer.weights, size, options), source };
  }
  if (flags["json-weights"] === undefined) {
    throw new UsageError("Missing --json-weights: --spec needs the layer's weights as JSON");
  }
  const jsonWeights = flags["json-weights"];
  const spec = parseSpecFile(await readJsonFile(flags.spec!, "spec"), flags.spec!);
  const weights = parseWeightsFile(await readJsonFile(jsonWeights, "weights"), jsonWeights);
  const source = `spec "${flags.spec}", weights "${jsonWeights}"`;
  return { model: exportLayer(source, spec, weights, inputSize(flags), options), source };
}

/** The `export-onnx` command; resolves to the exit status. */
export async function exportOnnxMain(args: string[]): Promise<number> {
  const flags = parseTaskFlags(args, {
    case: { type: "string" },
    weights: { type: "string" },
    spec: { type: "string" },
    "json-weights": { type: "string" },
    height: { type: "string" },
    width: { type: "string" },
    batch: { type: "string" },
    formulation: { type: "string" },
    "webgpu-workaround": { type: "boolean" },
    out: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  if (flags.out === undefined) {
    throw new UsageError("Missing --out: name the file to write the model to");
  }
  await checkOutPath(flags.out);
  const formulation = parseFormulation(flags.formulation);
  const options: ExportOptions = {
    batch: parseBatch(flags.batch ?? (formulation === "per-example" ? "1" : "dynamic")),
    formulation,
    workarounds: flags["webgpu-workaround"] ?? false,
  };
  const { model, source } = await modelFromFlags(flags, options);
  await writeModel(flags.out, model);
  const workaround = model.workaround
    ? `, WebGPU workaround for ${model.convBug}`
    : model.convBug
    ? `, shows onnxruntime-web 1.30's WebGPU Conv bug ${model.convBug} (--webgpu-workaround)`
    : "";
  console.log(
    `export-onnx: ${source} -> ${flags.out} (${model.bytes.length} bytes, opset ${ONNX_OPSET}, ` +
      `${model.formulation}, input [${model.inputShape}], output [${model.outputShape}]` +
      `${workaround})`,
  );
  return 0;
}

if (import.meta.main) {
  await runMain(() => exportOnnxMain(Deno.args), [FixtureError, ExportInputError]);
}

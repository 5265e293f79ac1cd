/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written with
 * web APIs only: a portable file of named arrays that needs no pickle to read.
 *
 * Layout of a file:
 * ```
 * 8 bytes   N, the header length, unsigned 64-bit little-endian
 * N bytes   the header, UTF-8 JSON (the writer may pad it with trailing spaces):
 *           { "<tensor name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] },
 *             ...,
 *             "__metadata__": { "<key>": "<string value>" } }          (optional)
 * rest      the data: every tensor's bytes, row-major, little-endian; `data_offsets` are
 *           relative to the start of the data, and the tensors cover it without gaps or
 *           overlaps (the official library's rule, kept here)
 * ```
 *
 * Every fault is reported as `Cannot load weights "<source>": <what is wrong>`, naming the
 * tensor where there is one: a `RangeError` for sizes and offsets (a truncated file, a header
 * that lies), a `TypeError` for everything else (invalid JSON, an unknown dtype).
 * @module
 */
import { z } from "zod";

/** Bytes per element of every dtype the safetensors format defines. */
export const SAFETENSORS_DTYPES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;
/** A dtype name of the safetensors format. */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** The floating-point dtypes this suite converts to float32 / float64. */
export const FLOAT_DTYPES: readonly SafetensorsDtype[] = ["F16", "BF16", "F32", "F64"];

/** The largest header this reader accepts (the official library's limit, 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The header key that holds the free-form string metadata. */
export const METADATA_KEY = "__metadata__";

/** One tensor of a file: its bytes (a view into the file), not yet decoded. */
export interface SafetensorsTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** the raw little-endian bytes, a view into the file's buffer */
  bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** `__metadata__`, string to string (empty when the file has none) */
  metadata: Record<string, string>;
  /** the tensors, in the order of their data */
  tensors: Map<string, SafetensorsTensor>;
}

const TensorEntry = z.strictObject({
  dtype: z.string(),
  shape: z.array(z.int().nonnegative()),
  data_offsets: z.tuple([z.int().nonnegative(), z.int().nonnegative()]),
});

const Metadata = z.record(z.string(), z.string());

function fail(source: string, detail: string): never {
  throw new TypeError(`Cannot load weights "${source}": ${detail}`);
}

function failRange(source: string, detail: string): never {
  throw new RangeError(`Cannot load weights "${source}": ${detail}`);
}

/** The number of elements of a shape (1 for a scalar `[]`). */
function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Parses a safetensors file. `source` names it in error messages (a path or a URL).
 * The tensors' bytes are views into `bytes`, not copies.
 *
 * @example Write two tensors and read them back
 * ```ts
 * import { encodeSafetensors, parseSafetensors, tensorToFloat64 } from "./safetensors.ts";
 * const bytes = encodeSafetensors(
 *   { a: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } },
 *   { note: "hello" },
 * );
 * const file = parseSafetensors(bytes, "demo.safetensors");
 * const a = tensorToFloat64(file.tensors.get("a")!, "demo.safetensors");
 * if (a.join() !== "1,2" || file.metadata.note !== "hello") throw new Error("round trip");
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  if (bytes.length < 8) {
    failRange(
      source,
      `the file is ${bytes.length} bytes, too short for the 8-byte header length ` +
        "(truncated file, or not a safetensors file)",
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES) {
    failRange(
      source,
      `the header length is ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} allowed ` +
        "(not a safetensors file?)",
    );
  }
  if (8 + headerLength > bytes.length) {
    failRange(
      source,
      `the header length is ${headerLength} bytes but only ${bytes.length - 8} bytes follow ` +
        "the 8-byte length (truncated file)",
    );
  }
  let headerText: string;
  try {
    headerText = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + headerLength),
    );
  } catch {
    fail(source, "the header is not valid UTF-8 (not a safetensors file?)");
  }
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (error) {
    fail(source, `the header is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail(source, "the header must be a JSON object of tensor entries");
  }
  const data = bytes.subarray(8 + headerLength);
  const entries = header as Record<string, unknown>;

  let metadata: Record<string, string> = {};
  if (Object.hasOwn(entries, METADATA_KEY)) {
    const parsed = Metadata.safeParse(entries[METADATA_KEY]);
    if (!parsed.success) {
      fail(
        source,
        `"${METADATA_KEY}" must map strings to strings:\n${z.prettifyError(parsed.error)}`,
      );
    }
    metadata = parsed.data;
  }

  const tensors: SafetensorsTensor[] = [];
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(entries)) {
    if (name === METADATA_KEY) continue;
    const parsed = TensorEntry.safeParse(raw);
    if (!parsed.success) {
      fail(
        source,
        `tensor "${name}" has an invalid header entry (expected {dtype, shape, ` +
          `data_offsets}):\n${z.prettifyError(parsed.error)}`,
      );
    }
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    if (!Object.hasOwn(SAFETENSORS_DTYPES, dtype)) {
      fail(
        source,
        `tensor "${name}" has unknown dtype "${dtype}" (known: ` +
          `${Object.keys(SAFETENSORS_DTYPES).join(", ")})`,
      );
    }
    const itemSize = SAFETENSORS_DTYPES[dtype as SafetensorsDtype];
    if (end < begin) {
      failRange(
        source,
        `tensor "${name}" has data_offsets [${begin}, ${end}] that end before they begin`,
      );
    }
    if (end > data.length) {
      failRange(
        source,
        `tensor "${name}" has data_offsets [${begin}, ${end}] beyond the ${data.length} ` +
          "data bytes of the file (truncated file, or a header that lies)",
      );
    }
    const needed = elementCount(shape) * itemSize;
    if (end - begin !== needed) {
      failRange(
        source,
        `tensor "${name}" has data_offsets [${begin}, ${end}] (${end - begin} bytes) but ` +
          `dtype ${dtype} and shape [${shape.join(", ")}] need ${needed} bytes`,
      );
    }
    spans.push({ name, begin, end });
    tensors.push({
      name,
      dtype: dtype as SafetensorsDtype,
      shape,
      bytes: data.subarray(begin, end),
    });
  }

  // The tensors must tile the data exactly: no overlap, no gap, nothing after the last one.
  const order = spans.map((_, i) => i).sort((a, b) =>
    spans[a].begin - spans[b].begin || spans[a].end - spans[b].end
  );
  let covered = 0;
  let previous: (typeof spans)[number] | undefined;
  for (const i of order) {
    const span = spans[i];
    if (span.begin < covered && previous) {
      failRange(
        source,
        `tensors "${previous.name}" and "${span.name}" overlap in the data: ` +
          `[${previous.begin}, ${previous.end}] and [${span.begin}, ${span.end}] ` +
          "(a header that lies about offsets)",
      );
    }
    if (span.begin > covered) {
      failRange(
        source,
        `data bytes [${covered}, ${span.begin}] belong to no tensor ` +
          "(a header that lies about offsets)",
      );
    }
    covered = Math.max(covered, span.end);
    previous = span;
  }
  if (covered !== data.length) {
    failRange(
      source,
      `the data is ${data.length} bytes but the tensors cover ${covered} ` +
        "(a header that lies about offsets, or bytes appended to the file)",
    );
  }
  return {
    metadata,
    tensors: new Map(order.map((i) => [tensors[i].name, tensors[i]])),
  };
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

function assertFloat(tensor: SafetensorsTensor, source: string): void {
  if (!FLOAT_DTYPES.includes(tensor.dtype)) {
    fail(
      source,
      `tensor "${tensor.name}" has dtype ${tensor.dtype}, expected a floating-point dtype ` +
        `(${FLOAT_DTYPES.join(", ")})`,
    );
  }
}

/**
 * The JSON value in `__metadata__[key]`, checked by `schema`; `undefined` when the key is
 * absent. A value that is not JSON, or not what `schema` accepts, goes to `fail` as one detail
 * (`wanted` says what it should be), the schema's issues listed below it.
 */
export function metadataJson<T>(
  metadata: Record<string, string>,
  key: string,
  schema: z.ZodType<T>,
  wanted: string,
  fail: (detail: string) => never,
): T | undefined {
  const text = metadata[key];
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    fail(`__metadata__ "${key}" is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    fail(`__metadata__ "${key}" is not ${wanted}:\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/**
 * The values of a floating-point tensor (F16, BF16, F32 or F64) as float64, exactly.
 * Throws a `TypeError` naming the tensor for any other dtype.
 */
export function tensorToFloat64(tensor: SafetensorsTensor, source: string): Float64Array {
  assertFloat(tensor, source);
  const { bytes } = tensor;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = SAFETENSORS_DTYPES[tensor.dtype];
  const out = new Float64Array(bytes.byteLength / size);
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < out.length; i++) {
    switch (tensor.dtype) {
      case "F64":
        out[i] = view.getFloat64(i * 8, true);
        break;
      case "F32":
        out[i] = view.getFloat32(i * 4, true);
        break;
      case "F16":
        out[i] = halfToFloat(view.getUint16(i * 2, true));
        break;
      default: // BF16: the upper half of a float32
        scratch.setUint32(0, view.getUint16(i * 2, true) << 16);
        out[i] = scratch.getFloat32(0);
    }
  }
  return out;
}

/**
 * The values of a floating-point tensor as float32, and whether any value changed on the way
 * (only an F64 tensor can lose precision). Throws a `TypeError` for a non-float dtype.
 */
export function tensorToFloat32(
  tensor: SafetensorsTensor,
  source: string,
): { data: Float32Array; rounded: boolean } {
  const wide = tensorToFloat64(tensor, source);
  const data = Float32Array.from(wide);
  let rounded = false;
  if (tensor.dtype === "F64") {
    for (let i = 0; i < wide.length && !rounded; i++) {
      rounded = !Object.is(data[i], wide[i]) && !(Number.isNaN(data[i]) && Number.isNaN(wide[i]));
    }
  }
  return { data, rounded };
}

/** One tensor to write: float32 or float64 values with their shape. */
export interface TensorToWrite {
  dtype: "F32" | "F64";
  shape: readonly number[];
  data: Float32Array | Float64Array;
}

/**
 * Encodes tensors (in the order given) and string metadata as a safetensors file, the header
 * padded with spaces to a multiple of 8 bytes as the official writer does. Throws a
 * `RangeError` naming the tensor whose data does not fill its shape.
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = {};
  if (metadata) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const [name, tensor] of Object.entries(tensors)) {
    if (tensor.data.length !== elementCount(tensor.shape)) {
      throw new RangeError(
        `Cannot encode tensor "${name}": ${tensor.data.length} values for shape ` +
          `[${tensor.shape.join(", ")}]`,
      );
    }
    const length = tensor.data.length * SAFETENSORS_DTYPES[tensor.dtype];
    header[name] = {
      dtype: tensor.dtype,
      shape: [...tensor.shape],
      data_offsets: [offset, offset + length],
    };
    offset += length;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(headerBytes);
    headerBytes = withSpaces;
  }
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const tensor of Object.values(tensors)) {
    for (let i = 0; i < tensor.data.length; i++) {
      if (tensor.dtype === "F32") {
        view.setFloat32(at, tensor.data[i], true);
        at += 4;
      } else {
        view.setFloat64(at, tensor.data[i], true);
        at += 8;
      }
    }
  }
  return out;
}

/**
 * Check targets on the wire between `deno task browser` and its page. The task loads and
 * verifies every target in Deno (the golden checksums of `_shared/fixtures.ts`, the reference's
 * truth at another batch as bench does) and serves each as one binary file; the page decodes
 * it into the `CheckTarget` that `_shared/verify.ts` checks. Runtime-neutral (web APIs only).
 *
 * Layout: a little-endian u32 header length, the JSON header, zero padding to a multiple of 8,
 * the float64 truth, then each float32 array the header lists, in its order.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { CheckTarget } from "../_shared/verify.ts";

/** What a bench target adds: the case it came from and what its truth is. */
export interface BenchMeta {
  goldenCase: string;
  batch: number;
  checkedAgainst: "golden" | "reference" | "pytorch";
}

/** The float32 arrays of a target, by the name the header lists them under. */
const FLOAT32_PARTS = [
  "input",
  "expertKernels",
  "bias",
  "routingWeight",
  "routingBias",
  "routingWeights",
] as const;
type Part = typeof FLOAT32_PARTS[number];

interface Header {
  id: string;
  spec: CondConvSpec;
  inputShape: number[];
  outputShape: number[];
  torchFloat32MaxAbsErr: number;
  truthLength: number;
  parts: { name: Part; length: number }[];
  bench?: BenchMeta;
}

function partsOf(target: CheckTarget): Record<Part, Float32Array | undefined> {
  const { weights } = target;
  return {
    input: target.input.data,
    expertKernels: weights.expertKernels,
    bias: weights.bias,
    routingWeight: weights.routingWeight,
    routingBias: weights.routingBias,
    routingWeights: target.routingWeights,
  };
}

/** One target (and, for bench, its case) as the bytes the page fetches. */
export function encodeTarget(target: CheckTarget, bench?: BenchMeta): Uint8Array<ArrayBuffer> {
  const parts = partsOf(target);
  const present = FLOAT32_PARTS.filter((name) => parts[name] !== undefined);
  const header: Header = {
    id: target.id,
    spec: target.spec,
    inputShape: [...target.input.shape],
    outputShape: [...target.outputShape],
    torchFloat32MaxAbsErr: target.torchFloat32MaxAbsErr,
    truthLength: target.truth.length,
    parts: present.map((name) => ({ name, length: parts[name]!.length })),
    ...(bench ? { bench } : {}),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = Math.ceil((4 + json.length) / 8) * 8;
  const floats = present.reduce((n, name) => n + parts[name]!.length, 0);
  const bytes = new Uint8Array(dataStart + target.truth.length * 8 + floats * 4);
  new DataView(bytes.buffer).setUint32(0, json.length, true);
  bytes.set(json, 4);
  let offset = dataStart;
  const copy = (array: Float64Array | Float32Array) => {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    offset += array.byteLength;
  };
  copy(target.truth);
  for (const name of present) copy(parts[name]!);
  return bytes;
}

/** The target (and bench case) that `encodeTarget` wrote; a `RangeError` names a bad length. */
export function decodeTarget(bytes: Uint8Array<ArrayBuffer>): {
  target: CheckTarget;
  bench?: BenchMeta;
} {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLength = view.getUint32(0, true);
  const header: Header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + jsonLength)));
  const dataStart = Math.ceil((4 + jsonLength) / 8) * 8;
  const expected = dataStart + header.truthLength * 8 +
    header.parts.reduce((n, p) => n + p.length * 4, 0);
  if (bytes.byteLength !== expected) {
    throw new RangeError(
      `Invalid target "${header.id}": ${bytes.byteLength} bytes, the header says ${expected}`,
    );
  }
  // copies, so that every array owns an aligned buffer of its own
  const buffer = bytes.slice().buffer;
  let offset = dataStart;
  const truth = new Float64Array(buffer.slice(offset, offset + header.truthLength * 8));
  offset += header.truthLength * 8;
  const parts: Partial<Record<Part, Float32Array>> = {};
  for (const { name, length } of header.parts) {
    parts[name] = new Float32Array(buffer.slice(offset, offset + length * 4));
    offset += length * 4;
  }
  if (!parts.input || !parts.expertKernels) {
    throw new RangeError(`Invalid target "${header.id}": input or expertKernels missing`);
  }
  const target: CheckTarget = {
    id: header.id,
    spec: header.spec,
    weights: {
      expertKernels: parts.expertKernels,
      ...(parts.bias ? { bias: parts.bias } : {}),
      ...(parts.routingWeight ? { routingWeight: parts.routingWeight } : {}),
      ...(parts.routingBias ? { routingBias: parts.routingBias } : {}),
    },
    input: { shape: header.inputShape, data: parts.input },
    ...(parts.routingWeights ? { routingWeights: parts.routingWeights } : {}),
    truth,
    outputShape: header.outputShape,
    torchFloat32MaxAbsErr: header.torchFloat32MaxAbsErr,
  };
  return header.bench ? { target, bench: header.bench } : { target };
}

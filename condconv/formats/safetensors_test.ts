import assert from "node:assert/strict";
import {
  encodeSafetensors,
  MAX_HEADER_BYTES,
  parseSafetensors,
  tensorToFloat32,
  tensorToFloat64,
} from "./safetensors.ts";

const SOURCE = "w.safetensors";

/** A file from a header object and raw data bytes, exactly as given (no checks). */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

Deno.test("parseSafetensors reads what encodeSafetensors wrote, metadata included", () => {
  const bytes = encodeSafetensors(
    {
      a: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, -2, 0.5, 3]) },
      b: { dtype: "F64", shape: [3], data: new Float64Array([0.1, 1e300, -0]) },
      scalar: { dtype: "F32", shape: [], data: new Float32Array([7]) },
    },
    { spec: "{}", note: "x" },
  );
  // The header is padded with spaces to a multiple of 8, as the official writer does.
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0);
  const file = parseSafetensors(bytes, SOURCE);
  assert.deepEqual(file.metadata, { spec: "{}", note: "x" });
  assert.deepEqual([...file.tensors.keys()], ["a", "b", "scalar"]);
  assert.deepEqual([...tensorToFloat64(file.tensors.get("a")!, SOURCE)], [1, -2, 0.5, 3]);
  assert.deepEqual([...tensorToFloat64(file.tensors.get("b")!, SOURCE)], [0.1, 1e300, -0]);
  assert.deepEqual(file.tensors.get("scalar")!.shape, []);
  const b32 = tensorToFloat32(file.tensors.get("b")!, SOURCE);
  assert.equal(b32.rounded, true);
  assert.equal(tensorToFloat32(file.tensors.get("a")!, SOURCE).rounded, false);
});

Deno.test("tensorToFloat64 decodes F16 and BF16 exactly", () => {
  // F16: 1.0 = 0x3c00, -2.0 = 0xc000, smallest subnormal 0x0001 = 2^-24, inf 0x7c00
  const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer);
  // BF16: 1.0 = 0x3f80, -0.5 = 0xbf00
  const bf16 = new Uint8Array(new Uint16Array([0x3f80, 0xbf00]).buffer);
  const data = new Uint8Array(f16.length + bf16.length);
  data.set(f16);
  data.set(bf16, f16.length);
  const file = parseSafetensors(
    rawFile({
      h: { dtype: "F16", shape: [4], data_offsets: [0, 8] },
      bf: { dtype: "BF16", shape: [2], data_offsets: [8, 12] },
    }, data),
    SOURCE,
  );
  assert.deepEqual([...tensorToFloat64(file.tensors.get("h")!, SOURCE)], [
    1,
    -2,
    2 ** -24,
    Infinity,
  ]);
  assert.deepEqual([...tensorToFloat64(file.tensors.get("bf")!, SOURCE)], [1, -0.5]);
});

Deno.test("tensorToFloat64 refuses an integer tensor, naming it", () => {
  const file = parseSafetensors(
    rawFile({ idx: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
    SOURCE,
  );
  assert.throws(() => tensorToFloat64(file.tensors.get("idx")!, SOURCE), {
    name: "TypeError",
    message: `Cannot load weights "${SOURCE}": tensor "idx" has dtype I64, expected a ` +
      "floating-point dtype (F16, BF16, F32, F64)",
  });
});

Deno.test("parseSafetensors: every malformed file is named, with the fault", async (t) => {
  const good = encodeSafetensors({
    weight: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
    bias: { dtype: "F32", shape: [1], data: new Float32Array([3]) },
  });
  const cases: [string, Uint8Array, string, RegExp | string][] = [
    [
      "a file shorter than the length prefix",
      new Uint8Array(5),
      "RangeError",
      `Cannot load weights "${SOURCE}": the file is 5 bytes, too short for the 8-byte header ` +
      "length (truncated file, or not a safetensors file)",
    ],
    [
      "a file truncated inside the header",
      good.subarray(0, 20),
      "RangeError",
      /^Cannot load weights "w\.safetensors": the header length is \d+ bytes but only 12 bytes follow the 8-byte length \(truncated file\)$/,
    ],
    [
      "a file truncated inside the data",
      good.subarray(0, good.length - 2),
      "RangeError",
      `Cannot load weights "${SOURCE}": tensor "bias" has data_offsets [8, 12] beyond the 10 ` +
      "data bytes of the file (truncated file, or a header that lies)",
    ],
    [
      "an absurd header length (not a safetensors file)",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
        return b;
      })(),
      "RangeError",
      /the header length is 100000001 bytes, more than the 100000000 allowed/,
    ],
    [
      "a header that is not JSON",
      (() => {
        const b = rawFile({});
        b.set(new TextEncoder().encode("{x"), 8);
        return b;
      })(),
      "TypeError",
      /^Cannot load weights "w\.safetensors": the header is not valid JSON: /,
    ],
    [
      "a header that is a JSON array",
      rawFile([1, 2]),
      "TypeError",
      `Cannot load weights "${SOURCE}": the header must be a JSON object of tensor entries`,
    ],
    [
      "an unknown dtype",
      rawFile({ weight: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)),
      "TypeError",
      `Cannot load weights "${SOURCE}": tensor "weight" has unknown dtype "F128" (known: BOOL, ` +
      "U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)",
    ],
    [
      "an entry without data_offsets",
      rawFile({ weight: { dtype: "F32", shape: [1] } }, new Uint8Array(4)),
      "TypeError",
      /^Cannot load weights "w\.safetensors": tensor "weight" has an invalid header entry \(expected \{dtype, shape, data_offsets\}\):\n.*data_offsets/s,
    ],
    [
      "a negative dimension",
      rawFile({ weight: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)),
      "TypeError",
      /tensor "weight" has an invalid header entry .*\n.*shape/s,
    ],
    [
      "metadata that is not strings",
      rawFile({ __metadata__: { spec: { inChannels: 1 } } }),
      "TypeError",
      /^Cannot load weights "w\.safetensors": "__metadata__" must map strings to strings:\n/,
    ],
    [
      "offsets that disagree with dtype and shape",
      rawFile(
        { weight: { dtype: "F32", shape: [2, 2], data_offsets: [0, 12] } },
        new Uint8Array(12),
      ),
      "RangeError",
      `Cannot load weights "${SOURCE}": tensor "weight" has data_offsets [0, 12] (12 bytes) but ` +
      "dtype F32 and shape [2, 2] need 16 bytes",
    ],
    [
      "offsets that end before they begin",
      rawFile({ weight: { dtype: "F32", shape: [0], data_offsets: [4, 0] } }, new Uint8Array(4)),
      "RangeError",
      `Cannot load weights "${SOURCE}": tensor "weight" has data_offsets [4, 0] that end ` +
      "before they begin",
    ],
    [
      "two tensors on the same bytes",
      rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      }, new Uint8Array(8)),
      "RangeError",
      `Cannot load weights "${SOURCE}": tensors "a" and "b" overlap in the data: [0, 8] and ` +
      "[4, 8] (a header that lies about offsets)",
    ],
    [
      "a gap between tensors",
      rawFile({
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        b: { dtype: "F32", shape: [1], data_offsets: [8, 12] },
      }, new Uint8Array(12)),
      "RangeError",
      `Cannot load weights "${SOURCE}": data bytes [4, 8] belong to no tensor (a header that ` +
      "lies about offsets)",
    ],
    [
      "bytes after the last tensor",
      rawFile({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, new Uint8Array(12)),
      "RangeError",
      `Cannot load weights "${SOURCE}": the data is 12 bytes but the tensors cover 4 (a header ` +
      "that lies about offsets, or bytes appended to the file)",
    ],
  ];
  for (const [what, bytes, name, message] of cases) {
    await t.step(what, () => {
      assert.throws(() => parseSafetensors(bytes, SOURCE), { name, message });
    });
  }
});

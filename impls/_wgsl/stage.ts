/**
 * What every shader stage of the `wgsl` adapter shares: the plan of one dispatch, its uniform
 * parameters, and the WGSL snippets the stages have in common.
 *
 * A stage's WGSL holds no size of the layer: sizes travel in a uniform buffer (`P`, a struct
 * of 32-bit scalars, bound after the storage buffers), so one pipeline serves every layer whose
 * stage has the same code. Only what must be known when compiling is written into the text:
 * workgroup sizes, tile sizes, workgroup array lengths and the unrolled depthwise kernel
 * loops. The text is the pipeline cache's key.
 *
 * Portability rules the stages keep, so that every WebGPU implementation computes the same
 * thing (WGSL defines some results that a translation to GLSL, HLSL or MSL may not):
 * - `%` and `/` only on `u32` values (GLSL leaves both undefined for negative operands, and
 *   wgpu's GL backend passes WGSL's i32 `%` through: `-1 % 6` came out as 3 on it);
 * - no shift by a computed amount, no integer arithmetic that can overflow, no division of
 *   floats by a value that can be zero;
 * - every index in range by construction (no reliance on WGSL's clamping of out-of-bounds
 *   accesses), every variable and every workgroup array element written before it is read.
 * `stage_test.ts` checks the first rule on the text of every variant.
 * @module
 */

/** The buffers a stage binds, by role; a stage binds its roles at bindings 0, 1, 2, ... */
export type BufferRole =
  | "input"
  | "pooled"
  | "routingParams"
  | "routing"
  | "experts"
  | "mixed"
  | "bias"
  | "output";

/** The WGSL type of a uniform parameter. */
export type ParamType = "u32" | "i32" | "f32";

/** One uniform parameter of a stage: its WGSL name, type and value. */
export type ParamField = readonly [name: string, type: ParamType, value: number];

/** One compute dispatch: its WGSL, the buffers it binds and its flat workgroup count. */
export interface StagePlan {
  name: "pool" | "route" | "mix" | "conv";
  /** the WGSL, the same for every layer whose stage compiles the same (the pipeline key) */
  code: string;
  /** storage buffers at bindings 0, 1, ...; the uniform `P` follows at `bindings.length` */
  bindings: BufferRole[];
  /** the uniform parameters, in the order of the `Params` struct of {@link code} */
  params: readonly ParamField[];
  /** workgroups in all, spread over x and y by `flatDispatch` */
  workgroups: number;
}

/** Bytes each stage's parameters take in the uniform buffer (WebGPU's offset alignment). */
export const PARAMS_SLOT_BYTES = 256;

/** WGSL of the `Params` struct of `fields` and the uniform `P` at `binding`. */
export function paramsWgsl(binding: number, fields: readonly ParamField[]): string {
  const members = fields.map(([name, type]) => `  ${name}: ${type},`).join("\n");
  return `struct Params {\n${members}\n}\n` +
    `@group(0) @binding(${binding}) var<uniform> P: Params;`;
}

/**
 * The bytes of `fields` as the `Params` struct lays them out (4 bytes each, in order),
 * padded to {@link PARAMS_SLOT_BYTES}. Throws a `RangeError` naming a field whose value does
 * not fit its type.
 */
export function paramsBytes(fields: readonly ParamField[]): Uint8Array<ArrayBuffer> {
  if (4 * fields.length > PARAMS_SLOT_BYTES) {
    throw new RangeError(`Cannot pack ${fields.length} parameters: at most 64 fit a slot`);
  }
  const bytes = new Uint8Array(PARAMS_SLOT_BYTES);
  const view = new DataView(bytes.buffer);
  fields.forEach(([name, type, value], n) => {
    const integer = Number.isInteger(value);
    if (type === "u32" && integer && value >= 0 && value <= 0xffffffff) {
      view.setUint32(4 * n, value, true);
    } else if (type === "i32" && integer && value >= -(2 ** 31) && value < 2 ** 31) {
      view.setInt32(4 * n, value, true);
    } else if (type === "f32" && Number.isFinite(value)) {
      view.setFloat32(4 * n, value, true);
    } else {
      throw new RangeError(`Cannot pass parameter "${name}" = ${value}: not a valid ${type}`);
    }
  });
  return bytes;
}

/** WGSL of a storage binding of floats. */
export function storage(binding: number, name: string, writable: boolean): string {
  const access = writable ? "read_write" : "read";
  return `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<f32>;`;
}

/**
 * WGSL that opens the entry point `main` of `threads` invocations: `lid` is the invocation's
 * index in its workgroup and `wid` the flat workgroup index of a dispatch spread over x and y
 * (see `flatDispatch`).
 */
export function entryWgsl(threads: number): string {
  return `@compute @workgroup_size(${threads})
fn main(
  @builtin(workgroup_id) wg: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let wid = wg.x + wg.y * nwg.x;`;
}

/**
 * {@link entryWgsl}, then the workgroups at or past `P.TOTAL` return, and `wid` is split into
 * coordinates: each `[name, count]` (fastest first) gets `wid`'s digit in base `P.<count>`,
 * and `last` what is left.
 */
export function tiledEntryWgsl(
  threads: number,
  coordinates: readonly (readonly [name: string, count: string])[],
  last: string,
): string {
  const split = coordinates.map(([name, count]) =>
    `  let ${name} = rest % P.${count};\n  rest = rest / P.${count};`
  );
  return `${entryWgsl(threads)}
  if (wid >= P.TOTAL) { return; }
  var rest = wid;
${split.join("\n")}
  let ${last} = rest;`;
}

/** `u32` parameters from a record of names and values, in its order. */
export function u32Params(values: Record<string, number>): ParamField[] {
  return Object.entries(values).map(([name, value]) => [name, "u32", value]);
}

/** `${n}u`: a WGSL u32 literal. */
export const u = (n: number): string => `${n}u`;

/** A WGSL float literal of `x` (a finite number), never read back as an integer. */
export function floatLiteral(x: number): string {
  const text = String(x);
  return /[.eE]/.test(text) ? `${text}f` : `${text}.0f`;
}

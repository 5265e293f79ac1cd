/**
 * The roofline probe's WebAssembly module, assembled byte by byte (no toolchain).
 *
 * It exports:
 * - `fma(iterations: i32, multiplier: f32, addend: f32) -> f32`: `chains` independent f32x4
 *   accumulators, accumulator `j` starting at `splat(j)`; each iteration applies
 *   `acc = acc * multiplier + addend` `unroll` times to every accumulator (as `f32x4.mul` then
 *   `f32x4.add`, or as one `f32x4.relaxed_madd`), then returns the sum of all lanes of all
 *   accumulators, so the work is never dead. Each step is 2 FLOPs per lane: one call does
 *   `iterations * unroll * chains * 4 * 2` FLOPs.
 * - `triad(a: i32, b: i32, c: i32, n: i32, s: f32)`: `a[i] = b[i] + s * c[i]` over `n` floats at
 *   byte addresses `a`, `b`, `c` of its memory, `f32x4` at a time, `TRIAD_UNROLL` vectors per
 *   loop turn; `n` must be a positive multiple of `TRIAD_VECTOR_FLOATS`.
 * - `memory`: its own (not shared) memory, one page at first; the caller grows it.
 *
 * Many independent chains hide the latency of the multiply-add (4 to 6 cycles a step, with 2
 * units per core: 8 to 12 chains in flight keep both busy).
 * @module
 */

/** How the probe's multiply-add loop is shaped. */
export interface FmaKernelShape {
  /** independent f32x4 accumulator chains (1 to 14; two more registers hold the constants) */
  chains: number;
  /** multiply-add steps per chain per loop turn */
  unroll: number;
  /** use `f32x4.relaxed_madd` (a fused multiply-add where the hardware has one) */
  relaxed: boolean;
}

/** v128 vectors per loop turn of the triad. */
export const TRIAD_UNROLL = 4;
/** The triad's element counts are multiples of this: 4 floats a vector, `TRIAD_UNROLL` a turn. */
export const TRIAD_VECTOR_FLOATS = 4 * TRIAD_UNROLL;

/** The shape the probe uses by default: 12 chains of 8 steps per turn, mul and add. */
export const DEFAULT_FMA_SHAPE: FmaKernelShape = {
  chains: 12,
  unroll: 8,
  relaxed: false,
};

const SIMD = 0xfd;
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Const: 0x41,
  f32Const: 0x43,
  i32Eqz: 0x45,
  i32LtU: 0x49,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Shl: 0x74,
  f32Add: 0x92,
  void: 0x40,
  i32: 0x7f,
  f32: 0x7d,
  v128: 0x7b,
} as const;
const simd = {
  load: [SIMD, 0x00],
  store: [SIMD, 0x0b],
  f32x4Splat: [SIMD, 0x13],
  f32x4ExtractLane: [SIMD, 0x1f],
  f32x4Add: [SIMD, 0xe4, 0x01],
  f32x4Mul: [SIMD, 0xe6, 0x01],
  f32x4RelaxedMadd: [SIMD, 0x85, 0x02],
} as const;

function unsignedLeb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

function signedLeb(value: number): number[] {
  const bytes: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    const done = (value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

function f32Bytes(value: number): number[] {
  return [...new Uint8Array(new Float32Array([value]).buffer)];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function section(id: number, payload: number[]): number[] {
  return [id, ...unsignedLeb(payload.length), ...payload];
}

function get(index: number): number[] {
  return [op.localGet, ...unsignedLeb(index)];
}

function set(index: number): number[] {
  return [op.localSet, ...unsignedLeb(index)];
}

/** `fma(iterations, multiplier, addend)`: params 0-2, then the accumulators and constants. */
function fmaBody(shape: FmaKernelShape): number[] {
  const first = 3, multiplier = first + shape.chains, addend = multiplier + 1;
  const code: number[] = [];
  code.push(...get(1), ...simd.f32x4Splat, ...set(multiplier));
  code.push(...get(2), ...simd.f32x4Splat, ...set(addend));
  for (let j = 0; j < shape.chains; j++) {
    code.push(op.f32Const, ...f32Bytes(j), ...simd.f32x4Splat, ...set(first + j));
  }
  code.push(op.block, op.void, ...get(0), op.i32Eqz, op.brIf, 0, op.loop, op.void);
  for (let step = 0; step < shape.unroll; step++) {
    for (let j = 0; j < shape.chains; j++) {
      code.push(...get(first + j), ...get(multiplier));
      if (shape.relaxed) code.push(...get(addend), ...simd.f32x4RelaxedMadd);
      else code.push(...simd.f32x4Mul, ...get(addend), ...simd.f32x4Add);
      code.push(...set(first + j));
    }
  }
  code.push(...get(0), op.i32Const, 1, op.i32Sub, op.localTee, 0, op.brIf, 0, op.end, op.end);
  code.push(op.f32Const, ...f32Bytes(0));
  for (let j = 0; j < shape.chains; j++) {
    for (let lane = 0; lane < 4; lane++) {
      code.push(...get(first + j), ...simd.f32x4ExtractLane, lane, op.f32Add);
    }
  }
  code.push(op.end);
  const locals = vector([[...unsignedLeb(shape.chains + 2), op.v128]]);
  return [...locals, ...code];
}

/** `triad(a, b, c, n, s)`: params 0-4, then the byte offset (5) and `splat(s)` (6). */
function triadBody(): number[] {
  const offset = 5, scalar = 6;
  const code: number[] = [];
  code.push(...get(4), ...simd.f32x4Splat, ...set(scalar));
  code.push(op.block, op.void, ...get(3), op.i32Eqz, op.brIf, 0, op.loop, op.void);
  for (let u = 0; u < TRIAD_UNROLL; u++) {
    // memarg: alignment 2^4 bytes, then the constant offset of this vector
    const memarg = [4, ...unsignedLeb(16 * u)];
    code.push(...get(0), ...get(offset), op.i32Add);
    code.push(...get(1), ...get(offset), op.i32Add, ...simd.load, ...memarg);
    code.push(...get(2), ...get(offset), op.i32Add, ...simd.load, ...memarg);
    code.push(...get(scalar), ...simd.f32x4Mul, ...simd.f32x4Add, ...simd.store, ...memarg);
  }
  code.push(...get(offset), op.i32Const, ...signedLeb(16 * TRIAD_UNROLL), op.i32Add);
  code.push(op.localTee, offset, ...get(3), op.i32Const, 2, op.i32Shl, op.i32LtU, op.brIf, 0);
  code.push(op.end, op.end, op.end);
  const locals = vector([[1, op.i32], [1, op.v128]]);
  return [...locals, ...code];
}

function checkShape(shape: FmaKernelShape): void {
  if (!Number.isInteger(shape.chains) || shape.chains < 1 || shape.chains > 14) {
    throw new RangeError(
      `Cannot build the probe: chains must be an integer in 1..14, got ${shape.chains}`,
    );
  }
  if (!Number.isInteger(shape.unroll) || shape.unroll < 1 || shape.unroll > 64) {
    throw new RangeError(
      `Cannot build the probe: unroll must be an integer in 1..64, got ${shape.unroll}`,
    );
  }
}

/**
 * The probe module's bytes for `shape`. Throws a `RangeError` naming the field at fault.
 *
 * @example The default module validates
 * ```ts
 * import { DEFAULT_FMA_SHAPE, probeModuleBytes } from "./_roofline_wasm.ts";
 * if (!WebAssembly.validate(probeModuleBytes(DEFAULT_FMA_SHAPE))) throw new Error("invalid");
 * ```
 */
export function probeModuleBytes(shape: FmaKernelShape): Uint8Array<ArrayBuffer> {
  checkShape(shape);
  const types = section(
    1,
    vector([
      [0x60, ...vector([[op.i32], [op.f32], [op.f32]]), ...vector([[op.f32]])],
      [0x60, ...vector([[op.i32], [op.i32], [op.i32], [op.i32], [op.f32]]), 0],
    ]),
  );
  const functions = section(3, vector([[0], [1]]));
  const memory = section(5, vector([[0x00, 1]]));
  const exports = section(
    7,
    vector([[...name("fma"), 0, 0], [...name("triad"), 0, 1], [...name("memory"), 2, 0]]),
  );
  const bodies = [fmaBody(shape), triadBody()];
  const code = section(10, vector(bodies.map((body) => [...unsignedLeb(body.length), ...body])));
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  return new Uint8Array([...header, ...types, ...functions, ...memory, ...exports, ...code]);
}

/** Whether this runtime accepts `f32x4.relaxed_madd` (relaxed SIMD). */
export function supportsRelaxedSimd(): boolean {
  return WebAssembly.validate(probeModuleBytes({ ...DEFAULT_FMA_SHAPE, relaxed: true }));
}

/** The probe's exports, typed. */
export interface ProbeExports {
  fma(iterations: number, multiplier: number, addend: number): number;
  triad(a: number, b: number, c: number, n: number, s: number): void;
  memory: WebAssembly.Memory;
}

/** Compiles and instantiates the probe for `shape`. */
export async function instantiateProbe(shape: FmaKernelShape): Promise<ProbeExports> {
  const bytes = probeModuleBytes(shape);
  const { instance } = await WebAssembly.instantiate(bytes);
  return instance.exports as unknown as ProbeExports;
}

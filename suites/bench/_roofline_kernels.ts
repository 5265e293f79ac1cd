/**
 * What the roofline probe's main thread and workers share: the kernels' names and their cost
 * per unit of work, the scalar JavaScript kernel, the barrier's words and the messages.
 * @module
 */
import type { FmaKernelShape } from "./_roofline_wasm.ts";
import { TRIAD_BYTES_PER_ELEMENT } from "../results/machine_limits.ts";

export { TRIAD_BYTES_PER_ELEMENT };

/** The three kernels: the wasm SIMD multiply-add loop, the scalar JS one, the triad. */
export type ProbeKernel = "wasmSimd" | "scalarJs" | "triad";

/** Independent float64 chains of the scalar JavaScript kernel. */
export const SCALAR_CHAINS = 8;

/** `s` of the triad `a[i] = b[i] + s * c[i]` (b = 1 and c = 2 everywhere, so a = 7). */
export const TRIAD_SCALAR = 3;

/**
 * `SCALAR_CHAINS` float64 chains `x = x * multiplier + addend`, `iterations` steps each (2 FLOPs a
 * step); returns their sum, so the work is never dead.
 *
 * @example With multiplier 1 and addend 1 every chain counts the steps
 * ```ts
 * import { scalarMultiplyAdd } from "./_roofline_kernels.ts";
 * // chain j starts at j: the sum is 8 * 10 + (0 + 1 + ... + 7)
 * if (scalarMultiplyAdd(10, 1, 1) !== 108) throw new Error("wrong sum");
 * ```
 */
export function scalarMultiplyAdd(iterations: number, multiplier: number, addend: number): number {
  let x0 = 0, x1 = 1, x2 = 2, x3 = 3, x4 = 4, x5 = 5, x6 = 6, x7 = 7;
  for (let i = 0; i < iterations; i++) {
    x0 = x0 * multiplier + addend;
    x1 = x1 * multiplier + addend;
    x2 = x2 * multiplier + addend;
    x3 = x3 * multiplier + addend;
    x4 = x4 * multiplier + addend;
    x5 = x5 * multiplier + addend;
    x6 = x6 * multiplier + addend;
    x7 = x7 * multiplier + addend;
  }
  return x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7;
}

/**
 * What one unit of a kernel's work costs: FLOPs for the multiply-add kernels (an iteration),
 * bytes for the triad (an element).
 */
export function costPerUnit(kernel: ProbeKernel, shape: FmaKernelShape): number {
  if (kernel === "wasmSimd") return shape.chains * shape.unroll * 4 * 2;
  if (kernel === "scalarJs") return SCALAR_CHAINS * 2;
  return TRIAD_BYTES_PER_ELEMENT;
}

/** Indices of the barrier's words in its `Int32Array`. */
export const BARRIER = { arrived: 0, release: 1, words: 2 } as const;

/** Main thread to worker. */
export type RooflineRequest =
  | { type: "init"; shape: FmaKernelShape; control: SharedArrayBuffer; triadFloats: number }
  | { type: "calibrate"; kernel: ProbeKernel; blockMs: number }
  | {
    type: "run";
    kernel: ProbeKernel;
    work: number;
    /** floats per triad array this run uses (at most what the worker allocated) */
    triadFloats: number;
    participants: number;
    generation: number;
  };

/** Worker to main thread. */
export type RooflineResponse =
  | { type: "ready" }
  | { type: "calibrated"; work: number }
  | { type: "done"; elapsedMs: number; result: number }
  | { type: "error"; message: string };

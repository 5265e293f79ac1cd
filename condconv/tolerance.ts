/**
 * The tolerance policy: how close an adapter's float32 output must be to the float64 truth.
 *
 * Element `i` passes when `|actual_i - truth_i| <= atol + rtol * |truth_i|` (the form of
 * `torch.testing.assert_close`), with
 *
 * - `rtol` and a floor for `atol` fixed per tolerance class: `exact` takes
 *   torch.testing's float32 defaults (atol 1e-5, rtol 1.3e-6); `cpu` and `wasm` take
 *   onnxruntime-web's test-runner CPU threshold (atol 1e-4) with rtol 1e-5; `webgpu` takes its
 *   GPU threshold (atol 1e-3) with rtol 1e-4;
 * - `atol` raised, per case, to `TORCH_ERROR_FACTOR` times the largest absolute error of
 *   PyTorch's own float32 result on that case (recorded in the fixture manifest). Float32
 *   error grows with the magnitude of the terms summed (the large-magnitude case reaches
 *   1.6e-3 in PyTorch itself); a different but sound summation order lands within a few times
 *   PyTorch's error, a wrong formula lands orders of magnitude away.
 *
 * A NaN or infinity where the truth is finite fails, and so does a finite value where the
 * truth is not.
 * @module
 */
/**
 * Which tolerance an adapter is held to: `exact` for float64 accumulation, `cpu` and `wasm`
 * for float32 on the CPU, `webgpu` for float32 on a GPU.
 */
export type ToleranceClass = "exact" | "cpu" | "wasm" | "webgpu";

/** Absolute floor and relative tolerance of one class. */
export interface ToleranceBounds {
  atol: number;
  rtol: number;
}

/** The fixed part of the policy, per tolerance class. */
export const TOLERANCE_CLASSES: Readonly<Record<ToleranceClass, ToleranceBounds>> = {
  exact: { atol: 1e-5, rtol: 1.3e-6 },
  cpu: { atol: 1e-4, rtol: 1e-5 },
  wasm: { atol: 1e-4, rtol: 1e-5 },
  webgpu: { atol: 1e-3, rtol: 1e-4 },
};

/** How many times PyTorch's own float32 error an adapter's absolute error may reach. */
export const TORCH_ERROR_FACTOR = 8;

/**
 * Relative errors are reported over elements at least this fraction of the largest
 * magnitude (scripts/make_goldens.py uses the same definition), so that an output that
 * should be zero does not divide by zero.
 */
export const REL_FLOOR = 1e-3;

/**
 * The largest PyTorch float32 error a fixture or weights file may claim, as a fraction of
 * the truth's largest magnitude. Float32 round-off is about 6e-8 of the terms summed; the
 * goldens' worst case is 6e-7 of the output's magnitude. A claim far beyond that is not
 * round-off but a wrong or forged figure, and `TORCH_ERROR_FACTOR` times it would become the
 * tolerance: a file claiming an error of 10 on outputs near 1 would let anything pass.
 */
export const TORCH_ERROR_MAX_FRACTION = 1e-4;

/**
 * Why a claimed PyTorch float32 max abs error cannot anchor the tolerance on `truth`, or
 * `undefined` when it can. A claim is refused when it is not a finite non-negative number,
 * or when it exceeds both `TORCH_ERROR_MAX_FRACTION` of the truth's largest finite magnitude
 * and the most it could claim without raising any float32 class above its floor.
 *
 * @example
 * ```ts
 * import { torchErrorProblem } from "./tolerance.ts";
 * const truth = new Float64Array([0.5, -1.2]);
 * if (torchErrorProblem(1e-7, truth) !== undefined) throw new Error("round-off is fine");
 * if (torchErrorProblem(10, truth) === undefined) throw new Error("10 is not round-off");
 * ```
 */
export function torchErrorProblem(claimed: number, truth: Float64Array): string | undefined {
  if (!Number.isFinite(claimed) || claimed < 0) {
    return `the claimed PyTorch float32 error ${claimed} is not a finite non-negative number`;
  }
  let largest = 0;
  for (const t of truth) if (Math.abs(t) > largest && Number.isFinite(t)) largest = Math.abs(t);
  const harmless = TOLERANCE_CLASSES.cpu.atol / TORCH_ERROR_FACTOR;
  const bound = Math.max(TORCH_ERROR_MAX_FRACTION * largest, harmless);
  if (claimed <= bound) return undefined;
  const short = (x: number) => Number(x.toPrecision(3));
  return `the claimed PyTorch float32 error ${claimed} exceeds ${TORCH_ERROR_MAX_FRACTION} of ` +
    `the largest output magnitude ${short(largest)} (bound ${
      short(bound)
    }): float32 round-off is far ` +
    `smaller, and ${TORCH_ERROR_FACTOR} times the claim would become the tolerance`;
}

/** The tolerance for one adapter class on one case. */
export function toleranceFor(
  toleranceClass: ToleranceClass,
  torchFloat32MaxAbsErr: number,
): ToleranceBounds {
  const base = TOLERANCE_CLASSES[toleranceClass];
  if (toleranceClass === "exact") return base;
  return { atol: Math.max(base.atol, TORCH_ERROR_FACTOR * torchFloat32MaxAbsErr), rtol: base.rtol };
}

/** How an output compares with the truth. */
export interface Comparison {
  pass: boolean;
  maxAbsErr: number;
  maxRelErr: number;
  /** the largest `|error| / allowed`: at most 1 when the output passes */
  worstRatio: number;
  /** flat index of the element with the worst ratio */
  worstIndex: number;
  /** elements whose finiteness differs from the truth's */
  nonFiniteMismatches: number;
  tolerance: ToleranceBounds;
}

/**
 * Compares `actual` with `truth` under `tolerance`.
 *
 * @example
 * ```ts
 * import { compareWithTruth } from "./tolerance.ts";
 * const result = compareWithTruth(
 *   new Float32Array([1, 2.00001]),
 *   new Float64Array([1, 2]),
 *   { atol: 1e-4, rtol: 0 },
 * );
 * if (!result.pass) throw new Error("should pass");
 * ```
 */
export function compareWithTruth(
  actual: Float32Array,
  truth: Float64Array,
  tolerance: ToleranceBounds,
): Comparison {
  if (actual.length !== truth.length) {
    throw new RangeError(
      `Cannot compare outputs: ${actual.length} values against ${truth.length} in the truth`,
    );
  }
  let largest = 0;
  for (let i = 0; i < truth.length; i++) {
    const m = Math.abs(truth[i]);
    if (m > largest && Number.isFinite(m)) largest = m;
  }
  const relFloor = Math.max(REL_FLOOR * largest, Number.MIN_VALUE);
  let maxAbsErr = 0, maxRelErr = 0, worstRatio = 0, worstIndex = -1, nonFiniteMismatches = 0;
  for (let i = 0; i < truth.length; i++) {
    const a = actual[i], t = truth[i];
    if (!Number.isFinite(t) || !Number.isFinite(a)) {
      const same = Object.is(a, t) || (Number.isNaN(a) && Number.isNaN(t));
      if (!same) {
        nonFiniteMismatches++;
        if (worstRatio !== Infinity) {
          worstRatio = Infinity;
          worstIndex = i;
        }
      }
      continue;
    }
    const err = Math.abs(a - t);
    if (err > maxAbsErr) maxAbsErr = err;
    const magnitude = Math.abs(t);
    if (magnitude >= relFloor && err / magnitude > maxRelErr) maxRelErr = err / magnitude;
    const ratio = err / (tolerance.atol + tolerance.rtol * magnitude);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worstIndex = i;
    }
  }
  return {
    pass: nonFiniteMismatches === 0 && worstRatio <= 1,
    maxAbsErr,
    maxRelErr,
    worstRatio,
    worstIndex,
    nonFiniteMismatches,
    tolerance,
  };
}

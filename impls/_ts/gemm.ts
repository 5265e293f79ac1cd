/**
 * The GEMM micro-kernel of the `ts` adapter's pointwise and general paths: a 4x4 tile of
 * outputs in 16 local accumulators, the k-loop innermost over two interleaved panels
 * (`A[k][4]` mixed kernels, `B[k][4]` input columns).
 * @module
 */

/**
 * One row block of a GEMM: `rows` (1..4) output rows against `tiles` 4-column panels.
 * `A` holds the 4 rows interleaved `[k][4]` from `aOff`; panel `t` of `B` holds 4 columns
 * interleaved `[k][4]` from `bOff + t * bStride`. Output row `q` column `4t + c` goes to
 * `Y[yOff + q * ldy + 4t + c]` when `4t + c < cols`.
 */
export function gemmRows(
  A: Float32Array,
  aOff: number,
  K: number,
  B: Float32Array,
  bOff: number,
  bStride: number,
  tiles: number,
  Y: Float32Array,
  yOff: number,
  ldy: number,
  cols: number,
  rows: number,
  bias0: number,
  bias1: number,
  bias2: number,
  bias3: number,
): void {
  // Unrolled on purpose: the 4x4 tile lives in 16 locals (registers), loaded, updated and
  // stored one by one; a loop or an array here would send them to memory.
  for (let t = 0; t < tiles; t++) {
    let ia = aOff, ib = bOff + t * bStride;
    let c00 = bias0, c01 = bias0, c02 = bias0, c03 = bias0;
    let c10 = bias1, c11 = bias1, c12 = bias1, c13 = bias1;
    let c20 = bias2, c21 = bias2, c22 = bias2, c23 = bias2;
    let c30 = bias3, c31 = bias3, c32 = bias3, c33 = bias3;
    for (let k = 0; k < K; k++) {
      const a0 = A[ia], a1 = A[ia + 1], a2 = A[ia + 2], a3 = A[ia + 3];
      const b0 = B[ib], b1 = B[ib + 1], b2 = B[ib + 2], b3 = B[ib + 3];
      ia += 4;
      ib += 4;
      c00 += a0 * b0;
      c01 += a0 * b1;
      c02 += a0 * b2;
      c03 += a0 * b3;
      c10 += a1 * b0;
      c11 += a1 * b1;
      c12 += a1 * b2;
      c13 += a1 * b3;
      c20 += a2 * b0;
      c21 += a2 * b1;
      c22 += a2 * b2;
      c23 += a2 * b3;
      c30 += a3 * b0;
      c31 += a3 * b1;
      c32 += a3 * b2;
      c33 += a3 * b3;
    }
    const col = 4 * t;
    let y = yOff + col;
    if (rows === 4 && col + 4 <= cols) {
      // a full tile: the 16 stores unrolled on purpose, like the accumulators above
      Y[y] = c00;
      Y[y + 1] = c01;
      Y[y + 2] = c02;
      Y[y + 3] = c03;
      y += ldy;
      Y[y] = c10;
      Y[y + 1] = c11;
      Y[y + 2] = c12;
      Y[y + 3] = c13;
      y += ldy;
      Y[y] = c20;
      Y[y + 1] = c21;
      Y[y + 2] = c22;
      Y[y + 3] = c23;
      y += ldy;
      Y[y] = c30;
      Y[y + 1] = c31;
      Y[y + 2] = c32;
      Y[y + 3] = c33;
      continue;
    }
    const n = Math.min(4, cols - col);
    for (let q = 0; q < rows; q++) {
      const v0 = q === 0 ? c00 : q === 1 ? c10 : q === 2 ? c20 : c30;
      const v1 = q === 0 ? c01 : q === 1 ? c11 : q === 2 ? c21 : c31;
      const v2 = q === 0 ? c02 : q === 1 ? c12 : q === 2 ? c22 : c32;
      const v3 = q === 0 ? c03 : q === 1 ? c13 : q === 2 ? c23 : c33;
      Y[y] = v0;
      if (n > 1) Y[y + 1] = v1;
      if (n > 2) Y[y + 2] = v2;
      if (n > 3) Y[y + 3] = v3;
      y += ldy;
    }
  }
}

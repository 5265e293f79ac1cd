/**
 * Kernel mixing of the `ts` adapter: `K_b = sum_e r_e W_e` over a run of kernel values, in
 * float64, from the expert kernels into the layout a convolution path reads.
 * @module
 */

/**
 * `dst[dOff + i * dStep] = sum_e r[rOff + e] * W[e * stride + sOff + i]` for `i < count`:
 * kernel mixing, summed in float64 over exactly the `experts` experts (an absent expert must
 * add nothing, not `0 * W`, which is NaN where W is infinite). Up to 8 experts in one pass;
 * more in passes of 4 through `acc` (at least `count` long).
 */
export function mixInto(
  weights: Float32Array,
  stride: number,
  experts: number,
  r: Float64Array,
  rOff: number,
  sOff: number,
  count: number,
  dst: Float32Array,
  dOff: number,
  dStep: number,
  acc: Float64Array,
): void {
  if (experts <= 8) {
    const w = weights, end = sOff + count;
    // only the experts that exist are read (no out-of-bounds loads); the rest stay unused
    const at = (e: number) => e < experts ? r[rOff + e] : 0;
    const r0 = at(0), r1 = at(1), r2 = at(2), r3 = at(3), r4 = at(4), r5 = at(5);
    const r6 = at(6), r7 = at(7);
    const o1 = stride, o2 = 2 * stride, o3 = 3 * stride, o4 = 4 * stride;
    const o5 = 5 * stride, o6 = 6 * stride, o7 = 7 * stride;
    let d = dOff;
    // one loop per expert count, unrolled on purpose: the sum has exactly `experts` terms,
    // each expert's weight and offset in a local
    switch (experts) {
      case 1:
        for (let i = sOff; i < end; i++, d += dStep) dst[d] = r0 * w[i];
        return;
      case 2:
        for (let i = sOff; i < end; i++, d += dStep) dst[d] = r0 * w[i] + r1 * w[i + o1];
        return;
      case 3:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2];
        }
        return;
      case 4:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3];
        }
        return;
      case 5:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            r4 * w[i + o4];
        }
        return;
      case 6:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5]);
        }
        return;
      case 7:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5] + r6 * w[i + o6]);
        }
        return;
      default:
        for (let i = sOff; i < end; i++, d += dStep) {
          dst[d] = (r0 * w[i] + r1 * w[i + o1] + r2 * w[i + o2] + r3 * w[i + o3]) +
            (r4 * w[i + o4] + r5 * w[i + o5] + r6 * w[i + o6] + r7 * w[i + o7]);
        }
        return;
    }
  }
  for (let i = 0; i < count; i++) acc[i] = 0;
  let e = 0;
  for (; e + 4 <= experts; e += 4) {
    const r0 = r[rOff + e], r1 = r[rOff + e + 1], r2 = r[rOff + e + 2], r3 = r[rOff + e + 3];
    let s0 = e * stride + sOff;
    let s1 = s0 + stride, s2 = s1 + stride, s3 = s2 + stride;
    for (let i = 0; i < count; i++) {
      acc[i] += r0 * weights[s0++] + r1 * weights[s1++] + r2 * weights[s2++] + r3 * weights[s3++];
    }
  }
  for (; e < experts; e++) {
    const r0 = r[rOff + e];
    let s0 = e * stride + sOff;
    for (let i = 0; i < count; i++) acc[i] += r0 * weights[s0++];
  }
  let d = dOff;
  for (let i = 0; i < count; i++) {
    dst[d] = acc[i];
    d += dStep;
  }
}

/// <reference path="../../impls/_wasm/assembly/builtins.d.ts" />
/**
 * Candidate GEMM micro-kernels of the `wasm` adapter, timed by `scripts/wasm_kernels.ts`
 * (AssemblyScript, built with the kernels' own flags). Each computes one `MR x NR` tile:
 * A `[K][MR]` (except `k4x8`), B `[K][NR]`, outputs to `y` with row stride `ldy` bytes. The
 * chosen one is `kernel4x8` in `impls/_wasm/assembly/condconv.ts` (here `s4x8`).
 */

/** The first byte past the module's own data. */
export function heapBase(): usize {
  return __heap_base;
}

/** 4x8, A broadcast by 4 load32_splat, mul + add (the kernel before relaxed SIMD) */
export function t4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = f32x4.add(c00, f32x4.mul(s, b0));
    c01 = f32x4.add(c01, f32x4.mul(s, b1));
    s = v128.load32_splat(a, 4);
    c10 = f32x4.add(c10, f32x4.mul(s, b0));
    c11 = f32x4.add(c11, f32x4.mul(s, b1));
    s = v128.load32_splat(a, 8);
    c20 = f32x4.add(c20, f32x4.mul(s, b0));
    c21 = f32x4.add(c21, f32x4.mul(s, b1));
    s = v128.load32_splat(a, 12);
    c30 = f32x4.add(c30, f32x4.mul(s, b0));
    c31 = f32x4.add(c31, f32x4.mul(s, b1));
    a += 16;
    b += 32;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** 4x8, A broadcast by 4 load32_splat, relaxed_madd */
export function f4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.load32_splat(a, 4);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.load32_splat(a, 8);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.load32_splat(a, 12);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    a += 16;
    b += 32;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** 4x8, one A vector, lanes broadcast by shuffles, relaxed_madd (the kernel chosen) */
export function s4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16), av = v128.load(a);
    let s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    a += 16;
    b += 32;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** the chosen kernel with k unrolled twice */
export function u4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  for (let k = 0; k < K; k += 2) {
    let b0 = v128.load(b), b1 = v128.load(b, 16), av = v128.load(a);
    let s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    b0 = v128.load(b, 32);
    b1 = v128.load(b, 48);
    av = v128.load(a, 16);
    s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    a += 32;
    b += 64;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** 4x8, A laid out [K/4][MR][4]: 4 A vectors live, k unrolled 4 times */
export function k4x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  for (let k = 0; k < K; k += 4) {
    const a0 = v128.load(a), a1 = v128.load(a, 16), a2 = v128.load(a, 32), a3 = v128.load(a, 48);
    let b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.shuffle<f32>(a0, a0, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(a1, a1, 0, 0, 0, 0);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(a2, a2, 0, 0, 0, 0);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(a3, a3, 0, 0, 0, 0);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    b0 = v128.load(b, 32);
    b1 = v128.load(b, 48);
    s = v128.shuffle<f32>(a0, a0, 1, 1, 1, 1);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(a1, a1, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(a2, a2, 1, 1, 1, 1);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(a3, a3, 1, 1, 1, 1);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    b0 = v128.load(b, 64);
    b1 = v128.load(b, 80);
    s = v128.shuffle<f32>(a0, a0, 2, 2, 2, 2);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(a1, a1, 2, 2, 2, 2);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(a2, a2, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(a3, a3, 2, 2, 2, 2);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    b0 = v128.load(b, 96);
    b1 = v128.load(b, 112);
    s = v128.shuffle<f32>(a0, a0, 3, 3, 3, 3);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(a1, a1, 3, 3, 3, 3);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(a2, a2, 3, 3, 3, 3);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(a3, a3, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    a += 64;
    b += 128;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
}

/** 6x8, 6 load32_splat, relaxed_madd */
export function f6x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  let c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.load32_splat(a, 4);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.load32_splat(a, 8);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.load32_splat(a, 12);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    s = v128.load32_splat(a, 16);
    c40 = f32x4.relaxed_madd(s, b0, c40);
    c41 = f32x4.relaxed_madd(s, b1, c41);
    s = v128.load32_splat(a, 20);
    c50 = f32x4.relaxed_madd(s, b0, c50);
    c51 = f32x4.relaxed_madd(s, b1, c51);
    a += 24;
    b += 32;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
  y += ldy;
  v128.store(y, c40);
  v128.store(y, c41, 16);
  y += ldy;
  v128.store(y, c50);
  v128.store(y, c51, 16);
}

/** 6x8, A vector for 4 rows + 2 load32_splat */
export function s6x8(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0),
    c01 = c00,
    c10 = c00,
    c11 = c00,
    c20 = c00,
    c21 = c00,
    c30 = c00,
    c31 = c00;
  let c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    const av = v128.load(a);
    let s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    s = v128.load32_splat(a, 16);
    c40 = f32x4.relaxed_madd(s, b0, c40);
    c41 = f32x4.relaxed_madd(s, b1, c41);
    s = v128.load32_splat(a, 20);
    c50 = f32x4.relaxed_madd(s, b0, c50);
    c51 = f32x4.relaxed_madd(s, b1, c51);
    a += 24;
    b += 32;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
  y += ldy;
  v128.store(y, c40);
  v128.store(y, c41, 16);
  y += ldy;
  v128.store(y, c50);
  v128.store(y, c51, 16);
}

/** 4x12, 4 load32_splat */
export function f4x12(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  let c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16), b2 = v128.load(b, 32);
    let s = v128.load32_splat(a);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    c02 = f32x4.relaxed_madd(s, b2, c02);
    s = v128.load32_splat(a, 4);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    c12 = f32x4.relaxed_madd(s, b2, c12);
    s = v128.load32_splat(a, 8);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    c22 = f32x4.relaxed_madd(s, b2, c22);
    s = v128.load32_splat(a, 12);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    c32 = f32x4.relaxed_madd(s, b2, c32);
    a += 16;
    b += 48;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  v128.store(y, c02, 32);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  v128.store(y, c12, 32);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  v128.store(y, c22, 32);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
  v128.store(y, c32, 32);
}

/** 4x12, A vector + shuffles (17 live vectors) */
export function s4x12(a: usize, b: usize, K: i32, y: usize, ldy: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
  let c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16), b2 = v128.load(b, 32);
    const av = v128.load(a);
    let s = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
    c00 = f32x4.relaxed_madd(s, b0, c00);
    c01 = f32x4.relaxed_madd(s, b1, c01);
    c02 = f32x4.relaxed_madd(s, b2, c02);
    s = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
    c10 = f32x4.relaxed_madd(s, b0, c10);
    c11 = f32x4.relaxed_madd(s, b1, c11);
    c12 = f32x4.relaxed_madd(s, b2, c12);
    s = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
    c20 = f32x4.relaxed_madd(s, b0, c20);
    c21 = f32x4.relaxed_madd(s, b1, c21);
    c22 = f32x4.relaxed_madd(s, b2, c22);
    s = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
    c30 = f32x4.relaxed_madd(s, b0, c30);
    c31 = f32x4.relaxed_madd(s, b1, c31);
    c32 = f32x4.relaxed_madd(s, b2, c32);
    a += 16;
    b += 48;
  }
  v128.store(y, c00);
  v128.store(y, c01, 16);
  v128.store(y, c02, 32);
  y += ldy;
  v128.store(y, c10);
  v128.store(y, c11, 16);
  v128.store(y, c12, 32);
  y += ldy;
  v128.store(y, c20);
  v128.store(y, c21, 16);
  v128.store(y, c22, 32);
  y += ldy;
  v128.store(y, c30);
  v128.store(y, c31, 16);
  v128.store(y, c32, 32);
}

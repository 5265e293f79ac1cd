/**
 * Type declarations of the AssemblyScript built-ins that `condconv.ts` uses, so that Deno's
 * type checker, linter and formatter read the kernels as TypeScript. The AssemblyScript
 * compiler does not read this file: it has these built-ins itself (`std/assembly`).
 */
declare type i32 = number;
declare type u8 = number;
declare type usize = number;
declare type f32 = number;
declare type f64 = number;
declare type bool = boolean;
/** a 128-bit SIMD vector */
declare class v128 {
  private readonly brand: never;
}
declare const __heap_base: usize;
declare function load<T>(ptr: usize, immOffset?: usize): T;
declare function store<T>(ptr: usize, value: T, immOffset?: usize): void;
declare function min<T>(a: T, b: T): T;
declare namespace memory {
  function copy(dst: usize, src: usize, n: usize): void;
  function fill(dst: usize, value: u8, n: usize): void;
}
declare namespace v128 {
  function load(ptr: usize, immOffset?: usize): v128;
  function store(ptr: usize, value: v128, immOffset?: usize): void;
  function load32_splat(ptr: usize, immOffset?: usize): v128;
  function store32_lane(ptr: usize, vec: v128, idx: u8, immOffset?: usize): void;
  function shuffle<T>(a: v128, b: v128, ...lanes: u8[]): v128;
}
declare namespace f32x4 {
  function splat(x: f32): v128;
  function add(a: v128, b: v128): v128;
  function mul(a: v128, b: v128): v128;
  function relaxed_madd(a: v128, b: v128, c: v128): v128;
}
declare namespace f64x2 {
  function splat(x: f64): v128;
  function add(a: v128, b: v128): v128;
  function promote_low_f32x4(a: v128): v128;
  function extract_lane(a: v128, idx: u8): f64;
}

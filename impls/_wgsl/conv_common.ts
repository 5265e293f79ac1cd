/**
 * WGSL the two convolution stages (`gemm.ts`, `depthwise.ts`) share: the padding mapping,
 * the bias, the bindings and the geometry parameters.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { type BufferRole, type ParamField, storage } from "./stage.ts";

/**
 * WGSL of `fn name(p: i32) -> i32`: the input row or column (of `P.<size>` ones) that padded
 * coordinate `p` reads, or -1 for a zero. `p` is the padded coordinate minus the leading
 * padding, as in reference.ts `sourceIndex`. Tiles that hang past the output ask for
 * positions far outside the padding; those must still come back in range or -1.
 *
 * Circular padding wraps with `%` on unsigned values only: WGSL's i32 `%` truncates, but a
 * GLSL translation leaves it undefined for negative operands.
 */
export function sourceIndexWgsl(
  name: string,
  size: string,
  mode: CondConvSpec["paddingMode"],
): string {
  const n = `P.${size}`;
  const inRange = `if (p >= 0i && u32(p) < ${n}) { return p; }`;
  switch (mode) {
    case "zeros":
      return `fn ${name}(p: i32) -> i32 {\n  ${inRange}\n  return -1i;\n}`;
    case "replicate":
      return `fn ${name}(p: i32) -> i32 {
  if (p < 0i) { return 0i; }
  return i32(min(u32(p), ${n} - 1u));
}`;
    case "reflect":
      // p < 0 reads -p; p >= n reads 2 (n - 1) - p; farther than one reflection is garbage
      return `fn ${name}(p: i32) -> i32 {
  ${inRange}
  if (p < 0i) {
    let back = u32(-(p + 1i));
    let q = back + 1u;
    if (q < ${n}) { return i32(q); }
    return -1i;
  }
  let over = u32(p) - ${n} + 1u;
  if (over < ${n}) { return i32(${n} - 1u - over); }
  return -1i;
}`;
    case "circular":
      // p >= 0: p mod n; p < 0: n - 1 - ((-p - 1) mod n), all in u32
      return `fn ${name}(p: i32) -> i32 {
  if (p >= 0i) {
    let up = u32(p);
    let q = up % ${n};
    return i32(q);
  }
  let back = u32(-(p + 1i));
  let q = ${n} - 1u - back % ${n};
  return i32(q);
}`;
  }
}

/** The per-expert bias's offset in each mixed row: after the kernel. */
function kernelFloatsOf(g: Geometry): number {
  return g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
}

/** WGSL declarations and the `biasOf(b, o)` function for the layer's bias kind. */
export function biasWgsl(spec: CondConvSpec): { roles: BufferRole[]; fn: string } {
  switch (spec.bias) {
    case "none":
      return { roles: [], fn: `fn biasOf(b: u32, o: u32) -> f32 { return 0.0; }` };
    case "shared":
      return { roles: ["bias"], fn: `fn biasOf(b: u32, o: u32) -> f32 { return bias[o]; }` };
    case "perExpert":
      // the mixed bias sits after the mixed kernel of each example
      return {
        roles: [],
        fn: `fn biasOf(b: u32, o: u32) -> f32 { return kmix[b * P.L + P.KF + o]; }`,
      };
  }
}

/** The storage bindings of a convolution stage, in `roles` order. */
export function convBindings(roles: BufferRole[]): string {
  const names: Record<string, [string, boolean]> = {
    input: ["xin", false],
    mixed: ["kmix", false],
    bias: ["bias", false],
    output: ["yout", true],
  };
  return roles.map((r, n) => storage(n, names[r][0], names[r][1])).join("\n");
}

/** The geometry parameters both convolution stages read. */
export function geometryParams(g: Geometry, mixedStride: number): ParamField[] {
  return [
    ["C", "u32", g.inChannels],
    ["H", "u32", g.inHeight],
    ["W", "u32", g.inWidth],
    ["O", "u32", g.outChannels],
    ["OH", "u32", g.outHeight],
    ["OW", "u32", g.outWidth],
    ["PT", "i32", g.padTop],
    ["PL", "i32", g.padLeft],
    ["CPG", "u32", g.channelsPerGroup],
    ["L", "u32", mixedStride],
    ["KF", "u32", kernelFloatsOf(g)],
  ];
}

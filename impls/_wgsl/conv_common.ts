/**
 * WGSL the two convolution stages (`gemm.ts`, `depthwise.ts`) share: the padding mapping,
 * the bias, the bindings and the geometry parameters.
 * @module
 */
import type { CondConvSpec } from "../../condconv/spec.ts";
import type { Geometry } from "../../condconv/geometry.ts";
import { type BufferRole, type ParamField, storage, u32Params } from "./stage.ts";

/** `P.MODE` of each padding mode. */
export const PADDING_MODE_CODES = { zeros: 0, reflect: 1, replicate: 2, circular: 3 } as const;

/** `P.BIAS` of each bias kind. */
export const BIAS_CODES = { none: 0, shared: 1, perExpert: 2 } as const;

/** What each padding mode reads for a `p` outside `[0, n)` (`n` the extent), in WGSL. */
function paddingBody(mode: CondConvSpec["paddingMode"], n: string): string {
  switch (mode) {
    case "zeros":
      return `return -1i;`;
    case "replicate":
      return `if (p < 0i) { return 0i; }
    return i32(${n} - 1u);`;
    case "circular":
      // p < 0: n - 1 - ((-p - 1) mod n); p >= n: p mod n
      return `if (p < 0i) {
      let back = u32(-(p + 1i));
      let q = ${n} - 1u - back % ${n};
      return i32(q);
    }
    let up = u32(p);
    let q = up % ${n};
    return i32(q);`;
    case "reflect":
      // p < 0 reads -p, p >= n reads 2 (n - 1) - p; farther than one reflection is never read
      return `if (p < 0i) {
      let back = u32(-(p + 1i));
      let q = back + 1u;
      if (q < ${n}) { return i32(q); }
      return -1i;
    }
    let over = u32(p) - ${n} + 1u;
    if (over < ${n}) { return i32(${n} - 1u - over); }
    return -1i;`;
  }
}

/**
 * WGSL of `fn name(p: i32) -> i32`: the input row or column (of `P.<size>` ones) that padded
 * coordinate `p` reads, or -1 for a zero. `p` is the padded coordinate minus the leading
 * padding, as in reference.ts `sourceIndex`. Tiles that hang past the output ask for
 * positions far outside the padding; those still come back in range or -1.
 *
 * With `mode`, the function knows that one padding mode; without, it reads the mode from
 * `P.MODE`, so one pipeline serves all four (the GEMM, where the gather is a small part of
 * the work; the depthwise kernel compiles its mode in, see `depthwise.ts`).
 *
 * Circular padding wraps with `%` on unsigned values only: WGSL's i32 `%` truncates, but a
 * GLSL translation leaves it undefined for negative operands.
 */
export function sourceIndexWgsl(
  name: string,
  size: string,
  mode?: CondConvSpec["paddingMode"],
): string {
  const n = `P.${size}`;
  const modes = Object.keys(PADDING_MODE_CODES) as CondConvSpec["paddingMode"][];
  const body = mode
    ? `  ${paddingBody(mode, n)}`
    : modes.filter((m) => m !== "zeros").map((m) =>
      `  if (P.MODE == ${PADDING_MODE_CODES[m]}u) {\n    ${paddingBody(m, n)}\n  }`
    ).join("\n") + "\n  return -1i;";
  return `fn ${name}(p: i32) -> i32 {
  if (p >= 0i && u32(p) < ${n}) { return p; }
${body}
}`;
}

/** The per-expert bias's offset in each mixed row: after the kernel. */
function kernelFloatsOf(g: Geometry): number {
  return g.outChannels * g.channelsPerGroup * g.kernelHeight * g.kernelWidth;
}

/**
 * WGSL of `biasOf(b, o)` for bias kind `P.BIAS`: none, the shared `bias` buffer (bound for
 * every kind, a placeholder where unused), or the mixed bias after each example's mixed
 * kernel.
 */
export const BIAS_WGSL = `fn biasOf(b: u32, o: u32) -> f32 {
  if (P.BIAS == ${BIAS_CODES.shared}u) { return bias[o]; }
  if (P.BIAS == ${BIAS_CODES.perExpert}u) { return kmix[b * P.L + P.KF + o]; }
  return 0.0;
}`;

/** The buffers a convolution stage binds, in binding order. */
export const CONV_ROLES: BufferRole[] = ["input", "mixed", "bias", "output"];

/** The storage bindings of a convolution stage ({@link CONV_ROLES}). */
export function convBindings(): string {
  const names: Record<string, [string, boolean]> = {
    input: ["xin", false],
    mixed: ["kmix", false],
    bias: ["bias", false],
    output: ["yout", true],
  };
  return CONV_ROLES.map((r, n) => storage(n, names[r][0], names[r][1])).join("\n");
}

/** The geometry, padding mode and bias kind parameters both convolution stages read. */
export function geometryParams(
  spec: CondConvSpec,
  g: Geometry,
  mixedStride: number,
): ParamField[] {
  const sizes = u32Params({
    C: g.inChannels,
    H: g.inHeight,
    W: g.inWidth,
    O: g.outChannels,
    OH: g.outHeight,
    OW: g.outWidth,
    CPG: g.channelsPerGroup,
    L: mixedStride,
    KF: kernelFloatsOf(g),
    MODE: PADDING_MODE_CODES[spec.paddingMode],
    BIAS: BIAS_CODES[spec.bias],
  });
  return [...sizes, ["PT", "i32", g.padTop], ["PL", "i32", g.padLeft]];
}

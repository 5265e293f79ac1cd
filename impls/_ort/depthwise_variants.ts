/**
 * Other ONNX graphs of a depthwise CondConv convolution, measured against the one the
 * adapters build (`"grouped"`, the graph of the `depthwise-folded` formulation) to find a
 * faster one for onnxruntime-web 1.30's wasm EP (issue 18). None was faster (why and the
 * figures: below); the graphs stay so that `scripts/ort_timing.ts --depthwise-variants` can
 * measure them again, on another machine or another onnxruntime-web. No adapter uses them;
 * `depthwise_variants_test.ts` checks that each computes the layer.
 *
 * Each model is the mixing and the convolution only: inputs `input` `(B, C, H, W)` and
 * `routing` `(B, E)`, output `output` `(B, C, outH, outW)`, the experts `(E, C, k, k)`
 * rearranged (in JavaScript, once) into whatever kernel layout the variant's `Conv` or `Mul`
 * needs, so that one `MatMul(routing, experts)` gives it directly. Zero padding only; a
 * square kernel and stride, no dilation (the effnet-b0 depthwise layers).
 *
 * - `grouped`: the adapters' graph: the batch folded into `group = B*C` of one `Conv` with
 *   the padding in `pads`. MLAS runs it as `B*C` units of im2col plus a `1 x k*k` GEMV.
 * - `grouped-padded`: the same with the padding as a `Pad` node (no padding branches in
 *   MLAS's im2col).
 * - `channel-pairs`: two channels per group (`group = B*C/2`), a block-diagonal kernel: half
 *   the units, each a 2-row SGEMM over twice the taps.
 * - `polyphase` (stride 2): the four phases of the padded input as 4 channels per group and
 *   the `k x k` kernel as four `ceil(k/2)` square ones: a stride-1 `Conv` (MLAS's im2col
 *   copies strided rows element by element).
 * - `toeplitz-gemm` (stride 1): one filter per output column, spanning the whole padded
 *   width (`k x Wp`, the kernel row shifted to the column: a Toeplitz band), so that MLAS takes
 *   its `GemmDirect` path (a kernel as wide as the input: no im2col, one SGEMM per unit,
 *   `outW x outH x k*Wp`); the output comes transposed and is transposed back.
 * - `toeplitz-pointwise` (stride 1): `k` column-shifted copies of the input stacked as
 *   channels, then a 1x1 `Conv` whose filters are Toeplitz bands over the rows: MLAS's
 *   pointwise `GemmDirect`, `outH x outW x k*Hp` per unit.
 * - `nhwc-taps`: channels last (`(H, W, B*C)`, two `Transpose`s), then per tap a strided
 *   `Slice`, a `Mul` by the tap's `(B*C)` weights and an `Add`: no per-channel units at all.
 * - `nhwc-gather`: channels last, all taps at once by one `Gather` of whole pixel rows
 *   `(k*k, outH*outW, B*C)`, one `Mul` and a `ReduceSum` over the taps.
 *
 * ## Why the grouped `Conv` is as fast as ONNX Runtime's wasm EP gets
 *
 * Read in microsoft/onnxruntime's current sources (the 1.30 wasm binary has their strings,
 * e.g. `Nhwc Conv fast-path expects 2D input shape.`):
 * - The CPU EP's float `Conv` (`core/providers/cpu/nn/conv.cc`, `Conv<float>::Compute`)
 *   always calls `MlasConvPrepare` + `MlasConv`; it has no `PrePack`, so a constant kernel
 *   (initializer) runs the same code as a computed one (measured: the same time).
 * - `MlasConvPrepare` (`core/mlas/lib/convolve.cpp`) picks `MlasConvAlgorithmDepthwise`
 *   (the direct kernel `MlasConvDepthwiseFloat_CHW`) only under `MLAS_TARGET_WASM_SCALAR`
 *   or `MLAS_TARGET_ARM64`, and only for 3x3 kernels with pads <= 1 and dilation 1 (stride
 *   1 on ARM64). `mlas.h` defines `MLAS_TARGET_WASM_SCALAR` only when `__wasm_simd128__` is
 *   not, and onnxruntime-web 1.30 ships SIMD builds only (`ort-wasm-simd-threaded*.wasm`):
 *   the direct depthwise kernel is not compiled in, for 3x3 layers either (a 3x3 and a 5x5
 *   layer cost the same per tap here), so there is no fast kernel to split a 5x5 into.
 *   `MlasConvAlgorithmDepthwiseMultiplier2` (7x7, stride 2, 2 outputs per channel) is
 *   AMD64/ARM64/scalar-wasm only too.
 * - So a depthwise `Conv` (1 input channel and 1 filter per group) is
 *   `MlasConvAlgorithmExpandThenGemmSegmented`: per (example, group) unit, an im2col of
 *   `k*k x outH*outW` floats and an SGEMM with M = 1, which on wasm is
 *   `MlasGemvFloatKernel` (4 taps per pass over the output row). The only other paths are
 *   `GemmDirect` (a 1x1 kernel, or one as wide as the input: the Toeplitz variants, paying
 *   `Wp / k` times the multiplies in small packed SGEMMs, MLAS's wasm kernel being 2 rows x
 *   16 columns without FMA) and `ExpandThenGemm` (more filters than output pixels).
 * - Layouts: the NCHWc transformer needs `MlasNchwcGetBlockSize() > 1`, AMD64 only; the
 *   float channels-last `Conv` (`NhwcFusedConv`, the `NhwcTransformer`'s float rewrite) has
 *   a fast path only where `MlasConvSupportsSymmetricChannelsLast2DFloatKernel` holds
 *   (KleidiAI, ARM64) and otherwise transposes to NCHW around the same `MlasConv`; the wasm
 *   binary has no XNNPACK kernels (no `xnn_` symbols; onnxruntime-web's JavaScript accepts
 *   only the `wasm`/`cpu`, `webgpu` and `webnn` EPs) and no `session.use_nhwc` option.
 *   The graph optimization level does not change the `Conv`'s algorithm (fusions keep
 *   `MlasConv`; measured: `"disabled"` no faster than the adapters' `"all"`).
 * - Where the time goes, from ONNX Runtime's profiler (`enableProfiling`, the `Conv` node
 *   alone, batch 8, load about 4 on 2 cores): the GEMV is most of it on 14x14 (dw5-672-14:
 *   23-34 ms for the depthwise `Conv`, 22-31 ms for a 1x1 grouped `Conv` of the same units
 *   over 25 already-expanded taps, 0.3-0.8 ms for a 1x1 grouped `Conv` of one tap: the
 *   per-unit overhead is small); on 7x7 the im2col is half (dw5-1152-7: 16-27 against 6-12
 *   ms); with stride 2 the element-by-element strided im2col dominates (dw5-672-s2-14: 27-37
 *   against 8-16 ms). tfjs-wasm's XNNPACK kernel instead keeps each output's 25 taps in
 *   registers, channels across the SIMD lanes (NHWC), and reads each input once per tap.
 *   Every variant above either adds passes over memory (channels last: a `Slice`, a `Mul`
 *   and an `Add` per tap; ONNX Runtime fuses none of them), multiplies the work (Toeplitz,
 *   pairs, polyphase's 36 taps for 25) or adds `Transpose`/`Pad` copies, which cost 2-9 ms
 *   each at batch 8 on this machine.
 *
 * ## Measured
 *
 * `scripts/ort_timing.ts --depthwise-variants --case 'effnet-b0.dw*' --batch 1,8 --runs 15`
 * (2-core VM shared with other jobs, load average 3.9 at start and end; a second run right
 * after, load 3.9 to 4.5, gave the same picture). Medians in ms, all runs interleaved; the
 * adapters' runs include routing and readback, the variants' mixing and readback, and the
 * `grouped` variant tracks the ort-wasm adapter within noise. `padded`: `grouped-padded`,
 * `pairs`: `channel-pairs`, `toep`: `toeplitz-gemm` (`p`: `polyphase`, stride 2, where the
 * Toeplitz variants do not apply), `toep-pw`: `toeplitz-pointwise`, `taps`: `nhwc-taps`,
 * `gather`: `nhwc-gather`. Every output matched the golden.
 *
 * | layer         | B | ort-wasm | tfjs-wasm | padded | pairs | toep   | toep-pw | taps | gather |
 * | ------------- | - | -------- | --------- | ------ | ----- | ------ | ------- | ---- | ------ |
 * | dw5-480-14    | 1 | 3.5      | 3.2       | 3.2    | 4.1   | 12.8   | 12.4    | 7.1  | 10.1   |
 * | dw5-480-14    | 8 | 25.4     | 13.9      | 23.8   | 31.6  | 55.5   | 42.0    | 53.3 | 60.5   |
 * | dw5-672-14    | 1 | 4.1      | 2.8       | 3.9    | 5.0   | 12.0   | 9.4     | 7.0  | 7.9    |
 * | dw5-672-14    | 8 | 27.9     | 19.6      | 29.8   | 36.3  | 67.7   | 50.2    | 56.2 | 72.2   |
 * | dw5-672-s2-14 | 1 | 1.9      | 1.5       | 1.9    | 2.3   | p 3.4  | n/a     | 2.1  | 2.3    |
 * | dw5-672-s2-14 | 8 | 19.1     | 12.8      | 19.2   | 24.0  | p 33.1 | n/a     | 24.4 | 25.8   |
 * | dw5-1152-7    | 1 | 3.3      | 1.6       | 3.2    | 3.9   | 6.7    | 5.9     | 2.9  | 3.3    |
 * | dw5-1152-7    | 8 | 22.5     | 10.1      | 23.9   | 27.5  | 37.8   | 33.6    | 25.6 | 30.1   |
 * | dw3-1152-7    | 1 | 1.2      | 1.1       | 1.2    | 1.3   | 3.6    | 3.4     | 1.2  | 1.8    |
 * | dw3-1152-7    | 8 | 9.6      | 6.7       | 8.0    | 10.8  | 18.8   | 19.6    | 12.1 | 17.4   |
 *
 * No variant beats the grouped `Conv` beyond noise (`grouped-padded` and, at batch 1 on 7x7,
 * `nhwc-taps` tie it); tfjs-wasm stays 1.4-2.2x faster at batch 8 and 1.1-2.1x at batch 1.
 * @module
 */
import onnxProto from "onnx-proto";
import type { CondConvSpec } from "../../condconv/spec.ts";
import { type Geometry, resolveGeometry } from "../../condconv/geometry.ts";
import {
  GraphBuilder,
  INPUT_NAME,
  int64Tensor,
  intAttribute,
  intsAttribute,
  OUTPUT_NAME,
  ROUTING_INPUT_NAME,
  valueInfo,
} from "../../condconv/formats/onnx_graph_builder.ts";
import { ONNX_IR_VERSION, ONNX_OPSET } from "../../condconv/formats/onnx_graph.ts";

const { onnx } = onnxProto;

/** The depthwise graphs measured, in the order the timings list them. */
export const DEPTHWISE_VARIANTS = [
  "grouped",
  "grouped-padded",
  "channel-pairs",
  "polyphase",
  "toeplitz-gemm",
  "toeplitz-pointwise",
  "nhwc-taps",
  "nhwc-gather",
] as const;
export type DepthwiseVariant = typeof DEPTHWISE_VARIANTS[number];

/** Why `variant` cannot build `spec` at this input size, or `undefined` when it can. */
export function depthwiseVariantProblem(
  g: Geometry,
  variant: DepthwiseVariant,
): string | undefined {
  const k = g.kernelHeight, s = g.strideHeight;
  if (g.groups !== g.inChannels || g.outChannels !== g.inChannels) return "not a depthwise layer";
  if (g.kernelWidth !== k || g.strideWidth !== s) return "needs a square kernel and stride";
  if (g.dilationHeight !== 1 || g.dilationWidth !== 1) return "needs dilation 1";
  if (variant === "channel-pairs" && g.inChannels % 2 !== 0) return "needs an even channel count";
  if (variant === "polyphase") {
    if (s !== 2) return "needs stride 2";
    const q = Math.ceil(k / 2);
    const fits = (size: number, before: number, after: number, out: number) =>
      size + before + after <= 2 * (out + q - 1);
    if (
      !fits(g.inHeight, g.padTop, g.padBottom, g.outHeight) ||
      !fits(g.inWidth, g.padLeft, g.padRight, g.outWidth)
    ) return "the padded input is larger than its phases cover";
  }
  if ((variant === "toeplitz-gemm" || variant === "toeplitz-pointwise") && s !== 1) {
    return "needs stride 1";
  }
  return undefined;
}

/** Where tap `(ky, kx)` of channel `c` goes in one expert's rearranged kernel (or places). */
type Place = (c: number, ky: number, kx: number) => number | number[];

/** The experts `(E, C, k, k)` rearranged per expert by `place`, zeros elsewhere. */
function rearranged(
  g: Geometry,
  experts: Float32Array,
  perExpert: number,
  place: Place,
): Float32Array {
  const k = g.kernelHeight, taps = k * k, c = g.inChannels;
  const out = new Float32Array(g.numExperts * perExpert);
  for (let e = 0; e < g.numExperts; e++) {
    for (let ch = 0; ch < c; ch++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const value = experts[(e * c + ch) * taps + ky * k + kx];
          const to = place(ch, ky, kx);
          for (const i of typeof to === "number" ? [to] : to) out[e * perExpert + i] = value;
        }
      }
    }
  }
  return out;
}

/** Builds one graph of `spec`'s depthwise convolution (see the module doc). */
export function buildDepthwiseVariant(
  spec: CondConvSpec,
  experts: Float32Array,
  shape: { batch: number; height: number; width: number },
  variant: DepthwiseVariant,
): Uint8Array<ArrayBuffer> {
  const g = resolveGeometry(spec, [shape.batch, spec.inChannels, shape.height, shape.width]);
  const problem = depthwiseVariantProblem(g, variant);
  if (problem) throw new RangeError(`Cannot build the depthwise variant "${variant}": ${problem}`);
  const k = g.kernelHeight, s = g.strideHeight, taps = k * k;
  const { batch, inChannels: c, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = g;
  const { padTop: pt, padLeft: pl, padBottom: pb, padRight: pr } = g;
  if (experts.length !== g.numExperts * c * taps) {
    throw new TypeError(
      `Cannot build the depthwise variant: expertKernels must hold ${g.numExperts * c * taps} ` +
        `floats (E, C, k, k), got ${experts.length}`,
    );
  }
  const bc = batch * c, hp = h + pt + pb, wp = w + pl + pr;
  const b = new GraphBuilder();
  for (const name of [INPUT_NAME, ROUTING_INPUT_NAME, OUTPUT_NAME]) b.unique(name);
  /** the per-example kernel in the variant's layout: routing x rearranged experts */
  const kernel = (perExpert: number, shape4: number[], place: Place) => {
    const e = b.floats(
      "experts",
      [g.numExperts, perExpert],
      rearranged(g, experts, perExpert, place),
    );
    return b.reshape(b.op("MatMul", [ROUTING_INPUT_NAME, e], [], "mixed"), shape4, "kernel");
  };
  const depthwise = () => kernel(c * taps, [bc, 1, k, k], (ch, ky, kx) => ch * taps + ky * k + kx);
  const folded = b.reshape(INPUT_NAME, [1, bc, h, w], "folded");
  const padded = (x: string) => b.pad(x, [0, 0, pt, pl, 0, 0, pb, pr]);
  const conv = (
    x: string,
    weights: string,
    kernelShape: number[],
    attrs: onnxProto.onnx.IAttributeProto[],
  ) => b.op("Conv", [x, weights], [intsAttribute("kernel_shape", kernelShape), ...attrs], "conv");
  const transposed = (x: string, perm: number[]) =>
    b.op("Transpose", [x], [intsAttribute("perm", perm)], "transpose");
  let y: string;
  switch (variant) {
    case "grouped":
    case "grouped-padded": {
      const attrs = [intsAttribute("strides", [s, s]), intAttribute("group", bc)];
      y = variant === "grouped"
        ? conv(folded, depthwise(), [k, k], [...attrs, intsAttribute("pads", [pt, pl, pb, pr])])
        : conv(padded(folded), depthwise(), [k, k], attrs);
      break;
    }
    case "channel-pairs": {
      // filter of channel ch reads channel ch of its pair; the other channel's taps are zero
      const weights = kernel(
        c * 2 * taps,
        [bc, 2, k, k],
        (ch, ky, kx) => (ch * 2 + ch % 2) * taps + ky * k + kx,
      );
      y = conv(folded, weights, [k, k], [
        intsAttribute("strides", [s, s]),
        intsAttribute("pads", [pt, pl, pb, pr]),
        intAttribute("group", bc / 2),
      ]);
      break;
    }
    case "polyphase": {
      // y = sum over phases (p, q) of a stride-1 q x q conv of phase (p, q): tap (ky, kx) is
      // phase (ky % 2, kx % 2), position (ky >> 1, kx >> 1)
      const q = Math.ceil(k / 2), ph = oh + q - 1, pw = ow + q - 1;
      const x = b.pad(folded, [0, 0, pt, pl, 0, 0, 2 * ph - h - pt, 2 * pw - w - pl]);
      const phases = transposed(b.reshape(x, [bc, ph, 2, pw, 2]), [0, 2, 4, 1, 3]);
      const weights = kernel(
        c * 4 * q * q,
        [bc, 4, q, q],
        (ch, ky, kx) => ((ch * 4 + (ky % 2) * 2 + kx % 2) * q + (ky >> 1)) * q + (kx >> 1),
      );
      y = conv(b.reshape(phases, [1, bc * 4, ph, pw]), weights, [q, q], [
        intAttribute("group", bc),
      ]);
      break;
    }
    case "toeplitz-gemm": {
      // filter (ch, j) = the kernel rows placed at columns j..j+k-1 of a k x wp band
      const band = k * wp;
      const columns = Array.from({ length: ow }, (_, j) => j);
      const weights = kernel(
        c * ow * band,
        [bc * ow, 1, k, wp],
        (ch, ky, kx) => columns.map((j) => ((ch * ow + j) * k + ky) * wp + j + kx),
      );
      const out = conv(padded(folded), weights, [k, wp], [intAttribute("group", bc)]);
      y = transposed(b.reshape(out, [batch, c, ow, oh]), [0, 1, 3, 2]);
      break;
    }
    case "toeplitz-pointwise": {
      const shifted: string[] = [];
      const x = padded(INPUT_NAME);
      for (let v = 0; v < k; v++) shifted.push(b.slice(x, [v], [v + ow], [3], undefined, "shift"));
      const stacked = b.op("Concat", shifted, [intAttribute("axis", 2)], "shifts"); // (B,C,k*hp,ow)
      // filter (ch, i) reads shifted copy kx at padded rows i..i+k-1
      const rows = Array.from({ length: oh }, (_, i) => i);
      const weights = kernel(
        c * oh * k * hp,
        [bc * oh, k * hp, 1, 1],
        (ch, ky, kx) => rows.map((i) => (ch * oh + i) * k * hp + kx * hp + i + ky),
      );
      const input = b.reshape(stacked, [1, bc * k * hp, 1, ow], "shifts_as_channels");
      y = conv(input, weights, [1, 1], [intAttribute("group", bc)]);
      break;
    }
    case "nhwc-taps":
    case "nhwc-gather": {
      // taps (k*k, B*C): the mixed kernel (B, C, k*k) transposed
      const mixed = kernel(c * taps, [batch, c, taps], (ch, ky, kx) => ch * taps + ky * k + kx);
      const tapWeights = b.reshape(transposed(mixed, [2, 0, 1]), [taps, bc], "tap_weights");
      const last = transposed(b.reshape(INPUT_NAME, [bc, h * w]), [1, 0]);
      const x = b.pad(b.reshape(last, [h, w, bc]), [pt, pl, 0, pb, pr, 0]);
      let acc: string;
      if (variant === "nhwc-taps") {
        acc = "";
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const tap = b.slice(
              x,
              [ky, kx],
              [ky + (oh - 1) * s + 1, kx + (ow - 1) * s + 1],
              [0, 1],
              [
                s,
                s,
              ],
              "tap",
            );
            const t = ky * k + kx;
            const weight = b.slice(tapWeights, [t], [t + 1], [0], undefined, "tap_weight");
            const term = b.op("Mul", [tap, weight], [], "term");
            acc = acc ? b.op("Add", [acc, term], [], "acc") : term;
          }
        }
      } else {
        const index: number[] = [];
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            for (let i = 0; i < oh; i++) {
              for (let j = 0; j < ow; j++) index.push((ky + i * s) * wp + kx + j * s);
            }
          }
        }
        const name = b.unique("tap_index");
        b.initializers.push({ ...int64Tensor(name, index), dims: [taps, oh * ow] });
        const gathered = b.op("Gather", [b.reshape(x, [hp * wp, bc]), name], [
          intAttribute("axis", 0),
        ], "taps");
        const terms = b.op("Mul", [gathered, b.reshape(tapWeights, [taps, 1, bc])], [], "terms");
        acc = b.op("ReduceSum", [terms, b.ints("axes", [0])], [intAttribute("keepdims", 0)], "sum");
      }
      y = transposed(b.reshape(acc, [oh * ow, bc]), [1, 0]);
      break;
    }
  }
  b.reshape(y, [batch, c, oh, ow], "output");
  b.nodes[b.nodes.length - 1].output = [OUTPUT_NAME];
  const model = {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    producerName: "condconv-bench",
    docString: `depthwise variant ${variant} (measurement only)`,
    graph: {
      name: `depthwise_${variant}`,
      node: b.nodes,
      initializer: b.initializers,
      input: [
        valueInfo(INPUT_NAME, [batch, c, h, w]),
        valueInfo(ROUTING_INPUT_NAME, [batch, g.numExperts]),
      ],
      output: [valueInfo(OUTPUT_NAME, [batch, c, oh, ow])],
    },
  };
  return new Uint8Array(onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish());
}

/**
 * Known library bugs as rules: a known failure is a predicate over the layer a check runs (its
 * spec, batch size and input size), the WebGPU implementation it runs on and whether the
 * adapter's workarounds are on, with the reason and the upstream links. One list serves every
 * check: the goldens, `--weights` user layers, bench pre-checks, the fuzz test and the browser
 * runner all ask {@link knownFailure}.
 *
 * A check that fails under a rule is reported as `known-fail`, with the rule's reason, and
 * does not fail the run: the suite keeps telling users that this backend is wrong for such
 * layers, without turning the run red for a bug this project cannot fix. A check that passes
 * under a rule is still reported as `pass`, with a note (the bug may be fixed by an upgrade, or
 * not show on this device). Only wrong numbers are forgiven; an error (a throw, a crash) under
 * a rule is still an error. A wrong number outside every rule is a plain fail.
 *
 * Where an adapter avoids a bug by changing its graph (`ort-webgpu`, see
 * `condconv/formats/onnx_graph_conv_bugs.ts`), the rule matches only with the workarounds
 * off (`--no-workarounds`): with them on, a wrong number there is the adapter's fault.
 * @module
 */
import { pair } from "../../condconv/geometry.ts";
import type { CondConvSpec } from "../../condconv/spec.ts";
import { condConvConvBug, staticConvBug } from "../../condconv/formats/onnx_graph.ts";

/** What a rule looks at: the layer one check runs, and where it runs. */
export interface CheckedLayer {
  /** the layer's spec, parsed (`CondConvSpec.parse`) */
  spec: CondConvSpec;
  /** the batch size of the input */
  batch: number;
  /**
   * The input's height and width. Rules that depend on them match, when they are left out,
   * if they match at some input size the spec accepts: pass them wherever they are known.
   */
  height?: number;
  width?: number;
  /**
   * The WebGPU implementation, as result rows name it (`"wgpu/vulkan llvmpipe"`,
   * `"wgpu/gl llvmpipe"`, a browser's); `undefined` where unknown or not a WebGPU adapter.
   */
  implementation?: string;
  /** whether the adapter's workarounds for library bugs are on (default `true`) */
  workarounds?: boolean;
  /**
   * true for the plain convolution of `prepareStatic` (bench's baseline, the fuzz's property
   * (c)) with the spec's geometry, rather than the CondConv layer; default `false`
   */
  static?: boolean;
}

/** One known library bug: the adapter it affects and the layers it makes wrong. */
export interface KnownFailure {
  /** a short stable name, e.g. `"ort-webgpu-conv"` */
  id: string;
  /** the adapter id */
  adapter: string;
  /** what is wrong, where it was seen, and how it was narrowed down */
  reason: string;
  /** upstream issues with the same symptoms (and how sure the match is) */
  upstream: readonly string[];
  /** the WebGPU implementations it was seen on */
  seenOn: readonly string[];
  /** whether a check of `layer` on this adapter is expected to give wrong numbers */
  affects(layer: CheckedLayer): boolean;
}

/**
 * onnxruntime-web 1.30's WebGPU `Conv`: three causes in the native WebGPU EP's shaders (see
 * `onnx_graph_conv_bugs.ts`), shown by the CondConv graph's grouped `Conv` (kernels larger than
 * 1x1; `group = batch x groups`). ort-webgpu avoids them by zero-padding channels or adding a
 * zero kernel row (its workarounds), so the rule holds with the workarounds off only.
 */
export const ORT_WEBGPU_CONV: KnownFailure = {
  id: "ort-webgpu-conv",
  adapter: "ort-webgpu",
  reason: "onnxruntime-web 1.30's WebGPU EP (the native C++ EP of onnxruntime-web/webgpu) " +
    "computes some Conv nodes wrong, errors of order 1 (up to ~6000x the tolerance); " +
    "ort-wasm runs the same ONNX models right. Three causes, read from the EP's source and " +
    "matched against ~1900 single-Conv models on llvmpipe (wgpu Vulkan and GL) with no " +
    "exception: (1) a grouped Conv vectorises the output channels by 4 or 2 across group boundaries when there are 4 or " +
    "more output channels per group that the vector width does not divide (the CondConv " +
    "graph has group = batch x groups: 5, 6, 7, 9, 10, ... output channels per group from " +
    "batch 2 on); (2) an ungrouped Conv with C % 3 == 0, C % 4 != 0, C > 3 input channels " +
    "and a multiple of 4 output channels reads channels 3.. as channels 0..2; (3) an " +
    "ungrouped Conv whose kernel is as large as its input, with zero top/left pads, ignores " +
    "bottom/right pads (TensorFlow 'same'). ort-webgpu avoids all three (zero channels, a " +
    "zero kernel row on top); this rule applies with its workarounds off (--no-workarounds)",
  upstream: [
    "https://github.com/microsoft/onnxruntime/issues/29651 (open: 'First Conv reducing a " +
    ">3-channel graph input miscomputes', WebGPU EP; matches cause 2)",
    "https://github.com/microsoft/onnxruntime/issues/26734 (open: 'Conv+auto_pad produces " +
    "significantly wrong values' on WebGPU; a padding bug with similar symptoms, not shown " +
    "to be cause 3)",
  ],
  seenOn: ["wgpu/vulkan llvmpipe", "wgpu/gl llvmpipe"],
  affects(layer) {
    // the bug is in the EP's generated WGSL: every WebGPU implementation runs it
    if (layer.workarounds !== false) return false;
    return sizesOf(layer).some(([height, width]) =>
      (layer.static
        ? staticConvBug(layer.spec, height, width)
        : condConvConvBug(layer.spec, layer.batch, height, width)) !== undefined
    );
  },
};

/** Every known failure. */
export const KNOWN_FAILURES: readonly KnownFailure[] = [ORT_WEBGPU_CONV];

/**
 * The input sizes to judge `layer` at: its own, or where left out, every size up to a little
 * past the dilated kernel (the size-dependent causes show at small sizes; larger ones repeat
 * them).
 */
function sizesOf(layer: CheckedLayer): [number, number][] {
  if (layer.height !== undefined && layer.width !== undefined) {
    return [[layer.height, layer.width]];
  }
  const [kh, kw] = pair(layer.spec.kernelSize);
  const [dh, dw] = pair(layer.spec.dilation);
  const [sh, sw] = pair(layer.spec.stride);
  const upTo = (given: number | undefined, k: number, d: number, s: number) =>
    given === undefined
      ? Array.from({ length: (k - 1) * d + 1 + s + 1 }, (_, i) => i + 1)
      : [given];
  const sizes: [number, number][] = [];
  for (const h of upTo(layer.height, kh, dh, sh)) {
    for (const w of upTo(layer.width, kw, dw, sw)) sizes.push([h, w]);
  }
  return sizes;
}

/**
 * The known failure that covers a check of `layer` on the adapter `adapterId`, if any.
 *
 * @example
 * ```ts
 * import { CondConvSpec } from "../../condconv/spec.ts";
 * import { knownFailure } from "./known_failures.ts";
 * const spec = CondConvSpec.parse({ inChannels: 1, outChannels: 5, kernelSize: 3 });
 * const raw = knownFailure("ort-webgpu", { spec, batch: 2, height: 5, width: 5, workarounds: false });
 * if (raw?.id !== "ort-webgpu-conv") throw new Error("expected the WebGPU Conv rule");
 * if (knownFailure("ort-webgpu", { spec, batch: 2, height: 5, width: 5 })) {
 *   throw new Error("the workaround is on by default: no rule applies");
 * }
 * ```
 */
export function knownFailure(
  adapterId: string,
  layer: CheckedLayer,
  list: readonly KnownFailure[] = KNOWN_FAILURES,
): KnownFailure | undefined {
  return list.find((k) => k.adapter === adapterId && k.affects(layer));
}

/**
 * The known failure that excuses a wrong number of one check that ran several layers (a
 * property that compares two runs): the first rule that covers any of them.
 */
export function knownFailureOfAny(
  adapterId: string,
  layers: readonly CheckedLayer[],
  list: readonly KnownFailure[] = KNOWN_FAILURES,
): KnownFailure | undefined {
  for (const layer of layers) {
    const known = knownFailure(adapterId, layer, list);
    if (known) return known;
  }
  return undefined;
}

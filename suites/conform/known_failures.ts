/**
 * Known library bugs: adapter x golden case pairs that fail conformance because of a bug in
 * the library under the adapter, not in the adapter, reported upstream or described well
 * enough to be.
 *
 * A listed pair that fails is reported as `known-fail`, with the entry's reason, and does not
 * fail `deno task conform`: the suite keeps telling users that this backend is wrong for such
 * layers, without turning the run red for a bug this project cannot fix. A listed pair that
 * passes is reported as `pass` with a note (the bug may be fixed by an upgrade, or not show on
 * this device): remove the entry once it passes everywhere. Only wrong numbers are forgiven;
 * an error (a throw, a crash) on a listed pair is still an error.
 * @module
 */
import { globToRegExp } from "../_shared/cli.ts";

/** One known library bug on some golden cases of one adapter. */
export interface KnownFailure {
  adapter: string;
  /** golden case ids or globs */
  cases: readonly string[];
  /** what is wrong, where it was seen, and how it was narrowed down */
  reason: string;
}

/** The onnxruntime-web WebGPU Conv bug the fuzz test found (see `fuzz_test.ts`). */
export const ORT_WEBGPU_CONV_CHANNELS: KnownFailure = {
  adapter: "ort-webgpu",
  cases: ["channels-3-5-batch-2", "channels-6-8"],
  reason: "onnxruntime-web 1.30's WebGPU Conv gives wrong values for some channel counts that " +
    "are not multiples of 4, on llvmpipe (no real GPU was available to compare); ort-wasm is " +
    "right on the same ONNX models. Seen: a grouped Conv with an even group count and 5, 6, 7, " +
    "9, 10 or 13 output channels per group (the per-example formulation at batch 2 has group " +
    "= 2), and a Conv with 6, 9, 15 or 18 input channels and a multiple of 4 output channels, " +
    "kernels other than 1x1 stride 1",
};

/** Every known failure. */
export const KNOWN_FAILURES: readonly KnownFailure[] = [ORT_WEBGPU_CONV_CHANNELS];

/** The known failure that covers `adapter` on `caseId`, if any. */
export function knownFailure(
  adapter: string,
  caseId: string,
  list: readonly KnownFailure[] = KNOWN_FAILURES,
): KnownFailure | undefined {
  return list.find((k) =>
    k.adapter === adapter && k.cases.some((c) => globToRegExp(c).test(caseId))
  );
}

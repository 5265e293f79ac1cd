/**
 * The catalogue's specs, cases and geometries: invalid specs and cases (a `ZodError` with the
 * field's path) and specs that cannot apply to an input (a `RangeError` naming the field).
 * @module
 */
import { z } from "zod";
import { GoldenCase } from "../../condconv/cases.ts";
import { CondConvSpec, type CondConvSpecInput } from "../../condconv/spec.ts";
import { resolveGeometry } from "../../condconv/geometry.ts";
import type { Entry } from "./entry.ts";

const MINIMAL = { inChannels: 4, outChannels: 8, kernelSize: 3 } as const;

/** A spec, case or geometry and its error. */
export interface SpecEntry extends Entry {
  act: () => unknown;
  /** for a `ZodError`: the path of the issue, dot-joined ("" for the root) */
  path?: string;
}

function zodEntry(name: string, spec: unknown, path: string, message: RegExp): SpecEntry {
  return { name, act: () => CondConvSpec.parse(spec), error: z.ZodError, path, message };
}

/** Applies a parsed spec to an input shape. */
function geometryOf(spec: CondConvSpecInput, shape: number[]) {
  return () => resolveGeometry(CondConvSpec.parse(spec), shape);
}

const CASE = {
  id: "bad",
  about: "a bad case",
  seed: 1,
  input: { batch: 1, height: 8, width: 8 },
  spec: MINIMAL,
};

/** The bad specs, cases and geometries. */
export const SPEC_AND_SHAPE: SpecEntry[] = [
  zodEntry(
    "spec with an unknown key",
    { ...MINIMAL, experts: 4 },
    "",
    /Unrecognized key: "experts"/,
  ),
  zodEntry(
    "spec without inChannels",
    { outChannels: 8, kernelSize: 3 },
    "inChannels",
    /expected number, received undefined/,
  ),
  zodEntry("spec that is null", null, "", /expected object, received null/),
  zodEntry("zero kernel", { ...MINIMAL, kernelSize: 0 }, "kernelSize", /Too small/),
  zodEntry("kernel triple", { ...MINIMAL, kernelSize: [3, 3, 3] }, "kernelSize", /Invalid input/),
  zodEntry("fractional numExperts", { ...MINIMAL, numExperts: 2.5 }, "numExperts", /expected int/),
  zodEntry(
    "infinite inChannels",
    { ...MINIMAL, inChannels: Infinity },
    "inChannels",
    /received Infinity/,
  ),
  zodEntry(
    "NaN softmax temperature",
    { ...MINIMAL, routing: { kind: "softmax", temperature: NaN } },
    "routing.temperature",
    /received NaN/,
  ),
  zodEntry(
    "infinite softmax temperature",
    { ...MINIMAL, routing: { kind: "softmax", temperature: Infinity } },
    "routing.temperature",
    /received Infinity/,
  ),
  zodEntry(
    "unknown routing kind",
    { ...MINIMAL, routing: { kind: "relu" } },
    "routing.kind",
    /Expected 'sigmoid' \| 'softmax' \| 'supplied'/,
  ),
  zodEntry(
    "unknown padding mode",
    { ...MINIMAL, paddingMode: "mirror" },
    "paddingMode",
    /expected one of "zeros"\|"reflect"\|"replicate"\|"circular"/,
  ),
  zodEntry(
    "bias as a boolean",
    { ...MINIMAL, bias: true },
    "bias",
    /expected one of "none"\|"shared"\|"perExpert"/,
  ),
  zodEntry(
    "dropout rate 1",
    { ...MINIMAL, dropoutRate: 1 },
    "dropoutRate",
    /expected number to be <1/,
  ),
  zodEntry(
    "groups not dividing inChannels",
    { ...MINIMAL, groups: 3 },
    "groups",
    /groups \(3\) must divide inChannels \(4\)/,
  ),
  zodEntry(
    "groups not dividing outChannels",
    { ...MINIMAL, outChannels: 6, groups: 4 },
    "groups",
    /groups \(4\) must divide outChannels \(6\)/,
  ),
  {
    name: "golden case whose inputScale is not a power of two",
    act: () => GoldenCase.parse({ ...CASE, data: { inputScale: 3 } }),
    error: z.ZodError,
    path: "data.inputScale",
    message: /inputScale must be a power of two/,
  },
  {
    name: "golden case with a NaN input offset",
    act: () => GoldenCase.parse({ ...CASE, data: { inputOffset: NaN } }),
    error: z.ZodError,
    path: "data.inputOffset",
    message: /received NaN/,
  },
  {
    name: "golden case whose reflect padding reaches the input's size",
    act: () =>
      GoldenCase.parse({
        ...CASE,
        input: { batch: 1, height: 2, width: 8 },
        spec: { ...MINIMAL, padding: 2, paddingMode: "reflect" },
      }),
    error: z.ZodError,
    path: "spec.padding",
    message: /reflect padding must be smaller than the input: pads 2 height pixels/,
  },
  {
    name: "kernel larger than the padded input",
    act: geometryOf({ ...MINIMAL, kernelSize: 5, padding: 1 }, [1, 4, 2, 8]),
    error: RangeError,
    message: /kernelSize: kernel spans 5 height pixels .* the padded input has 4/,
  },
  {
    name: "dilated kernel larger than the input",
    act: geometryOf({ ...MINIMAL, dilation: [1, 4] }, [1, 4, 8, 8]),
    error: RangeError,
    message: /kernel spans 9 width pixels \(kernel 3, dilation 4\) but the padded input has 8/,
  },
  {
    name: "circular padding beyond the input",
    act: geometryOf({ ...MINIMAL, padding: [0, 3], paddingMode: "circular" }, [1, 4, 8, 2]),
    error: RangeError,
    message: /circular padding cannot exceed the input: pads 3 width pixels/,
  },
  {
    name: "TensorFlow same padding that reflects past a 1-pixel input",
    act: geometryOf({ ...MINIMAL, padding: "same", paddingMode: "reflect" }, [1, 4, 1, 8]),
    error: RangeError,
    message: /reflect padding must be smaller than the input: pads 1 height pixels of an input 1/,
  },
];

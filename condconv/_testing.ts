/**
 * Layers that several test files check, so each is written once. Test helpers only.
 * @module
 */
import type { CondConvSpecInput } from "./spec.ts";

/**
 * Every option away from its default at once (rectangular kernel and padding, groups, stride,
 * dilation, reflect padding, per-expert bias, softmax routing, 5 experts), with an input size
 * `[batch, height, width]` it applies to.
 */
export const KITCHEN_SINK: [string, CondConvSpecInput, [number, number, number]] = [
  "kitchen sink",
  {
    inChannels: 4,
    outChannels: 8,
    kernelSize: [3, 5],
    padding: [2, 4],
    groups: 2,
    stride: 2,
    dilation: 2,
    paddingMode: "reflect",
    bias: "perExpert",
    routing: { kind: "softmax", temperature: 2 },
    numExperts: 5,
  },
  [3, 9, 12],
];

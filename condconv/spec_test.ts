import assert from "node:assert/strict";
import { z } from "zod";
import { CondConvSpec } from "./spec.ts";

function issuesOf(input: unknown) {
  const parsed = CondConvSpec.safeParse(input);
  assert.equal(parsed.success, false, "expected the spec to be rejected");
  return parsed.error!.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

const minimal = { inChannels: 4, outChannels: 8, kernelSize: 3 };

Deno.test("CondConvSpec fills the reference module's defaults", () => {
  const spec = CondConvSpec.parse(minimal);
  assert.deepEqual(spec, {
    ...minimal,
    stride: 1,
    padding: 0,
    dilation: 1,
    paddingMode: "zeros",
    groups: 1,
    bias: "shared",
    numExperts: 3,
    routing: { kind: "sigmoid" },
    dropoutRate: 0.2,
  });
});

Deno.test("CondConvSpec accepts every option", () => {
  const spec = CondConvSpec.parse({
    inChannels: 6,
    outChannels: 12,
    kernelSize: [3, 5],
    stride: [1, 2],
    padding: "same",
    dilation: [2, 1],
    paddingMode: "circular",
    groups: 3,
    bias: "perExpert",
    numExperts: 16,
    routing: { kind: "softmax", temperature: 30 },
    dropoutRate: 0,
  });
  assert.equal(spec.routing.kind, "softmax");
  for (const padding of [0, 2, [1, 0], "valid", "same"]) {
    CondConvSpec.parse({ ...minimal, padding });
  }
  CondConvSpec.parse({ ...minimal, routing: { kind: "supplied" } });
});

Deno.test("CondConvSpec rejects bad fields with the path of the field", async (t) => {
  const table: [string, unknown, string][] = [
    ["unknown key", { ...minimal, experts: 4 }, ""],
    ["missing inChannels", { outChannels: 8, kernelSize: 3 }, "inChannels"],
    ["zero outChannels", { ...minimal, outChannels: 0 }, "outChannels"],
    ["fractional kernel", { ...minimal, kernelSize: 2.5 }, "kernelSize"],
    ["kernel triple", { ...minimal, kernelSize: [3, 3, 3] }, "kernelSize"],
    ["negative padding", { ...minimal, padding: -1 }, "padding"],
    ["padding word", { ...minimal, padding: "full" }, "padding"],
    ["padding mode", { ...minimal, paddingMode: "mirror" }, "paddingMode"],
    ["zero stride", { ...minimal, stride: 0 }, "stride"],
    ["groups not dividing inChannels", { ...minimal, groups: 3 }, "groups"],
    ["groups not dividing outChannels", { ...minimal, outChannels: 6, groups: 4 }, "groups"],
    ["bias kind", { ...minimal, bias: true }, "bias"],
    ["no experts", { ...minimal, numExperts: 0 }, "numExperts"],
    [
      "softmax without temperature",
      { ...minimal, routing: { kind: "softmax" } },
      "routing.temperature",
    ],
    [
      "zero temperature",
      { ...minimal, routing: { kind: "softmax", temperature: 0 } },
      "routing.temperature",
    ],
    [
      "temperature on sigmoid",
      { ...minimal, routing: { kind: "sigmoid", temperature: 2 } },
      "routing",
    ],
    ["routing kind", { ...minimal, routing: { kind: "relu" } }, "routing.kind"],
    ["dropout 1", { ...minimal, dropoutRate: 1 }, "dropoutRate"],
  ];
  for (const [name, input, path] of table) {
    await t.step(name, () => {
      const issues = issuesOf(input);
      assert.ok(
        issues.some((i) => i.path === path),
        `expected an issue at "${path}", got ${JSON.stringify(issues)}`,
      );
    });
  }
});

Deno.test("CondConvSpec errors print readably with the field name", () => {
  const parsed = CondConvSpec.safeParse({ ...minimal, groups: 3 });
  assert.equal(parsed.success, false);
  const text = z.prettifyError(parsed.error!);
  assert.match(text, /groups \(3\) must divide inChannels \(4\)/);
  assert.match(text, /at groups/);
});

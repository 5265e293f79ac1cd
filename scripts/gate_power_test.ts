import assert from "node:assert/strict";
import { mulberry32 } from "../suites/gate/stats.ts";
import { power, recordedRounds } from "./gate_power.ts";

/** A gate result file's `rounds`: `count` steady rounds per key, +-2% per block. */
function gateFile(counts: Record<string, number>) {
  const random = mulberry32(3);
  const blocks = () => Array.from({ length: 16 }, () => 5 * (0.98 + 0.04 * random()));
  const side = (b: number[]) => ({ status: "ready", blocks: b, runs: 4 });
  return {
    rounds: Object.fromEntries(
      Object.entries(counts).map(([key, count]) => [
        key,
        [
          ...Array.from({ length: count }, () => ({ head: side(blocks()), base: side(blocks()) })),
          { error: "the head worker exited with code 1", side: "head" },
          { head: side(blocks()), base: { status: "wrong", blocks: [], runs: 0 } },
        ],
      ]),
    ),
  };
}

Deno.test("gate_power replays recorded rounds: no false alarm, a 1.3x slowdown caught", () => {
  const recorded = recordedRounds([gateFile({ "ts|control": 8, "ort-wasm|depthwise": 3 })]);
  assert.deepEqual([...recorded].map(([k, r]) => [k, r.length]), [
    ["ts|control", 8],
    ["ort-wasm|depthwise", 3],
  ]);
  const [steady, few] = power(recorded, { rounds: 6, factor: 1.3, draws: 10 });
  assert.deepEqual(steady, {
    key: "ts|control",
    recorded: 8,
    falseRegressions: 0,
    caught: 10,
    draws: 10,
  });
  assert.deepEqual([few.recorded, few.draws], [3, 0], "too few rounds: not judged");
});

Deno.test("gate_power says what it needs", () => {
  assert.throws(() => recordedRounds([{ kind: "bench" }]), /Not a gate result with rounds/);
});

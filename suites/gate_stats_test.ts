import assert from "node:assert/strict";
import { compareRounds, median, mulberry32, type Round } from "./gate_stats.ts";

/** Rounds of noisy samples: each round has its own drift, each run its own jitter. */
function rounds(headFactor: number, seed: number, count = 4, runs = 12): Round[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const drift = 1 + (random() - 0.5) * 0.08; // +-4% per round: a shared, busy machine
    const side = (factor: number) =>
      Array.from({ length: runs }, () => 10 * factor * drift * (1 + (random() - 0.5) * 0.1));
    return { head: side(headFactor), base: side(1) };
  });
}

Deno.test("compareRounds catches a 20% slowdown and passes an unchanged tree", async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    await t.step(`seed ${seed}`, () => {
      const slow = compareRounds(rounds(1.2, seed));
      assert.equal(slow.verdict, "regressed", JSON.stringify(slow));
      assert.ok(slow.low > 1.1 && slow.ratio > 1.15 && slow.ratio < 1.25);
      const same = compareRounds(rounds(1, seed + 100));
      assert.equal(same.verdict, "unchanged", JSON.stringify(same));
      assert.ok(same.low < 1 && same.high > 1, "the interval of no change contains 1");
      assert.equal(compareRounds(rounds(0.7, seed + 200)).verdict, "improved");
    });
  }
});

Deno.test("compareRounds does not call a change within the threshold", () => {
  const small = compareRounds(rounds(1.05, 9), { threshold: 0.10 });
  assert.equal(small.verdict, "unchanged");
  assert.equal(compareRounds(rounds(1.05, 9, 8, 30), { threshold: 0.01 }).verdict, "regressed");
});

Deno.test("compareRounds is reproducible for a seed and needs samples on both sides", () => {
  const r = rounds(1.1, 3);
  assert.deepEqual(compareRounds(r), compareRounds(r));
  assert.throws(
    () => compareRounds([{ head: [1], base: [] }]),
    /no round has samples on both sides/,
  );
});

Deno.test("median of odd and even counts", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.throws(() => median([]), RangeError);
});

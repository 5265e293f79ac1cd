import assert from "node:assert/strict";
import { compareRounds, median, mulberry32, type Round } from "./stats.ts";

/**
 * Lock-step rounds of block medians: each process of a round has its own speed (`process`,
 * a fraction: 0.04 is +-4%), each block pair shares the machine's drift of that moment, and
 * each block has its own jitter.
 */
function rounds(
  headFactor: number,
  seed: number,
  { count = 6, blocks = 8, process = 0.04 } = {},
): Round[] {
  const random = mulberry32(seed);
  const spread = (width: number) => 1 + (random() - 0.5) * 2 * width;
  return Array.from({ length: count }, () => {
    const headProcess = spread(process), baseProcess = spread(process);
    const head: number[] = [], base: number[] = [];
    for (let b = 0; b < blocks; b++) {
      const drift = spread(0.2); // a busy machine: both sides of a block pair see it
      head.push(10 * headFactor * headProcess * drift * spread(0.03));
      base.push(10 * baseProcess * drift * spread(0.03));
    }
    return { head, base };
  });
}

Deno.test("compareRounds catches a 20% slowdown and passes an unchanged tree", async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    await t.step(`seed ${seed}`, () => {
      const slow = compareRounds(rounds(1.2, seed));
      assert.equal(slow.verdict, "regressed", JSON.stringify(slow));
      // each side's process is within +-4%, so the ratio is 1.2 x (0.92 to 1.09)
      assert.ok(slow.low > 1.1 && slow.ratio > 1.1 && slow.ratio < 1.31, JSON.stringify(slow));
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
  const many = rounds(1.05, 9, { count: 12, blocks: 20, process: 0.01 });
  assert.equal(compareRounds(many, { threshold: 0.01 }).verdict, "regressed");
});

Deno.test("noisy processes give wide intervals, not false regressions", () => {
  // +-25% per process (JavaScript threads on 2 cores) and 4 rounds, no change: with the
  // 10% noise threshold a false regression must stay rare.
  let regressed = 0;
  for (let seed = 0; seed < 200; seed++) {
    const c = compareRounds(rounds(1, 1000 + seed, { count: 4, process: 0.25 }), {
      resamples: 400,
    });
    if (c.verdict === "regressed") regressed++;
  }
  assert.ok(regressed <= 4, `${regressed} of 200 unchanged comparisons called regressions`);
});

Deno.test("one round that came out slow does not make a regression", () => {
  const r = rounds(1, 77);
  r[2] = { head: r[2].head.map((v) => v * 1.6), base: r[2].base };
  const c = compareRounds(r);
  assert.equal(c.verdict, "unchanged", JSON.stringify(c));
  assert.ok(c.ratio < 1.06, `ratio ${c.ratio}`);
});

Deno.test("an interval needs two rounds of paired blocks", () => {
  assert.throws(() => compareRounds(rounds(1, 1, { count: 1 })), /from 1 round\(s\)/);
  assert.throws(
    () => compareRounds([{ head: [1], base: [] }, { head: [], base: [1] }]),
    /from 0 round\(s\)/,
  );
  assert.throws(
    () => compareRounds([{ head: [1, 2], base: [1] }, { head: [1], base: [1] }]),
    /Cannot pair the blocks of round 0: 2 head, 1 base/,
  );
});

Deno.test("compareRounds is reproducible for a seed", () => {
  const r = rounds(1.1, 3);
  assert.deepEqual(compareRounds(r), compareRounds(r));
  assert.equal(compareRounds(r).rounds, 6);
});

Deno.test("median of odd and even counts", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.throws(() => median([]), RangeError);
});

import assert from "node:assert/strict";
import { mulberry32 } from "../gate/stats.ts";
import { P50_INTERVAL, p50Interval } from "./interval.ts";
import { fasterThanStaticWithinNoise, fmtInterval, isNoisy } from "./noise.ts";

/** `n` sorted samples of a log-normal distribution whose median is `median`. */
function logNormal(random: () => number, n: number, median: number): number[] {
  return Array.from({ length: n }, () => {
    const u = 1 - random(), v = random();
    return median * Math.exp(0.3 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  }).sort((a, b) => a - b);
}

Deno.test("p50Interval covers the true median about 95% of the time, and is reproducible", () => {
  const random = mulberry32(7);
  let covered = 0;
  const trials = 300;
  for (let t = 0; t < trials; t++) {
    const ci = p50Interval(logNormal(random, 61, 2));
    assert.ok(ci.lowMs <= ci.highMs);
    if (ci.lowMs <= 2 && 2 <= ci.highMs) covered++;
  }
  // A percentile interval of a median over 61 samples: near 95%, never a one-sided spread.
  assert.ok(covered / trials > 0.88 && covered / trials < 0.995, `covered ${covered}/${trials}`);
  const samples = logNormal(mulberry32(3), 500, 5);
  assert.deepEqual(p50Interval(samples), p50Interval(samples));
  assert.deepEqual(
    { confidence: p50Interval(samples).confidence, resamples: p50Interval(samples).resamples },
    { confidence: P50_INTERVAL.confidence, resamples: P50_INTERVAL.resamples },
  );
});

Deno.test("p50Interval narrows with more samples, stays within them, and refuses none", () => {
  const random = mulberry32(11);
  const few = p50Interval(logNormal(random, 21, 1));
  const many = p50Interval(logNormal(random, 2000, 1));
  assert.ok(many.highMs - many.lowMs < few.highMs - few.lowMs);
  assert.deepEqual(p50Interval([4]), { ...p50Interval([4]), lowMs: 4, highMs: 4 });
  const t0 = performance.now();
  p50Interval(logNormal(random, 2000, 1));
  assert.ok(performance.now() - t0 < 1000, "fast enough for every bench row");
  assert.throws(() => p50Interval([]), /Cannot bootstrap the p50: no samples/);
});

Deno.test("noise flags: p99 over 3x p50, and a speed-up over static whose intervals overlap", () => {
  assert.equal(isNoisy(1, 3), false, "3x is the limit, not beyond it");
  assert.equal(isNoisy(1, 3.01), true);
  assert.equal(isNoisy(undefined, 5), false);
  assert.equal(isNoisy(0, 5), false, "no ratio without a positive p50");
  const condconv = { p50Ms: 9, lowMs: 8.5, highMs: 9.6 };
  assert.equal(
    fasterThanStaticWithinNoise(condconv, { p50Ms: 10, lowMs: 9.5, highMs: 10.4 }),
    true,
    "below 1 and overlapping: within the noise",
  );
  assert.equal(
    fasterThanStaticWithinNoise(condconv, { p50Ms: 10, lowMs: 9.7, highMs: 10.4 }),
    false,
    "below 1 and apart: a real difference",
  );
  assert.equal(
    fasterThanStaticWithinNoise({ p50Ms: 11, lowMs: 9, highMs: 12 }, condconv),
    false,
    "above 1 is never flagged",
  );
  assert.equal(fasterThanStaticWithinNoise({ p50Ms: 9 }, { p50Ms: 10 }), false, "no intervals");
  assert.equal(fmtInterval(1.5, 2, String), "[1.5, 2]");
  assert.equal(fmtInterval(undefined, 2, String), "-");
});

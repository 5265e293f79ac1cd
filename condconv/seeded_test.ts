import assert from "node:assert/strict";
import { fanInScale, fmix32, seededUniform } from "./seeded.ts";

Deno.test("fmix32 matches MurmurHash3's finaliser", () => {
  assert.equal(fmix32(0), 0);
  assert.equal(fmix32(1), 0x514e28b7);
});

Deno.test("seededUniform is deterministic, exact and in [-1, 1)", () => {
  const a = seededUniform(7, 1, 10_000);
  assert.deepEqual(a, seededUniform(7, 1, 10_000));
  assert.notDeepEqual(a, seededUniform(7, 2, 10_000));
  assert.notDeepEqual(a, seededUniform(8, 1, 10_000));
  for (const v of a) {
    assert.ok(v >= -1 && v < 1);
    assert.ok(Number.isInteger((v + 1) * 2 ** 23), `${v} is not a multiple of 2^-23`);
  }
  // the values scripts/make_goldens.py produces for seed 7, stream 1
  assert.deepEqual(Array.from(a.slice(0, 3)), [
    0.5123031139373779,
    -0.8279069662094116,
    -0.1443624496459961,
  ]);
});

Deno.test("fanInScale is a power of two near 1/sqrt(fanIn)", () => {
  assert.equal(fanInScale(1), 1);
  assert.equal(fanInScale(9), 0.5);
  assert.equal(fanInScale(1152), 1 / 32);
});

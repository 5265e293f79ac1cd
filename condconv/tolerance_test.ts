import assert from "node:assert/strict";
import { compareWithTruth, toleranceFor, TORCH_ERROR_FACTOR } from "./tolerance.ts";

Deno.test("compareWithTruth passes within atol + rtol * |truth| and fails beyond", () => {
  const truth = new Float64Array([0, 1, 100]);
  const tol = { atol: 1e-4, rtol: 1e-3 };
  assert.ok(compareWithTruth(new Float32Array([5e-5, 1.0005, 100.05]), truth, tol).pass);
  const bad = compareWithTruth(new Float32Array([0, 1, 100.3]), truth, tol);
  assert.equal(bad.pass, false);
  assert.equal(bad.worstIndex, 2);
  assert.ok(Math.abs(bad.maxAbsErr - 0.3) < 1e-5);
  assert.ok(bad.worstRatio > 2.9);
});

Deno.test("compareWithTruth fails a NaN or infinity where the truth is finite", () => {
  const truth = new Float64Array([1, 2]);
  const r = compareWithTruth(new Float32Array([1, NaN]), truth, { atol: 1, rtol: 1 });
  assert.equal(r.pass, false);
  assert.equal(r.nonFiniteMismatches, 1);
  assert.equal(
    compareWithTruth(new Float32Array([Infinity, 2]), truth, { atol: 1, rtol: 1 }).pass,
    false,
  );
  const nanTruth = new Float64Array([NaN, 2]);
  assert.ok(compareWithTruth(new Float32Array([NaN, 2]), nanTruth, { atol: 0, rtol: 0 }).pass);
});

Deno.test("compareWithTruth reports relative error only over elements that are not near zero", () => {
  const r = compareWithTruth(new Float32Array([1e-9, 10.01]), new Float64Array([0, 10]), {
    atol: 1e-3,
    rtol: 0,
  });
  assert.ok(Math.abs(r.maxRelErr - 1e-3) < 1e-6);
  assert.throws(
    () => compareWithTruth(new Float32Array(1), new Float64Array(2), r.tolerance),
    RangeError,
  );
});

Deno.test("toleranceFor anchors atol on PyTorch's own float32 error, except for exact", () => {
  assert.equal(toleranceFor("cpu", 1e-7).atol, 1e-4);
  assert.equal(toleranceFor("webgpu", 1e-3).atol, TORCH_ERROR_FACTOR * 1e-3);
  assert.equal(toleranceFor("exact", 1).atol, 1e-5);
});

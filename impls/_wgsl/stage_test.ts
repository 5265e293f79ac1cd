// WGSL portability and pipeline-sharing tests over every shader variant: no GPU needed.
import assert from "node:assert/strict";
import { CondConvSpec, type CondConvSpecInput } from "../../condconv/spec.ts";
import { resolveGeometry } from "../../condconv/geometry.ts";
import { planLayer } from "./plan.ts";
import { sourceIndexWgsl } from "./conv_common.ts";
import { paramsBytes, type StagePlan } from "./stage.ts";

const LIMITS = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 };
const MODES = ["zeros", "reflect", "replicate", "circular"] as const;
const BIASES = ["none", "shared", "perExpert"] as const;
const ROUTINGS = [
  { kind: "sigmoid" },
  { kind: "softmax", temperature: 30 },
  { kind: "supplied" },
] as const;

function plan(spec: CondConvSpecInput, shape: number[]) {
  const parsed = CondConvSpec.parse(spec);
  return planLayer(parsed, resolveGeometry(parsed, shape), LIMITS);
}

/** Every stage of a spread of layers: each conv path, padding mode, bias and routing kind. */
function allStages(): StagePlan[] {
  const stages: StagePlan[] = [];
  const layers: [CondConvSpecInput, number[]][] = [];
  for (const paddingMode of MODES) {
    for (const bias of BIASES) {
      for (const routing of ROUTINGS) {
        const common = { paddingMode, bias, routing, numExperts: 3 };
        layers.push(
          [{ ...common, inChannels: 4, outChannels: 6, kernelSize: 3, padding: 1 }, [2, 4, 6, 10]],
          [{ ...common, inChannels: 6, outChannels: 6, kernelSize: 3, padding: 2, groups: 6 }, [
            1,
            6,
            14,
            6,
          ]],
          [{ ...common, inChannels: 8, outChannels: 12, kernelSize: 1 }, [1, 8, 5, 7]],
        );
      }
    }
  }
  // other tiles: wide GEMMs, depthwise kernels with stride, dilation and a multiplier
  layers.push(
    [{ inChannels: 40, outChannels: 72, kernelSize: 1 }, [1, 40, 9, 9]],
    [{ inChannels: 6, outChannels: 40, kernelSize: 3, padding: 1, groups: 2 }, [1, 6, 9, 9]],
    [{ inChannels: 8, outChannels: 8, kernelSize: 5, stride: 2, padding: 2, groups: 8 }, [
      1,
      8,
      14,
      14,
    ]],
    [{ inChannels: 4, outChannels: 8, kernelSize: 3, dilation: 2, padding: 2, groups: 4 }, [
      1,
      4,
      7,
      7,
    ]],
  );
  for (const [spec, shape] of layers) stages.push(...plan(spec, shape).stages);
  return stages;
}

/** The WGSL without comments, as statements (split at `;`, `{` and `}`). */
function statements(code: string): string[] {
  return code.replace(/\/\/[^\n]*/g, "").split(/[;{}]/).map((s) => s.trim()).filter(Boolean);
}

/**
 * Statements of `code` that apply `%` or `/` to a value that may be signed: one naming an
 * i32 variable, parameter or uniform field, an i32 literal, an `i32(...)` conversion or a
 * call of a function returning i32. Deliberately strict: a `%` or `/` statement must be
 * visibly all-unsigned (convert first, in a statement of its own).
 */
export function signedDivisions(code: string): string[] {
  const text = code.replace(/\/\/[^\n]*/g, "");
  const struct = text.match(/struct Params \{([^}]*)\}/)?.[1] ?? "";
  const fields = [...struct.matchAll(/(\w+)\s*:\s*i32\b/g)].map((m) => m[1]);
  const signed = new Set<string>();
  for (const m of text.replace(struct, "").matchAll(/(\w+)\s*:\s*i32\b/g)) signed.add(m[1]);
  for (const m of text.matchAll(/fn (\w+)\([^)]*\)\s*->\s*i32/g)) signed.add(m[1]);
  const alternatives = (names: Iterable<string>) => [...names].join("|") || "^$";
  // `.x` is a member, `P.PT` a field: a bare name counts only when no `.` comes before it
  const signedToken = () =>
    new RegExp(
      String.raw`\bi32\(|\b\d+i\b|\bP\.(${alternatives(fields)})\b|` +
        String.raw`(?<![.\w])(${alternatives(signed)})\b`,
    );
  // a let/var assigned from something signed is signed, unless converted by u32(...) whole
  for (let changed = true; changed;) {
    changed = false;
    for (const m of text.matchAll(/\b(?:let|var)\s+(\w+)\s*=\s*([^;]+);/g)) {
      const [, name, value] = m;
      if (signed.has(name) || /^u32\(.*\)$/.test(value.trim()) || !signedToken().test(value)) {
        continue;
      }
      signed.add(name);
      changed = true;
    }
  }
  return statements(text).filter((s) => /[%/]/.test(s) && signedToken().test(s));
}

Deno.test("signedDivisions flags the old circular padding and other signed % or /", () => {
  const old = `fn srcX(p: i32) -> i32 {\n  return ((p % 6i) + 6i) % 6i;\n}`;
  assert.equal(signedDivisions(old).length, 1);
  assert.equal(
    signedDivisions(`fn f(a: u32) -> u32 { let q = i32(a) - 3i; return u32(q / 2); }`)
      .length,
    1,
  );
  assert.equal(signedDivisions(`fn f(a: u32) -> u32 { return a / 2u % 3u; }`).length, 0);
});

Deno.test("no shader applies % or / to a value that may be negative", () => {
  const codes = new Set(allStages().map((s) => s.code));
  const kinds = new Set([...codes].map((code) => code.split(":")[0]));
  assert.equal(kinds.size, 6, [...kinds].join(", ")); // pool, route, mix, and three convs
  assert.ok(codes.size >= 9, `only ${codes.size} variants`);
  for (const code of codes) {
    assert.deepEqual(signedDivisions(code), [], code.split("\n")[0]);
  }
});

Deno.test("no shader shifts by a computed amount", () => {
  for (const code of new Set(allStages().map((s) => s.code))) {
    for (const m of code.matchAll(/(<<|>>)\s*([^;)\s]+)/g)) {
      assert.match(m[2], /^\d+u$/, `${code.split("\n")[0]}: shift by "${m[2]}"`);
    }
  }
});

Deno.test("every function-scope var of a shader has an initialiser", () => {
  for (const code of new Set(allStages().map((s) => s.code))) {
    for (const m of code.matchAll(/\bvar\s+(\w+)\s*(:[^=;]*)?;/g)) {
      assert.fail(`${code.split("\n")[0]}: "${m[1]}" declared without a value`);
    }
  }
});

Deno.test("sourceIndexWgsl: the circular mapping uses only unsigned % and /", () => {
  const code = sourceIndexWgsl("srcX", "W");
  assert.deepEqual(signedDivisions(code), []);
  assert.match(code, /% P\.W/);
});

Deno.test("shaders hold no layer size: layers of other sizes share every pipeline", () => {
  const a = plan({ inChannels: 8, outChannels: 8, kernelSize: 3, padding: 1 }, [2, 8, 9, 9]);
  const b = plan({ inChannels: 16, outChannels: 8, kernelSize: 3, padding: 1, numExperts: 5 }, [
    3,
    16,
    11,
    13,
  ]);
  assert.deepEqual(a.stages.map((s) => s.code), b.stages.map((s) => s.code));
  assert.notDeepEqual(a.stages.map((s) => s.params), b.stages.map((s) => s.params));
  const c = plan({ inChannels: 8, outChannels: 8, kernelSize: 3, padding: 1 }, [1, 8, 6, 6]);
  assert.deepEqual(c.stages.map((s) => s.code), a.stages.map((s) => s.code));
});

Deno.test("every stage's params match the Params struct of its code", () => {
  for (const stage of allStages()) {
    const struct = stage.code.match(/struct Params \{([^}]*)\}/)![1];
    const fields = [...struct.matchAll(/(\w+): (u32|i32|f32),/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(fields, stage.params.map(([name, type]) => [name, type]), stage.name);
    assert.equal(
      stage.code.match(/@binding\((\d+)\) var<uniform>/)![1],
      String(stage.bindings.length),
    );
  }
});

Deno.test("paramsBytes lays out u32, i32 and f32 and refuses a value its type cannot hold", () => {
  const bytes = paramsBytes([["A", "u32", 7], ["B", "i32", -2], ["T", "f32", 0.5]]);
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(0, true), 7);
  assert.equal(view.getInt32(4, true), -2);
  assert.equal(view.getFloat32(8, true), 0.5);
  assert.throws(() => paramsBytes([["A", "u32", -1]]), /parameter "A" = -1: not a valid u32/);
  assert.throws(() => paramsBytes([["T", "f32", NaN]]), RangeError);
});

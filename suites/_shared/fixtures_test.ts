import assert from "node:assert/strict";
import { FixtureError, loadCaseTensors, loadFixtureSet, loadGolden } from "./fixtures.ts";
import { copyFixtures, editJson } from "../_testing/adapters.ts";
import { canonicalJson, manifestEntryDigest } from "../../condconv/cases.ts";
import { runPythonWithJson } from "./torch_baseline.ts";

Deno.test("the committed fixtures load, verify and match the generator's checksums", async () => {
  const set = await loadFixtureSet();
  assert.ok(set.fixtures.length >= 53, `only ${set.fixtures.length} cases`);
  assert.equal(set.fixtures.filter((f) => f.goldenCase.tags.includes("effnet-b0")).length, 13);
  for (const fixture of set.fixtures) {
    const truth = await loadGolden(set, fixture);
    const tensors = await loadCaseTensors(fixture);
    assert.equal(truth.length, fixture.entry.outputShape.reduce((a, b) => a * b));
    assert.equal(tensors.input.shape[0], fixture.goldenCase.input.batch);
  }
});

async function loadError(edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = await copyFixtures(["control", "routing-supplied"]);
  try {
    await edit(dir);
    const set = await loadFixtureSet(dir);
    for (const fixture of set.fixtures) {
      await loadGolden(set, fixture);
      await loadCaseTensors(fixture);
    }
  } catch (error) {
    assert.ok(error instanceof FixtureError, `expected a FixtureError, got ${error}`);
    return error.message;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  throw new Error("expected the fixture to be rejected");
}

Deno.test("bad fixtures are rejected with the file and the fault named", async (t) => {
  await t.step("a flipped byte in a golden", async () => {
    const message = await loadError(async (dir) => {
      const path = `${dir}/goldens/control.f64`;
      const bytes = await Deno.readFile(path);
      bytes[100] ^= 0x40;
      await Deno.writeFile(path, bytes);
    });
    assert.match(
      message,
      /goldens\/control.f64": corrupt, sha256 is [0-9a-f]{64} but the manifest/,
    );
  });
  await t.step("a truncated golden", async () => {
    const message = await loadError(async (dir) => {
      const path = `${dir}/goldens/control.f64`;
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, bytes.length - 8));
    });
    assert.match(message, /control.f64": expected 1024 float64 values \(8192 bytes\), found 8184/);
  });
  await t.step("a missing golden", async () => {
    const message = await loadError((dir) => Deno.remove(`${dir}/goldens/control.f64`));
    assert.match(message, /control.f64": file not found/);
  });
  await t.step("a missing manifest", async () => {
    const message = await loadError((dir) => Deno.remove(`${dir}/manifest.json`));
    assert.match(message, /manifest.json": file not found \(run `deno task goldens`\)/);
  });
  await t.step("a case edited after the goldens were made", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/cases.json`, (v) => v.cases[0].spec.numExperts = 4)
    );
    assert.match(message, /stale fixture for case "control"/);
  });
  await t.step("a case added without goldens", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/cases.json`, (v) => v.cases.push({ ...v.cases[0], id: "control-2" }))
    );
    assert.match(message, /case "control-2": it is in .* but not in/);
  });
  await t.step("a case removed from the list", async () => {
    const message = await loadError((dir) => editJson(`${dir}/cases.json`, (v) => v.cases.pop()));
    assert.match(message, /case "routing-supplied" is no longer in/);
  });
  await t.step("an invalid spec in the case list", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/cases.json`, (v) => v.cases[0].spec.groups = 3)
    );
    assert.match(message, /cases.json":\n.*groups \(3\) must divide inChannels/s);
    assert.match(message, /at cases\[0\]\.spec\.groups/);
  });
  await t.step("a case whose kernel does not fit its input", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/cases.json`, (v) => {
        v.cases[0].input.height = 2;
        v.cases[0].spec.padding = 0;
      })
    );
    assert.match(message, /kernel spans 3 height pixels/);
    assert.match(message, /at cases\[0\]\.spec\.kernelSize/);
  });
  await t.step("a duplicate case id", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/cases.json`, (v) => v.cases[1].id = "control")
    );
    assert.match(message, /duplicate case id "control"/);
  });
  await t.step("a manifest that is not JSON", async () => {
    const message = await loadError((dir) => Deno.writeTextFile(`${dir}/manifest.json`, "{"));
    assert.match(message, /manifest.json": invalid JSON/);
  });
  await t.step("a manifest entry missing its checksum", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/manifest.json`, (v) => delete v.cases[0].sha256)
    );
    assert.match(message, /at cases\[0\]\.sha256/);
  });
  await t.step("tensors that differ from those the goldens were made from", async () => {
    // as a generator with other tensors would write it: the fields checksum made again
    const message = await loadError(async (dir) => {
      const manifest = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
      manifest.cases[0].tensorsSha256 = "0".repeat(64);
      manifest.cases[0].fieldsSha256 = await manifestEntryDigest(manifest.cases[0]);
      await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest));
    });
    assert.match(message, /tensors generated from seed 101 differ/);
  });
  await t.step("a manifest from another generator algorithm", async () => {
    const message = await loadError((dir) =>
      editJson(`${dir}/manifest.json`, (v) => v.seededAlgorithm = "xorshift-v0")
    );
    assert.match(message, /seeded algorithm "xorshift-v0"/);
  });
});

Deno.test("canonicalJson writes what make_goldens.py's canonical writes, so both hash alike", async () => {
  const value = {
    id: "é-case ∑",
    zero: -0,
    shape: [2, 8, 8, 8],
    big: 4294967295,
    tiny: 2.0779654885672016e-7,
    none: null,
    flags: [true, false],
    nested: { b: 'x\n"y"', a: [] },
  };
  const script = "import json, sys; sys.path.insert(0, 'scripts'); import make_goldens as g; " +
    "print(g.canonical(json.loads(sys.stdin.read())), end='')";
  const { code, stdout, stderr } = await runPythonWithJson(["-c", script], value);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(new TextDecoder().decode(stdout), canonicalJson(value));
});

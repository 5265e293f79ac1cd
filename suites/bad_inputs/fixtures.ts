/**
 * The catalogue's fixture files: corrupt, truncated or inconsistent (a `FixtureError` naming
 * the file and the fault). Each entry spoils a copy of the `control` fixture.
 * @module
 */
import { manifestEntryDigest } from "../../condconv/cases.ts";
import { FixtureError } from "../_shared/fixtures.ts";
import { editJson } from "../_testing/adapters.ts";
import type { Entry } from "./entry.ts";

/** A way to spoil a copy of the fixtures, and the error. */
export interface FixtureEntry extends Entry {
  corrupt: (dir: string) => Promise<void>;
}

const GOLDEN = "goldens/control.f64";

async function rewriteBytes(path: string, edit: (bytes: Uint8Array) => Uint8Array) {
  await Deno.writeFile(path, edit(await Deno.readFile(path)));
}

/** The spoilt fixtures. */
export const FIXTURES: FixtureEntry[] = [
  {
    name: "golden with one byte too many",
    corrupt: (dir) => rewriteBytes(`${dir}/${GOLDEN}`, (b) => Uint8Array.from([...b, 0])),
    error: FixtureError,
    message: /control\.f64": expected 1024 float64 values \(8192 bytes\), found 8193 bytes/,
  },
  {
    name: "empty golden",
    corrupt: (dir) => Deno.writeFile(`${dir}/${GOLDEN}`, new Uint8Array(0)),
    error: FixtureError,
    message: /control\.f64": expected 1024 float64 values \(8192 bytes\), found 0 bytes/,
  },
  {
    name: "golden with a NaN written over one value",
    corrupt: (dir) =>
      rewriteBytes(`${dir}/${GOLDEN}`, (b) => {
        new DataView(b.buffer).setFloat64(8 * 5, NaN, true);
        return b;
      }),
    error: FixtureError,
    message: /control\.f64": corrupt, sha256 is [0-9a-f]{64} but the manifest says/,
  },
  {
    name: "case list cut off mid-file",
    corrupt: async (dir) => {
      const text = await Deno.readTextFile(`${dir}/cases.json`);
      await Deno.writeTextFile(`${dir}/cases.json`, text.slice(0, text.length >> 1));
    },
    error: FixtureError,
    message: /cases\.json": invalid JSON: SyntaxError/,
  },
  {
    name: "empty case list file",
    corrupt: (dir) => Deno.writeTextFile(`${dir}/cases.json`, ""),
    error: FixtureError,
    message: /cases\.json": invalid JSON/,
  },
  {
    name: "case list without cases",
    corrupt: (dir) => Deno.writeTextFile(`${dir}/cases.json`, '{"cases": []}'),
    error: FixtureError,
    message: /cases\.json":\n.*Too small: expected array to have >=1 items/s,
  },
  {
    name: "manifest checksum that is not hex",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.cases[0].sha256 = "xyz"),
    error: FixtureError,
    message: /manifest\.json":\n.*expected a sha256 hex digest.*at cases\[0\]\.sha256/s,
  },
  {
    name: "manifest of another format",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.format = 2),
    error: FixtureError,
    message: /manifest\.json":\n.*at format/s,
  },
  {
    name: "manifest output shape that disagrees with the golden",
    corrupt: (dir) => editJson(`${dir}/manifest.json`, (v) => v.cases[0].outputShape[0] = 1),
    error: FixtureError,
    message: /"control": ".*manifest\.json" says its output shape is \[1,8,8,8\] but the case/,
  },
  {
    name: "manifest output shape reordered to the golden's length",
    corrupt: (dir) =>
      editJson(`${dir}/manifest.json`, (v) => v.cases[0].outputShape = [2, 8, 4, 16]),
    error: FixtureError,
    message: /says its output shape is \[2,8,4,16\] but the case's spec and input give \[2,8,8,8\]/,
  },
  {
    name: "manifest PyTorch error edited by hand",
    corrupt: (dir) =>
      editJson(`${dir}/manifest.json`, (v) => v.cases[0].torchFloat32.maxAbsErr = 1e-3),
    error: FixtureError,
    message: /"control": its entry in ".*manifest\.json" was edited after the goldens were made/,
  },
  {
    name: "manifest PyTorch error of 10, its checksum made again",
    corrupt: async (dir) => {
      const path = `${dir}/manifest.json`;
      const manifest = JSON.parse(await Deno.readTextFile(path));
      manifest.cases[0].torchFloat32.maxAbsErr = 10;
      manifest.cases[0].fieldsSha256 = await manifestEntryDigest(manifest.cases[0]);
      await Deno.writeTextFile(path, JSON.stringify(manifest));
    },
    error: FixtureError,
    message: /"control": its torchFloat32\.maxAbsErr .* is not PyTorch's round-off: the claimed/,
  },
  {
    name: "golden that is a folder",
    corrupt: async (dir) => {
      await Deno.remove(`${dir}/${GOLDEN}`);
      await Deno.mkdir(`${dir}/${GOLDEN}`);
    },
    error: FixtureError,
    message: /control\.f64": it is a folder, not a file/,
  },
  {
    name: "manifest that is a folder",
    corrupt: async (dir) => {
      await Deno.remove(`${dir}/manifest.json`);
      await Deno.mkdir(`${dir}/manifest.json`);
    },
    error: FixtureError,
    message: /manifest\.json": it is a folder, not a file/,
  },
  {
    name: "case seed changed after the goldens were made",
    corrupt: (dir) => editJson(`${dir}/cases.json`, (v) => v.cases[0].seed = 102),
    error: FixtureError,
    message: /Cannot use stale fixture for case "control"/,
  },
  {
    name: "fixtures folder that does not exist",
    corrupt: (dir) => Deno.remove(dir, { recursive: true }),
    error: FixtureError,
    message: /cases\.json": file not found \(run `deno task goldens`\)/,
  },
];

/**
 * Loading the golden fixtures: the case list, the manifest, the float64 outputs, with every
 * check that keeps a stale or corrupt fixture from passing as truth.
 * @module
 */
import { z } from "zod";
import {
  CaseList,
  type GoldenCase,
  Manifest,
  type ManifestEntry,
  manifestEntryDigest,
} from "../../condconv/cases.ts";
import { type CaseTensors, caseTensors, SEEDED_ALGORITHM, STREAMS } from "../../condconv/seeded.ts";
import { outputShape, sizeOf } from "../../condconv/geometry.ts";
import { torchErrorProblem } from "../../condconv/tolerance.ts";

/** The default fixtures folder, relative to the working directory. */
export const FIXTURES_DIR = "fixtures";

/** A fixture that cannot be used; the message names the file and what is wrong. */
export class FixtureError extends Error {
  override name = "FixtureError";
}

/** One golden case with its manifest entry. */
export interface Fixture {
  goldenCase: GoldenCase;
  entry: ManifestEntry;
}

/** The fixtures of one folder. */
export interface FixtureSet {
  dir: string;
  manifest: Manifest;
  fixtures: Fixture[];
}

/** Reads a fixture file; a missing file or a folder in its place is a `FixtureError`. */
async function readFixture(path: string): Promise<Uint8Array<ArrayBuffer>> {
  try {
    return await Deno.readFile(path) as Uint8Array<ArrayBuffer>;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new FixtureError(
        `Cannot load fixture "${path}": file not found (run \`deno task goldens\`)`,
      );
    }
    if (error instanceof Deno.errors.IsADirectory || (await isFolder(path))) {
      throw new FixtureError(
        `Cannot load fixture "${path}": it is a folder, not a file (run \`deno task goldens\`)`,
      );
    }
    throw new FixtureError(`Cannot load fixture "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<unknown> {
  const bytes = await readFixture(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error) {
    throw new FixtureError(`Cannot load fixture "${path}": not UTF-8 text: ${error}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FixtureError(`Cannot load fixture "${path}": invalid JSON: ${error}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new FixtureError(`Cannot load fixture "${path}":\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    Object.hasOwn(b, k) &&
    jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

/**
 * Loads and validates `cases.json` and `manifest.json` of `dir`. Throws a `FixtureError`
 * when either is missing or invalid, or when they disagree (a stale manifest).
 */
export async function loadFixtureSet(dir = FIXTURES_DIR): Promise<FixtureSet> {
  const casesPath = `${dir}/cases.json`;
  const manifestPath = `${dir}/manifest.json`;
  const rawCases = await readJson(casesPath);
  const caseList = parseWith(CaseList, rawCases, casesPath);
  const rawManifest = await readJson(manifestPath);
  const manifest = parseWith(Manifest, rawManifest, manifestPath);
  if (manifest.seededAlgorithm !== SEEDED_ALGORITHM) {
    throw new FixtureError(
      `Cannot load fixture "${manifestPath}": made with seeded algorithm ` +
        `"${manifest.seededAlgorithm}", this suite generates "${SEEDED_ALGORITHM}" ` +
        "(run `deno task goldens`)",
    );
  }
  const entries = new Map(manifest.cases.map((e) => [e.id, e]));
  const rawList = (rawCases as { cases: unknown[] }).cases;
  const fixtures = caseList.cases.map((goldenCase, index): Fixture => {
    const entry = entries.get(goldenCase.id);
    if (!entry) {
      throw new FixtureError(
        `Cannot load fixture for case "${goldenCase.id}": it is in "${casesPath}" but not in ` +
          `"${manifestPath}" (run \`deno task goldens\`)`,
      );
    }
    if (!jsonEqual(entry.case, rawList[index])) {
      throw new FixtureError(
        `Cannot use stale fixture for case "${goldenCase.id}": its entry in "${casesPath}" ` +
          `changed after the goldens were made (run \`deno task goldens\`)`,
      );
    }
    const { batch, height, width } = goldenCase.input;
    const shape = outputShape(goldenCase.spec, [batch, goldenCase.spec.inChannels, height, width]);
    if (shape.join() !== entry.outputShape.join()) {
      throw new FixtureError(
        `Cannot use fixture for case "${goldenCase.id}": "${manifestPath}" says its output ` +
          `shape is [${entry.outputShape}] but the case's spec and input give [${shape}] ` +
          "(run `deno task goldens`)",
      );
    }
    return { goldenCase, entry };
  });
  const rawEntries = (rawManifest as { cases: Record<string, unknown>[] }).cases;
  for (const [index, entry] of manifest.cases.entries()) {
    const digest = await manifestEntryDigest(rawEntries[index]);
    if (digest !== entry.fieldsSha256) {
      throw new FixtureError(
        `Cannot use fixture for case "${entry.id}": its entry in "${manifestPath}" was edited ` +
          `after the goldens were made (fields sha256 ${digest}, recorded ` +
          `${entry.fieldsSha256}; run \`deno task goldens\`)`,
      );
    }
  }
  const listed = new Set(caseList.cases.map((c) => c.id));
  for (const id of entries.keys()) {
    if (!listed.has(id)) {
      throw new FixtureError(
        `Cannot use stale fixture "${manifestPath}": case "${id}" is no longer in ` +
          `"${casesPath}" (run \`deno task goldens\`)`,
      );
    }
  }
  return { dir, manifest, fixtures };
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function littleEndianFloat32Bytes(arrays: Float32Array[]): Uint8Array<ArrayBuffer> {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const bytes = new Uint8Array(total * 4);
  const view = new DataView(bytes.buffer);
  let offset = 0;
  for (const array of arrays) {
    for (let i = 0; i < array.length; i++, offset += 4) view.setFloat32(offset, array[i], true);
  }
  return bytes;
}

/** The float64 truth of a fixture, after its length and checksum are verified. */
export async function loadGolden(set: FixtureSet, fixture: Fixture): Promise<Float64Array> {
  const path = `${set.dir}/${fixture.entry.file}`;
  const bytes = await readFixture(path);
  const expected = sizeOf(fixture.entry.outputShape);
  if (bytes.length !== expected * 8) {
    throw new FixtureError(
      `Cannot load fixture "${path}": expected ${expected} float64 values ` +
        `(${expected * 8} bytes), found ${bytes.length} bytes`,
    );
  }
  const digest = await sha256Hex(bytes);
  if (digest !== fixture.entry.sha256) {
    throw new FixtureError(
      `Cannot load fixture "${path}": corrupt, sha256 is ${digest} but the manifest says ` +
        `${fixture.entry.sha256}`,
    );
  }
  const view = new DataView(bytes.buffer);
  const values = new Float64Array(expected);
  for (let i = 0; i < expected; i++) values[i] = view.getFloat64(i * 8, true);
  const problem = torchErrorProblem(fixture.entry.torchFloat32.maxAbsErr, values);
  if (problem) {
    throw new FixtureError(
      `Cannot trust fixture for case "${fixture.goldenCase.id}": its torchFloat32.maxAbsErr ` +
        `in "${set.dir}/manifest.json" is not PyTorch's round-off: ${problem} ` +
        "(run `deno task goldens`)",
    );
  }
  return values;
}

/**
 * The input and weights of a fixture, generated from its seed and checked against the
 * checksum the Python generator recorded (so both languages made the same tensors).
 */
export async function loadCaseTensors(fixture: Fixture): Promise<CaseTensors> {
  const tensors = caseTensors(fixture.goldenCase);
  const inOrder: Record<keyof typeof STREAMS, Float32Array | undefined> = {
    input: tensors.input.data,
    expertKernels: tensors.weights.expertKernels,
    bias: tensors.weights.bias,
    routingWeight: tensors.weights.routingWeight,
    routingBias: tensors.weights.routingBias,
    suppliedRouting: tensors.routingWeights,
  };
  const arrays = (Object.keys(STREAMS) as (keyof typeof STREAMS)[])
    .map((name) => inOrder[name])
    .filter((a): a is Float32Array => a !== undefined);
  const digest = await sha256Hex(littleEndianFloat32Bytes(arrays));
  if (digest !== fixture.entry.tensorsSha256) {
    throw new FixtureError(
      `Cannot use fixture for case "${fixture.goldenCase.id}": the tensors generated from ` +
        `seed ${fixture.goldenCase.seed} differ from those the goldens were made from ` +
        `(sha256 ${digest}, manifest ${fixture.entry.tensorsSha256})`,
    );
  }
  return tensors;
}

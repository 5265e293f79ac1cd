/**
 * Test helpers: a private copy of some fixtures that a test may corrupt, and adapters that are
 * wrong or unavailable in a known way.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { referenceAdapter } from "../../impls/reference.ts";

/** Copies the named cases of `fixtures/` (list, manifest entries, goldens) to a temp folder. */
export async function copyFixtures(ids: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "condconv-fixtures-" });
  await Deno.mkdir(`${dir}/goldens`);
  const cases = JSON.parse(await Deno.readTextFile("fixtures/cases.json"));
  const manifest = JSON.parse(await Deno.readTextFile("fixtures/manifest.json"));
  const keep = (c: { id: string }) => ids.includes(c.id);
  cases.cases = cases.cases.filter(keep);
  manifest.cases = manifest.cases.filter(keep);
  await Deno.writeTextFile(`${dir}/cases.json`, JSON.stringify(cases, null, 2));
  await Deno.writeTextFile(`${dir}/manifest.json`, JSON.stringify(manifest, null, 2));
  for (const entry of manifest.cases) {
    await Deno.copyFile(`fixtures/${entry.file}`, `${dir}/${entry.file}`);
  }
  return dir;
}

/** Rewrites a JSON file through `edit`. */
// deno-lint-ignore no-explicit-any
export async function editJson(path: string, edit: (value: any) => void): Promise<void> {
  const value = JSON.parse(await Deno.readTextFile(path));
  edit(value);
  await Deno.writeTextFile(path, JSON.stringify(value, null, 2));
}

/**
 * The reference adapter under another id and the `cpu` tolerance class, its output changed
 * by `edit` after each run: an adapter that is wrong in a known way.
 */
export function editedReference(id: string, edit: (data: Float32Array) => void): CondConvAdapter {
  return {
    ...referenceAdapter,
    id,
    toleranceClass: "cpu",
    async prepare(spec, weights) {
      const inner = await referenceAdapter.prepare(spec, weights);
      return {
        backend: inner.backend,
        async run(input, routing) {
          const out = await inner.run(input, routing);
          edit(out.data);
          return out;
        },
        dispose: () => inner.dispose(),
      };
    },
  };
}

/** The reference adapter under another id, saying it cannot run here for `reason`. */
export function unavailableReference(id: string, reason: string): CondConvAdapter {
  return {
    ...referenceAdapter,
    id,
    availability: () => Promise.resolve({ available: false, reason }),
  };
}

/**
 * An adapter that works around a made-up library bug: the reference adapter under `id`, whose
 * layers list `workaround` (as ort-webgpu's list their changed Conv graphs), and whose
 * `withoutWorkarounds()` shows the raw bug: the same id, element 3 off by 1e-2.
 */
export function workingAround(id: string, workaround: string): CondConvAdapter {
  const fixed = editedReference(id, () => {});
  const raw = editedReference(id, (data) => data[3] += 1e-2);
  return {
    ...fixed,
    async prepare(spec, weights) {
      return Object.assign(await fixed.prepare(spec, weights), { workarounds: [workaround] });
    },
    withoutWorkarounds: () => raw,
  };
}

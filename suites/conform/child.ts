/**
 * conform's child process (started by `isolated.ts`, with read access only). Two modes:
 *
 * - `--plan [--fixtures DIR] [--case ID]... [--tag TAG] | --weights=FILE`: loads and verifies what to
 *   check, and sends the plan (the registry's adapters, the target ids), or the error that
 *   stops the run;
 * - `--adapter ID [--no-workarounds] ...`: runs one adapter (without its workarounds of library
 *   bugs, where it has them, with `--no-workarounds`) over the targets, sending each result as it
 *   comes.
 *
 * Exits when its parent closes stdin or dies.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { parseFlags, selectByIds } from "../_shared/cli.ts";
import { loadTargets, runConformance } from "./run.ts";
import type { CheckTarget } from "../_shared/verify.ts";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import { sendToParent, serveParent } from "../_shared/child.ts";
import { loadWeightsFile, userLayerTarget } from "../_shared/weights_file.ts";
import type { ConformMessage } from "./isolated.ts";
import { implementationHere } from "../_shared/webgpu_matrix.ts";

function send(message: ConformMessage): void {
  sendToParent(message);
}

async function loadChecks(
  flags: { fixtures?: string; case?: string[]; tag?: string; weights?: string },
  selectCases: boolean,
): Promise<
  { targets: CheckTarget[]; fixturesDir?: string; torch?: string; goldenCases?: number }
> {
  if (flags.weights !== undefined) {
    return { targets: [userLayerTarget(await loadWeightsFile(flags.weights))] };
  }
  const set = await loadFixtureSet(flags.fixtures);
  const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
  const wanted = new Set(flags.case ?? []);
  const tagged = (tag: string) => withIds.filter((f) => f.goldenCase.tags.includes(tag));
  const fixtures = !selectCases
    ? withIds.filter((f) => wanted.has(f.id))
    : flags.tag !== undefined && flags.case === undefined
    ? tagged(flags.tag) // the gate's cases: a tag of cases.json
    : selectByIds(withIds, flags.case ?? [], "case");
  return {
    targets: await loadTargets(set, fixtures),
    fixturesDir: set.dir,
    torch: set.manifest.generator.torch,
    goldenCases: set.fixtures.length,
  };
}

/** Runs the child (plan or one adapter, from `args`) with `adapters` as the registry, and exits. */
export function conformChild(args: string[], adapters: readonly CondConvAdapter[]) {
  return serveParent(async () => {
    const flags = parseFlags(args, {
      plan: { type: "boolean" },
      adapter: { type: "string" },
      case: { type: "string", multiple: true },
      tag: { type: "string" },
      fixtures: { type: "string" },
      weights: { type: "string" },
      "timeout-ms": { type: "string" },
      "no-workarounds": { type: "boolean" },
    });
    if (flags.plan) {
      const { targets, fixturesDir, torch, goldenCases } = await loadChecks(flags, true);
      send({
        type: "plan",
        plan: {
          adapters: adapters.map((a) => ({
            id: a.id,
            description: a.description,
            toleranceClass: a.toleranceClass,
          })),
          targets: targets.map((t) => t.id),
          fixturesDir,
          torch,
          goldenCases,
        },
      });
    } else {
      const adapter = adapters.find((a) => a.id === flags.adapter);
      if (!adapter) throw new TypeError(`Cannot run adapter "${flags.adapter}": not registered`);
      const { targets } = await loadChecks(flags, false);
      const run = await runConformance({
        adapters: [adapter],
        targets,
        timeoutMs: Number(flags["timeout-ms"]),
        onResult: (result) => send({ type: "result", result }),
        // the backend is the one the parent chose in DENO_WEBGPU_BACKEND
        implementationOf: implementationHere,
        workarounds: !flags["no-workarounds"],
      });
      send({ type: "adapter", summary: run.adapters[0] });
      send({ type: "done" });
    }
  });
}

if (import.meta.main) {
  const { ADAPTERS } = await import("../../impls/registry.ts");
  await conformChild(Deno.args, ADAPTERS);
}

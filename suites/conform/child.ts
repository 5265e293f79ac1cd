/**
 * The child process of an isolated conformance run: one adapter over the given cases,
 * results sent to the parent as protocol lines (see `isolation.ts`).
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { ADAPTERS } from "../../impls/registry.ts";
import { parseFlags } from "../_shared/cli.ts";
import { loadTargets, runConformance } from "./run.ts";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import { sendToParent } from "../_shared/child.ts";
import { loadWeightsFile, userLayerTarget } from "../_shared/weights_file.ts";

/** Runs `adapters` (one, found by the `--adapter` flag) as a child and exits. */
export async function conformChild(args: string[], adapters: readonly CondConvAdapter[]) {
  const flags = parseFlags(args, {
    adapter: { type: "string" },
    case: { type: "string", multiple: true },
    fixtures: { type: "string" },
    weights: { type: "string" },
    "timeout-ms": { type: "string" },
  });
  const adapter = adapters.find((a) => a.id === flags.adapter);
  if (!adapter) throw new TypeError(`Cannot run adapter "${flags.adapter}": not registered`);
  let targets;
  if (flags.weights !== undefined) {
    targets = [userLayerTarget(await loadWeightsFile(flags.weights))];
  } else {
    const set = await loadFixtureSet(flags.fixtures);
    const wanted = new Set(flags.case ?? []);
    targets = await loadTargets(set, set.fixtures.filter((f) => wanted.has(f.entry.id)));
  }
  const run = await runConformance({
    adapters: [adapter],
    targets,
    timeoutMs: Number(flags["timeout-ms"]),
    onResult: (result) => sendToParent({ type: "result", result }),
  });
  sendToParent({ type: "adapter", summary: run.adapters[0] });
  sendToParent({ type: "done" });
  // Exit now: a hung call that timed out may still hold the event loop open.
  Deno.exit(0);
}

if (import.meta.main) await conformChild(Deno.args, ADAPTERS);

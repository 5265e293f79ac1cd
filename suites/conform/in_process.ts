/**
 * `conform --in-process`: the registry (or a test's adapters) loaded into the task's own
 * process. Loaded by `conform.ts` only when asked for, and only after the process has given up
 * its `run` permission (`revokeRunBeforeLoading`), so that code in an adapter cannot start a
 * process. WebGPU adapters run on whatever backend `DENO_WEBGPU_BACKEND` gives, and say so.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { selectByIds } from "../_shared/cli.ts";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import type { CheckTarget } from "../_shared/verify.ts";
import { loadWeightsFile, userLayerTarget } from "../_shared/weights_file.ts";
import {
  implementationHere,
  inProcessImplementation,
  isWebGpuAdapter,
} from "../_shared/webgpu_matrix.ts";
import type { ConformResult } from "../results/conformance.ts";
import { type ConformRun, loadTargets, runConformance } from "./run.ts";

/** What an in-process run is given beyond its flags. */
export interface InProcessOptions {
  fixturesDir?: string;
  /** adapters to choose from instead of the registry */
  adapters?: readonly CondConvAdapter[];
  /** give up the `run` permission before loading any adapter */
  revokeRunBeforeLoading?: boolean;
}

/** The run in this process: the registry (or the given adapters) loaded here. */
export async function runInProcess(
  flags: { adapter?: string[]; case?: string[]; "no-workarounds"?: boolean },
  options: InProcessOptions,
  weights: string | undefined,
  timeoutMs: number,
  print: { header: (adapters: number, targets: number) => void; row: (r: ConformResult) => void },
): Promise<ConformRun & { goldenCases: number | null }> {
  if (options.revokeRunBeforeLoading) await Deno.permissions.revoke({ name: "run" });
  const registry = options.adapters ?? (await import("../../impls/registry.ts")).ADAPTERS;
  const adapters = selectByIds(registry, flags.adapter ?? [], "adapter");
  let targets: CheckTarget[];
  let goldenCases: number | null = null;
  if (weights !== undefined) {
    targets = [userLayerTarget(await loadWeightsFile(weights))];
  } else {
    const set = await loadFixtureSet(options.fixturesDir);
    goldenCases = set.fixtures.length;
    const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
    targets = await loadTargets(set, selectByIds(withIds, flags.case ?? [], "case"));
  }
  print.header(adapters.length, targets.length);
  if (adapters.some(isWebGpuAdapter)) {
    console.log(
      `conform: --in-process: WebGPU adapters run on this process's backend only ` +
        `(${inProcessImplementation()}), not once per wgpu backend`,
    );
  }
  const run = await runConformance({
    adapters,
    targets,
    timeoutMs,
    onResult: print.row,
    implementationOf: implementationHere,
    workarounds: !flags["no-workarounds"],
  });
  return { ...run, goldenCases };
}

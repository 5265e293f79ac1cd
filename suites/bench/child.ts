/**
 * bench's adapter side, which loads the adapters, mitata and zod: the child process (started by
 * `isolated.ts`, with read access only) and the in-process run. The child has two modes:
 *
 * - `--plan [--set S]... [--case ID]... [--batch N]... [--fixtures DIR] | --weights=FILE`:
 *   loads and checks what to time, and sends the plan (the registry's adapters, the cases);
 * - `--adapter ID --timing JSON ...`: times one adapter over the same cases, sending each row
 *   as it comes; `JSON` is the parent's `BenchOptions` (with `workarounds: false` from
 *   `--no-workarounds`: the adapter's `withoutWorkarounds()` variant, under the bugs' rules).
 *   With `--hold` it first loads the cases and the adapter's runtime (its availability), says
 *   `ready` and waits for the parent's `go`: the parent loads two children at once while none
 *   is timed, and lets one at a time go on to time.
 *
 * Exits when its parent closes stdin or dies.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { flops } from "../../condconv/geometry.ts";
import { integerFlag, parseFlags, selectByIds, UsageError } from "../_shared/cli.ts";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import { loadWeightsFile } from "../_shared/weights_file.ts";
import { sendToParent, serveParent, waitForGo } from "../_shared/child.ts";
import { withTimeout } from "../_shared/calls.ts";
import { adapterFor } from "../_shared/verify.ts";
import { implementationHere } from "../_shared/webgpu_matrix.ts";
import type { RunFilters } from "../results/adapter_summary.ts";
import type { BenchAdapter, BenchResult } from "../results/bench.ts";
import { selectBenchCases } from "./cases.ts";
import { loadBenchCase, type LoadedBenchCase, userLayerBenchCase } from "./load.ts";
import { benchAdapter, type BenchOptions } from "./measure.ts";
import { formulationAxis } from "./formulations.ts";
import type { BenchMessage, BenchPlan, PlanFlags } from "./isolated.ts";

/** The cases the flags choose, loaded: a user's layer, or golden cases from sets and ids. */
export async function loadBenchPlan(
  flags: PlanFlags,
  adapters: readonly CondConvAdapter[],
): Promise<{ plan: BenchPlan; loaded: LoadedBenchCase[] }> {
  const batches = (flags.batch ?? []).map((b) => integerFlag(b, "batch", 1));
  const filters: RunFilters = {
    adapters: flags.adapter ?? [],
    cases: flags.case ?? [],
    sets: flags.set ?? [],
    batches,
    weights: flags.weights ?? null,
    goldenCases: null,
  };
  const loaded: LoadedBenchCase[] = [];
  let sets: string[] = [];
  const torchCases: BenchPlan["torchCases"] = [];
  if (flags.weights !== undefined) {
    if (flags.case || flags.set || flags.batch) {
      throw new UsageError(
        "Cannot combine --weights with --case, --set or --batch: --weights times the file's layer " +
          "at the batch of its check input",
      );
    }
    loaded.push(userLayerBenchCase(await loadWeightsFile(flags.weights)));
  } else {
    const set = await loadFixtureSet(flags.fixtures);
    filters.goldenCases = set.fixtures.length;
    const withIds = set.fixtures.map((f) => ({ ...f, id: f.entry.id }));
    const picked = flags.case ? selectByIds(withIds, flags.case, "case") : [];
    sets = flags.set ?? (flags.case ? [] : [...flags.defaultSets]);
    for (const c of selectBenchCases(set.fixtures, sets, picked, batches)) {
      loaded.push(await loadBenchCase(c, set));
      torchCases.push({ id: c.id, batch: c.batch, case: c.fixture.entry.case });
    }
  }
  const plan: BenchPlan = {
    adapters: adapters.map((a) => ({
      id: a.id,
      description: a.description,
      toleranceClass: a.toleranceClass,
      formulations: formulationAxis(a) !== undefined,
    })),
    cases: loaded.map((c) => ({
      id: c.id,
      goldenCase: c.goldenCase,
      batch: c.batch,
      flops: flops(c.target.spec, c.target.input.shape),
    })),
    sets,
    filters,
    torchCases,
  };
  return { plan, loaded };
}

/** Times each of `adapters` over the loaded cases in this process. */
export async function benchInProcess(
  adapters: readonly CondConvAdapter[],
  loaded: readonly LoadedBenchCase[],
  options: BenchOptions,
): Promise<{ summaries: BenchAdapter[]; results: BenchResult[] }> {
  const summaries: BenchAdapter[] = [];
  const results: BenchResult[] = [];
  for (const adapter of adapters) {
    const run = await benchAdapter(adapter, loaded, {
      implementationOf: implementationHere,
      ...options,
    });
    summaries.push(run.summary);
    results.push(...run.results);
  }
  return { summaries, results };
}

function send(message: BenchMessage): void {
  sendToParent(message);
}

/** Runs the child (plan or one adapter, from `args`) with `adapters` as the registry, and exits. */
export function benchChild(args: string[], adapters: readonly CondConvAdapter[]) {
  return serveParent(async (commands) => {
    const flags = parseFlags(args, {
      plan: { type: "boolean" },
      hold: { type: "boolean" },
      adapter: { type: "string", multiple: true },
      set: { type: "string", multiple: true },
      "default-set": { type: "string", multiple: true },
      case: { type: "string", multiple: true },
      batch: { type: "string", multiple: true },
      fixtures: { type: "string" },
      weights: { type: "string" },
      timing: { type: "string" },
    });
    const planFlags = { ...flags, defaultSets: flags["default-set"] ?? [] };
    if (flags.plan) {
      send({ type: "plan", plan: (await loadBenchPlan(planFlags, adapters)).plan });
    } else {
      const id = flags.adapter?.[0];
      const adapter = adapters.find((a) => a.id === id);
      if (!adapter) throw new TypeError(`Cannot run adapter "${id}": not registered`);
      const { loaded } = await loadBenchPlan({ ...planFlags, adapter: undefined }, adapters);
      const options = JSON.parse(flags.timing ?? "{}") as BenchOptions;
      if (flags.hold) {
        // Loads the adapter's runtime (ORT's wasm, a GPU device) before `ready`; the announce
        // in benchAdapter asks again and reports. A failure here is reported there.
        const warm = adapterFor(adapter, options.workarounds).availability();
        await withTimeout(warm, options.timeoutMs, "availability check").catch(() => {});
        await waitForGo(commands);
      }
      const run = await benchAdapter(adapter, loaded, {
        ...options,
        implementationOf: implementationHere,
        onResult: (result) => send({ type: "result", result }),
      });
      send({ type: "adapter", summary: run.summary });
      send({ type: "done" });
    }
  });
}

if (import.meta.main) {
  const { ADAPTERS } = await import("../../impls/registry.ts");
  await benchChild(Deno.args, ADAPTERS);
}

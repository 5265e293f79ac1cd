/**
 * A timing worker of the speed gate: one adapter of one source tree, its layers prepared once,
 * timed on demand so that the gate can alternate two workers in lock step.
 *
 * The gate starts one worker per side (working tree, base revision) with the side's own
 * `deno.json` (`--config`), so each side runs its own versions of tfjs and onnxruntime-web.
 * The worker's own code always comes from the working tree; of the side's tree it imports
 * only `impls/registry.ts`, so any base revision whose registry exports `ADAPTERS` can be
 * gated against. It checks outputs through the one verify path (`_shared/verify.ts`), which
 * imports no registry, so the working tree's adapters never load into the base's process.
 *
 * ```
 * deno run --config <tree>/deno.json suites/gate/worker.ts --tree <tree> --fixtures <dir>
 *          --adapter <id> --case <golden id>... [--timeout-ms MS]
 * ```
 * Protocol (`../_shared/protocol.ts`): the worker sends `WorkerMessage`s and reads
 * `WorkerCommand`s on stdin. It first reports every case as ready (prepared and checked
 * against its golden) or not, then runs `{"time": case, "runs": n}` commands until stdin
 * closes, when it exits (also when the gate dies while it is still preparing). A run that hangs is the gate's to kill: no timer wraps the timed
 * runs, so that nothing but the run is measured.
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { messageOf } from "../_shared/calls.ts";
import { integerFlag, MAX_TIMER_MS, parseFlags } from "../_shared/cli.ts";
import { loadFixtureSet } from "../_shared/fixtures.ts";
import { announce, type Verdict, verify } from "../_shared/verify.ts";
import { loadTargets } from "../conform/run.ts";
import { parentChannel, sendToParent } from "../_shared/child.ts";

/** How one case fared in a worker before timing. */
export interface WorkerCase {
  case: string;
  status: "ready" | "wrong" | "error" | "skip";
  reason?: string;
  /** the first run's wall time, ms: the gate sizes its blocks from it */
  firstRunMs?: number;
}

/** What a worker says. */
export type WorkerMessage =
  | {
    type: "ready";
    adapter: string;
    backend?: string;
    /** the adapter's availability info: library versions, threads, device */
    info?: Record<string, unknown>;
    cases: WorkerCase[];
  }
  | { type: "samples"; case: number; ms: number[] }
  | { type: "failed"; reason: string };

/** What a worker is told: time `runs` runs of the `time`-th case. */
export interface WorkerCommand {
  time: number;
  runs: number;
}

function send(message: WorkerMessage): void {
  sendToParent(message);
}

async function loadAdapters(tree: string): Promise<readonly CondConvAdapter[]> {
  const url = new URL(`file://${tree}/impls/registry.ts`).href;
  let registry: { ADAPTERS?: readonly CondConvAdapter[] };
  try {
    registry = await import(url);
  } catch (error) {
    throw new Error(`Cannot import ${url}: ${messageOf(error)}`);
  }
  if (!Array.isArray(registry.ADAPTERS)) {
    throw new Error(`${url} does not export ADAPTERS`);
  }
  return registry.ADAPTERS;
}

type Layer = NonNullable<Verdict["layer"]>;

/** Runs the worker until stdin closes. */
export async function gateWorker(args: string[]): Promise<void> {
  const layers: (Layer | undefined)[] = [];
  const commands = parentChannel<WorkerCommand>(async () => {
    for (const layer of layers) await layer?.prepared.dispose().catch(() => {});
  });
  const flags = parseFlags(args, {
    tree: { type: "string" },
    fixtures: { type: "string" },
    adapter: { type: "string" },
    case: { type: "string", multiple: true },
    "timeout-ms": { type: "string" },
  });
  const timeoutMs = integerFlag(flags["timeout-ms"], "timeout-ms", 120_000, { max: MAX_TIMER_MS });
  const caseIds = flags.case ?? [];
  const adapter = (await loadAdapters(flags.tree!)).find((a) => a.id === flags.adapter);
  if (!adapter) {
    send({ type: "failed", reason: `adapter "${flags.adapter}" is not in this tree's registry` });
    return;
  }
  const announced = await announce(adapter, timeoutMs);
  if (announced.backend === undefined) {
    const reason = announced.summary.reason ?? "not available";
    send({
      type: "ready",
      adapter: adapter.id,
      cases: caseIds.map((id) => ({ case: id, status: "skip", reason })),
    });
    return;
  }
  const set = await loadFixtureSet(flags.fixtures);
  const cases: WorkerCase[] = [];
  for (const id of caseIds) {
    const fixture = set.fixtures.find((f) => f.entry.id === id);
    if (!fixture) {
      cases.push({ case: id, status: "error", reason: "no such golden case" });
      layers.push(undefined);
      continue;
    }
    let verdict;
    try {
      const [target] = await loadTargets(set, [fixture]);
      verdict = await verify(adapter, announced.backend, target, { timeoutMs, keep: true });
    } catch (error) {
      verdict = { status: "error" as const, reason: messageOf(error) };
    }
    if (verdict.status === "error") {
      cases.push({ case: id, status: "error", reason: verdict.reason });
    } else if (verdict.layer === undefined) {
      cases.push({ case: id, status: "wrong", reason: `${verdict.reason}: not timed` });
    } else {
      cases.push({ case: id, status: "ready", firstRunMs: verdict.firstRunMs });
    }
    layers.push(verdict.layer);
  }
  const info = announced.summary.info ?? {};
  send({
    type: "ready",
    adapter: adapter.id,
    backend: announced.backend,
    // Paths inside the tree read the same on both sides, so that only real differences show.
    info: JSON.parse(JSON.stringify(info).replaceAll(flags.tree!, "<tree>")),
    cases,
  });

  for await (const command of commands) {
    const layer = layers[command.time];
    if (!layer) {
      send({ type: "failed", reason: `case ${command.time} is not ready` });
      continue;
    }
    const ms: number[] = [];
    try {
      for (let i = 0; i < command.runs; i++) {
        const t0 = performance.now();
        await layer.run();
        ms.push(performance.now() - t0);
      }
      send({ type: "samples", case: command.time, ms });
    } catch (error) {
      send({ type: "failed", reason: `${caseIds[command.time]}: ${messageOf(error)}` });
    }
  }
}

if (import.meta.main) {
  // The worker exits when the gate closes its stdin (see `parentChannel`).
  await gateWorker(Deno.args).catch((error) => send({ type: "failed", reason: messageOf(error) }));
}

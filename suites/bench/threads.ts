/**
 * The thread count a bench row computed on and the compute ceiling it is held against, from
 * what its adapter announced; and which PyTorch run a row is compared with (the one at its own
 * thread count). No imports beyond types: the task's own process and the adapter children
 * both use it.
 * @module
 */
import type { ComputeCeiling } from "./_roofline_point.ts";

/** Where a row's thread count came from. */
export type ThreadsFrom =
  | "info.workers"
  | "info.wasmThreads"
  | "info.threads"
  | "reference: one thread"
  | "assumed: all cores";

/** A row's thread count and where it came from. */
export interface RowThreads {
  threads: number;
  from: ThreadsFrom;
}

/** A thread count an adapter's info may hold under `key`: a positive whole number. */
function infoCount(info: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = info?.[key];
  return typeof value === "number" && Number.isInteger(value) && value >= 1 ? value : undefined;
}

/**
 * The CPU threads a row of adapter `id` computed on: `reference` runs on one; otherwise the
 * first whole number among the adapter's `info.workers` (ts), `info.wasmThreads` (ort-wasm) and
 * `info.threads` (tfjs). An adapter whose info names none is taken to use all `cores`: its
 * percent of ceiling is then a lower bound, and it is set against the all-cores PyTorch run
 * (`from` says so in the report).
 *
 * @example
 * ```ts
 * import { rowThreads } from "./threads.ts";
 * const ts = rowThreads("ts", { workers: 2, threads: "2 workers" }, 2);
 * if (ts.threads !== 2 || ts.from !== "info.workers") throw new Error("wrong");
 * if (rowThreads("mystery", {}, 4).from !== "assumed: all cores") throw new Error("wrong");
 * ```
 */
export function rowThreads(
  id: string,
  info: Record<string, unknown> | undefined,
  cores: number,
): RowThreads {
  if (id === "reference") return { threads: 1, from: "reference: one thread" };
  for (const key of ["workers", "wasmThreads", "threads"] as const) {
    const threads = infoCount(info, key);
    if (threads !== undefined) return { threads, from: `info.${key}` };
  }
  if (!Number.isInteger(cores) || cores < 1) {
    throw new RangeError(`Invalid cores: expected a positive whole number, got ${cores}`);
  }
  return { threads: cores, from: "assumed: all cores" };
}

/**
 * The CPU peak a row of tolerance class `toleranceClass` is held against: wasm SIMD for the
 * "wasm" class (ort-wasm, tfjs-wasm), scalar JavaScript for "exact" and "cpu" (reference, ts,
 * tfjs-cpu), none for "webgpu" (the probe measures the CPU, not a GPU). Throws a `RangeError`
 * for any other class.
 */
export function computeCeiling(toleranceClass: string): ComputeCeiling | undefined {
  switch (toleranceClass) {
    case "wasm":
      return "wasmSimd";
    case "exact":
    case "cpu":
      return "scalarJs";
    case "webgpu":
      return undefined;
    default:
      throw new RangeError(
        `Invalid toleranceClass "${toleranceClass}": expected exact, cpu, wasm or webgpu`,
      );
  }
}

/** One PyTorch run: its thread count and its p50 per case. */
export interface TorchRun<Cell> {
  threads: number;
  results: Record<string, Cell>;
}

/**
 * The PyTorch run a row on `threads` threads is set against: the one at the same count, else
 * the nearest (the higher of two as near); a row with no thread count (a GPU row) gets the
 * run with the most threads. `undefined` when there are no runs.
 */
export function torchRunFor<Cell>(
  runs: readonly TorchRun<Cell>[],
  threads: number | undefined,
): TorchRun<Cell> | undefined {
  let best: TorchRun<Cell> | undefined;
  for (const run of runs) {
    if (best === undefined) {
      best = run;
      continue;
    }
    if (threads === undefined) {
      if (run.threads > best.threads) best = run;
      continue;
    }
    const d = Math.abs(run.threads - threads), bestD = Math.abs(best.threads - threads);
    if (d < bestD || (d === bestD && run.threads > best.threads)) best = run;
  }
  return best;
}

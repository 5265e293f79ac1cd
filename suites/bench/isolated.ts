/**
 * bench's side of its child processes: a plan child that loads and checks the cases, then
 * one child per adapter (per wgpu backend for a WebGPU adapter) that times it over them and
 * sends each row as it comes. As for conform (`../conform/isolated.ts`), the process that
 * starts these imports no third-party code; the adapters, mitata and zod load in the
 * children, which may read and nothing else.
 * @module
 */
import type { FlopCount } from "../../condconv/geometry.ts";
import {
  adapterChildPermissions,
  HeldAdapterChild,
  planInChild,
  type RunMessage,
} from "../_shared/child.ts";
import {
  implementationName,
  isWebGpuAdapter,
  rowLabel,
  type WgpuBackend,
} from "../_shared/webgpu_matrix.ts";
import type { TorchCase } from "../_shared/torch_baseline.ts";
import type { RunFilters } from "../results/adapter_summary.ts";
import type { BenchAdapter, BenchResult } from "../results/bench.ts";
import type { BenchOptions } from "./measure.ts";

/** bench's child process. */
export const BENCH_CHILD_SCRIPT = "suites/bench/child.ts";

/** The flags that say what to time. */
export interface PlanFlags {
  adapter?: string[];
  set?: string[];
  case?: string[];
  batch?: string[];
  weights?: string;
  fixtures?: string;
  /** the sets timed when neither `set` nor `case` is given */
  defaultSets: readonly string[];
}

/** What the plan child found to time. */
export interface BenchPlan {
  /** `formulations`: whether the adapter has a formulation axis (`bench --formulations`) */
  adapters: { id: string; description: string; toleranceClass: string; formulations?: boolean }[];
  /** every case, with what a row needs when its adapter's process is lost */
  cases: { id: string; goldenCase: string; batch: number; flops: FlopCount }[];
  sets: string[];
  filters: RunFilters;
  /** the golden cases at their batches, for the PyTorch baseline (none for a user's layer) */
  torchCases: TorchCase[];
}

/** The messages of bench's children. */
export type BenchMessage = RunMessage<BenchPlan, BenchAdapter, BenchResult>;

/** The child arguments that choose the cases (the same for the plan and every adapter). */
export function planArgs(flags: PlanFlags): string[] {
  const list = (name: string, values: readonly string[] | undefined) =>
    (values ?? []).map((v) => `--${name}=${v}`);
  return [
    ...list("set", flags.set),
    ...list("default-set", flags.defaultSets),
    ...list("case", flags.case),
    ...list("batch", flags.batch),
    ...(flags.fixtures === undefined ? [] : [`--fixtures=${flags.fixtures}`]),
    ...(flags.weights === undefined ? [] : [`--weights=${flags.weights}`]),
  ];
}

/** Where a child may read: the project, and the fixtures or weights file given. */
function readPaths(flags: PlanFlags): string[] {
  return [".", ...[flags.weights ?? flags.fixtures].filter((p) => p !== undefined)];
}

/** Asks a plan child what to time; a `ChildRefusal` carries its error. */
export function planBench(flags: PlanFlags, timeoutMs: number): Promise<BenchPlan> {
  return planInChild<BenchPlan>({
    script: BENCH_CHILD_SCRIPT,
    args: ["--plan", ...planArgs(flags)],
    permissions: { read: readPaths(flags) },
    label: "bench's plan process",
    timeoutMs,
  });
}

/** The row of a case an adapter's process did not report. */
function lostRow(adapter: string, c: BenchPlan["cases"][number], reason: string): BenchResult {
  return {
    adapter,
    case: c.id,
    goldenCase: c.goldenCase,
    batch: c.batch,
    status: "error",
    reason,
    softwareGpu: false,
    flops: c.flops,
    readbackIncluded: true,
  };
}

/**
 * How many adapter children load at once. Two share a 2-core machine's cores while nothing is
 * timed; a child that has loaded waits for its turn idle, taking no CPU from the one timing.
 */
export const CHILDREN_LOADING_AT_ONCE = 2;

/**
 * Each adapter in its own child (a WebGPU one once per wgpu backend), rows as they come.
 * Starting a child (Deno, the modules, the cases, the adapter's runtime) takes from a third of a
 * second to two seconds, and none of it is timed: children are started in pairs, which load at
 * once while nothing is timed, and are then let go one after the other, so that no two
 * children's timings ever overlap and no child loads while another one times.
 */
export async function benchIsolated(
  plan: BenchPlan,
  adapters: readonly BenchPlan["adapters"][number][],
  backends: readonly (WgpuBackend | null)[],
  options: {
    flags: PlanFlags;
    timing: Omit<BenchOptions, "onResult" | "implementationOf">;
    processTimeoutMs: number;
    onRow: (result: BenchResult) => void;
  },
): Promise<{ summaries: BenchAdapter[]; results: BenchResult[] }> {
  const summaries: BenchAdapter[] = [];
  const results: BenchResult[] = [];
  const runs = adapters.flatMap((adapter) =>
    (isWebGpuAdapter(adapter) ? backends : [undefined]).map((backend) => ({ adapter, backend }))
  );
  const start = ({ adapter, backend }: typeof runs[number]) => {
    const implementation = backend === undefined ? "deno" : implementationName(backend);
    const label = rowLabel({ adapter: adapter.id, implementation });
    const child = new HeldAdapterChild<BenchAdapter, BenchResult>({
      script: BENCH_CHILD_SCRIPT,
      args: [
        `--adapter=${adapter.id}`,
        `--timing=${JSON.stringify(options.timing)}`,
        "--hold",
        ...planArgs(options.flags),
      ],
      permissions: adapterChildPermissions(adapter.id, readPaths(options.flags)),
      v8Flags: ["--expose-gc"],
      env: backend ? { DENO_WEBGPU_BACKEND: backend } : undefined,
      label,
      // its own time limit, plus the time it may wait for the child before it to finish
      timeoutMs: options.processTimeoutMs * CHILDREN_LOADING_AT_ONCE,
    });
    return { adapter, implementation, label, child };
  };
  for (let i = 0; i < runs.length; i += CHILDREN_LOADING_AT_ONCE) {
    const started = runs.slice(i, i + CHILDREN_LOADING_AT_ONCE).map(start);
    await Promise.all(started.map((s) => s.child.ready));
    for (const { adapter, implementation, label, child } of started) {
      const run = await child.run(options.onRow);
      if (run.summary && !run.summary.available) {
        console.log(`${label.padEnd(16)} skipped: ${run.summary.reason}`);
      }
      const reported = new Set(run.results.map((r) => r.case));
      if (run.failure !== undefined) {
        console.log(`${label.padEnd(16)} ERROR  ${run.failure}`);
        for (const c of plan.cases.filter((c) => !reported.has(c.id))) {
          run.results.push({ ...lostRow(adapter.id, c, run.failure), implementation });
        }
      }
      summaries.push(
        run.summary ?? {
          ...adapter,
          available: false,
          reason: run.failure,
          softwareGpu: false,
          implementation,
        },
      );
      results.push(...run.results);
    }
  }
  return { summaries, results };
}

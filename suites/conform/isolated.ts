/**
 * conform's side of its child processes: a plan child that loads and checks what to run (the
 * registry's adapters, the fixtures or a weights file), and one child per adapter (per wgpu
 * backend for a WebGPU adapter) that runs it over the cases.
 *
 * The process that starts these holds `--allow-run=deno`, so it imports no third-party code:
 * only this project's own modules with no npm import. The adapters, tfjs, onnxruntime-web and
 * zod load in the children, which may read, and nothing else (`../_shared/child.ts`).
 * @module
 */
import type { AdapterSummary } from "../results/adapter_summary.ts";
import type { ConformResult } from "../results/conformance.ts";
import {
  adapterChildPermissions,
  planInChild,
  runAdapterChild,
  type RunMessage,
} from "../_shared/child.ts";
import {
  implementationName,
  isWebGpuAdapter,
  rowLabel,
  type WgpuBackend,
} from "../_shared/webgpu_matrix.ts";

import { CALL_TIMEOUT_MS } from "../_shared/calls.ts";
export { CALL_TIMEOUT_MS };

/** The child process of conform. */
export const CHILD_SCRIPT = "suites/conform/child.ts";

/** What an adapter is, from the registry, before it runs. */
export interface AdapterEntry {
  id: string;
  description: string;
  toleranceClass: string;
}

/** What the plan child found to check. */
export interface ConformPlan {
  adapters: AdapterEntry[];
  /** the check targets' ids (golden case ids, or the weights file's layer id) */
  targets: string[];
  /** the folder of the fixtures used, for the adapter children */
  fixturesDir?: string;
  /** the torch version the goldens were made with */
  torch?: string;
  /** how many golden cases the manifest holds (none for a weights file) */
  goldenCases?: number;
}

/** The messages of conform's children. */
export type ConformMessage = RunMessage<ConformPlan, AdapterSummary, ConformResult>;

/** Where a child may read: the project, and the fixtures or weights file given. */
function readPaths(extraReads: readonly string[]): string[] {
  return [".", ...extraReads];
}

/**
 * Asks a plan child what to run. Throws a `ChildRefusal` with the child's error when the
 * fixtures, the weights file or a `--case` filter is bad.
 */
export function planConform(options: {
  script?: string;
  planArgs: readonly string[];
  extraReads: readonly string[];
  timeoutMs: number;
}): Promise<ConformPlan> {
  return planInChild<ConformPlan>({
    script: options.script ?? CHILD_SCRIPT,
    args: ["--plan", ...options.planArgs],
    permissions: { read: readPaths(options.extraReads) },
    label: "conform's plan process",
    timeoutMs: options.timeoutMs,
  });
}

/** Options of one adapter's child run. */
export interface AdapterChildOptions {
  script?: string;
  adapter: AdapterEntry;
  /** the ids of the targets the child checks, in order */
  targetIds: readonly string[];
  /** what to check: `--fixtures` and `--case`s, or `--weights=<file>` */
  childArgs: readonly string[];
  extraReads: readonly string[];
  /** e.g. `{ DENO_WEBGPU_BACKEND: "gl" }` */
  env?: Record<string, string>;
  /** shown before the child's own output */
  label: string;
  /** false: the child checks the adapter without its workarounds of library bugs */
  workarounds?: boolean;
  /** per call (availability, prepare, run) inside the child */
  callTimeoutMs: number;
  /** for the whole child; it is killed after that */
  processTimeoutMs: number;
  onResult?: (result: ConformResult) => void;
}

/**
 * Runs one adapter over the targets in a child process. Never throws for what the adapter
 * does: a crash or a kill turns every target the child did not report into an `error`.
 */
export async function runAdapterInChild(
  options: AdapterChildOptions,
): Promise<{ summary: AdapterSummary; results: ConformResult[]; failed: boolean }> {
  const run = await runAdapterChild<AdapterSummary, ConformResult>({
    script: options.script ?? CHILD_SCRIPT,
    args: [
      "--adapter",
      options.adapter.id,
      `--timeout-ms=${options.callTimeoutMs}`,
      ...(options.workarounds === false ? ["--no-workarounds"] : []),
      ...options.childArgs,
    ],
    permissions: adapterChildPermissions(options.adapter.id, readPaths(options.extraReads)),
    env: options.env,
    label: options.label,
    timeoutMs: options.processTimeoutMs,
  }, (result) => options.onResult?.(result));
  if (run.failure === undefined) {
    return { summary: run.summary!, results: run.results, failed: false };
  }
  const reason = run.failure;
  const reported = new Set(run.results.map((r) => r.case));
  for (const id of options.targetIds) {
    if (reported.has(id)) continue;
    const result: ConformResult = {
      adapter: options.adapter.id,
      case: id,
      status: "error",
      reason,
    };
    run.results.push(result);
    options.onResult?.(result);
  }
  return {
    summary: run.summary ?? { ...options.adapter, available: false, reason },
    results: run.results,
    failed: true,
  };
}

/** Each selected adapter in its own child; WebGPU adapters once per wgpu backend. */
export async function runIsolated(
  adapters: readonly AdapterEntry[],
  backends: readonly (WgpuBackend | null)[],
  options: {
    script?: string;
    targetIds: readonly string[];
    childArgs: readonly string[];
    extraReads: readonly string[];
    timeoutMs: number;
    /** false: each adapter without its workarounds of library bugs (`--no-workarounds`) */
    workarounds?: boolean;
    /** prints a row as it comes */
    onRow: (result: ConformResult) => void;
  },
): Promise<{ adapters: AdapterSummary[]; results: ConformResult[] }> {
  const run = { adapters: [] as AdapterSummary[], results: [] as ConformResult[] };
  for (const adapter of adapters) {
    const gpu = isWebGpuAdapter(adapter);
    for (const backend of gpu ? backends : [undefined]) {
      const implementation = backend === undefined ? "deno" : implementationName(backend);
      const child = await runAdapterInChild({
        ...options,
        script: options.script,
        adapter,
        env: backend ? { DENO_WEBGPU_BACKEND: backend } : undefined,
        label: rowLabel({ adapter: adapter.id, implementation }),
        callTimeoutMs: options.timeoutMs,
        processTimeoutMs: options.timeoutMs * (2 * options.targetIds.length + 2),
        onResult: (r) => options.onRow({ ...r, implementation }),
      });
      // The child names where it ran; a child that died before saying so gets the parent's name.
      const stamped = child.summary.implementation ??
        (backend === undefined ? implementation : implementationName(backend, child.summary.gpu));
      run.adapters.push({ ...child.summary, implementation: stamped });
      run.results.push(...child.results.map((r) => ({ ...r, implementation: stamped })));
    }
  }
  return run;
}

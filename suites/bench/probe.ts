/**
 * The roofline probe as bench's own process runs it: in a child process
 * (`probe_child.ts`, which loads zod and the probe's workers), whose figures come back through
 * the child protocol; and the load average around it, where the task may read it. No
 * third-party imports: the process that starts the children loads this file.
 * @module
 */
import { planInChild } from "../_shared/child.ts";
import type { MachineLimits } from "../results/machine_limits.ts";

/** The probe's child process. */
export const PROBE_CHILD_SCRIPT = "suites/bench/probe_child.ts";

/** Sets whose runs take seconds: a short probe (about 1 s) keeps them fast. */
export const SHORT_PROBE_SETS: readonly string[] = ["smoke", "gate"];

/** The short probe's rounds: a fixed 20, rough but quick. */
export const SHORT_PROBE = { repetitions: 20, maxRepetitions: 20 } as const;

/** What the probe is told (`measureMachineLimits`'s options): the short probe, or defaults. */
export function probeOptions(sets: readonly string[]): Record<string, number> {
  const short = sets.length > 0 && sets.every((s) => SHORT_PROBE_SETS.includes(s));
  return short ? { ...SHORT_PROBE } : {};
}

/** `Deno.loadavg()` where the `sys` permission for it is granted, else `undefined`. */
export function loadAverage(): number[] | undefined {
  const granted = Deno.permissions.querySync({ name: "sys", kind: "loadavg" });
  return granted.state === "granted" ? Deno.loadavg() : undefined;
}

/**
 * Measures the machine's limits in a child process with `options`; throws an `Error` saying
 * how the child ended when it gives no figures, or its refusal of the options.
 */
export function probeInChild(
  options: Record<string, number>,
  timeoutMs: number,
): Promise<MachineLimits> {
  return planInChild<MachineLimits>({
    script: PROBE_CHILD_SCRIPT,
    args: [`--options=${JSON.stringify(options)}`],
    permissions: { read: ["."] },
    label: "bench's roofline probe",
    timeoutMs,
  });
}

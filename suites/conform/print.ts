/**
 * What `deno task conform` prints: one row per verdict as it comes, and the closing summary,
 * coloured by `paint` (plain unless the terminal shows colour: `_shared/terminal.ts`).
 * @module
 */
import type { ConformResult } from "../results/conformance.ts";
import type { ConformRun } from "./run.ts";
import { isWebGpuAdapter, rowLabel } from "../_shared/webgpu_matrix.ts";
import {
  formatDuration,
  type Painter,
  paintVerdict,
  plain,
  significant,
  type StepInfo,
  terminal,
} from "../_shared/terminal.ts";

function formatNumber(value: number | undefined): string {
  return value === undefined ? "-" : value.toExponential(2);
}

/**
 * The workarounds of library bugs a row's layer applied, briefly (each one's kind, the words
 * before its first colon: the report has the whole change), e.g. ` (workaround: X)`, or "".
 */
export function workaroundsNote(workarounds: readonly string[] | undefined): string {
  if (!workarounds || workarounds.length === 0) return "";
  const kinds = workarounds.map((w) => w.split(": ")[0]);
  return ` (workaround${kinds.length > 1 ? "s" : ""}: ${kinds.join(", ")})`;
}

/** One line of the progress table. */
export function formatResultRow(r: ConformResult, paint: Painter = plain): string {
  const status = paintVerdict(
    paint,
    r.status,
    `${r.status.toUpperCase()}${workaroundsNote(r.workarounds)}`.padEnd(10),
  );
  const numbers = r.maxAbsErr === undefined
    ? ""
    : `abs ${formatNumber(r.maxAbsErr)}  rel ${formatNumber(r.maxRelErr)}  ` +
      `${significant(r.worstRatio ?? 0)} of tol`;
  // A known bug's whole story is in the report; the row names where to read it.
  const shown = r.status === "known-fail"
    ? r.reason?.replace(
      /; known library bug: .*/s,
      "; a known library bug (suites/conform/known_failures.ts)",
    )
    : r.reason;
  const reason = shown ? `  ${shown}` : "";
  return `${rowLabel(r).padEnd(16)} ${r.case.padEnd(36)} ${status} ${numbers}${reason}`;
}

/**
 * Where each adapter ran, one line per implementation: `deno` (the CPU) or a wgpu backend
 * with its GPU adapter, marked `[software GPU]` when that is a CPU rasteriser (llvmpipe).
 */
export function implementationLines(run: Pick<ConformRun, "adapters">): string[] {
  const byPlace = new Map<string, string[]>();
  for (const a of run.adapters.filter((a) => a.available)) {
    const place = (a.implementation ?? "deno") +
      (a.gpu === undefined ? "" : a.gpu.software ? " [software GPU]" : " [hardware GPU]");
    byPlace.set(place, [...byPlace.get(place) ?? [], a.id]);
  }
  return [...byPlace].map(([place, ids]) => `ran on ${place}: ${ids.join(", ")}`);
}

/** The closing lines: skipped adapters, notes, the counts and where the report went. */
export function printConformSummary(
  run: ConformRun,
  reportPath: string,
  paint: Painter = plain,
): void {
  for (const a of run.adapters.filter((a) => !a.available)) {
    const errored = run.results.some((r) =>
      r.adapter === a.id && r.implementation === a.implementation && r.status === "error"
    );
    const verdict = errored
      ? paintVerdict(paint, "error", "error in")
      : paintVerdict(paint, "skip", "skipped");
    console.log(`${verdict} ${rowLabel(a)}: ${a.reason}`);
  }
  const { pass, fail, skip, error } = run.summary;
  for (const r of run.results.filter((r) => r.note)) {
    console.log(`note: ${rowLabel(r)} on ${r.case}: ${r.note}`);
  }
  for (const line of implementationLines(run)) console.log(`conform: ${line}`);
  const count = (n: number, verdict: string, text: string) =>
    n > 0 ? paintVerdict(paint, verdict, `${n} ${text}`) : `${n} ${text}`;
  console.log(
    `conform: ${count(pass, "pass", "passed")}, ${count(fail, "fail", "failed")}, ` +
      `${count(run.summary["known-fail"], "known-fail", "known library bugs")}, ` +
      `${count(skip, "skip", "skipped")}, ${count(error, "error", "errors")}`,
  );
  console.log(`report: ${reportPath === "-" ? "stdout" : reportPath}`);
}

/** A WebGPU adapter slower than this on its first case is probably compiling its shaders. */
export const COLD_SHADER_HINT_MS = 20_000;

/** What the progress line says while a WebGPU adapter's case runs long. */
export const COLD_SHADER_HINT = "compiling shaders? With Mesa's shader cache empty (a first run " +
  "on this machine) a WebGPU adapter's first cases take a minute or two on llvmpipe";

/**
 * The rows of a run as they come: each one printed (coloured by the terminal) and counted on
 * the progress line, whose steps are `adapters` x `backends` (WebGPU ones) x `targets` in the
 * order the children report them. `coldNotes` names the WebGPU adapters that took long, for
 * logs, where no progress line was shown.
 */
export function conformRows(
  adapters: readonly { id: string; toleranceClass: string }[],
  backends: readonly (string | null)[],
  targets: readonly string[] | number,
) {
  const steps: StepInfo[] = [];
  const cases = typeof targets === "number" ? Array(targets).fill("") : targets;
  for (const a of adapters) {
    const gpu = isWebGpuAdapter(a);
    for (const backend of gpu ? backends : [undefined]) {
      const label = backend ? `${a.id}@wgpu/${backend}` : a.id;
      for (const c of cases) {
        steps.push({
          label: c ? `${label} on ${c}` : label,
          slowHint: gpu ? COLD_SHADER_HINT : undefined,
          slowAfterMs: COLD_SHADER_HINT_MS,
        });
      }
    }
  }
  const progress = terminal.progress("conform", steps.length > 0 ? steps : 0);
  const spent = new Map<string, number>();
  let last = terminal.io.now();
  return {
    row(r: ConformResult): void {
      const now = terminal.io.now();
      const label = rowLabel(r);
      if (r.implementation?.startsWith("wgpu")) {
        spent.set(label, (spent.get(label) ?? 0) + now - last);
      }
      last = now;
      console.log(formatResultRow(r, terminal.painter()));
      progress.advance();
    },
    finish(): void {
      progress.finish();
      const slow = [...spent].filter(([, ms]) => ms >= 3 * COLD_SHADER_HINT_MS);
      if (slow.length > 0) {
        const each = slow.map(([label, ms]) => `${label} ${formatDuration(ms)}`).join(", ");
        console.log(
          `note: the WebGPU adapters took long (${each}): most of a first run on a machine is ` +
            "compiling shaders while Mesa's shader cache is empty; later runs reuse the cache",
        );
      }
    },
  };
}

/**
 * What `deno task bench` prints around its rows: the progress line over adapter x case, what
 * runs before the first row (the PyTorch baseline), and the coloured closing counts.
 * @module
 */
import type { BenchResult, TorchBaseline } from "../results/bench.ts";
import { formatBenchRow } from "./report.ts";
import {
  implementationName,
  isWebGpuAdapter,
  rowLabel,
  type WgpuBackend,
} from "../_shared/webgpu_matrix.ts";
import { type Painter, paintVerdict, plain, type StepInfo, terminal } from "../_shared/terminal.ts";
import { COLD_SHADER_HINT, COLD_SHADER_HINT_MS } from "../conform/print.ts";

/** The key of a row's step: its adapter label and case. */
function stepKey(label: string, caseId: string): string {
  return `${label} ${caseId}`;
}

/**
 * The rows of an isolated run as they come: printed (coloured by the terminal, skips left to
 * the adapter's own line) and counted on the progress line, one step per adapter x backend x
 * case in the order the children run them.
 */
export function benchRows(
  adapters: readonly { id: string; toleranceClass: string }[],
  backends: readonly (WgpuBackend | null)[],
  cases: readonly string[],
) {
  const steps: StepInfo[] = [];
  for (const a of adapters) {
    const gpu = isWebGpuAdapter(a);
    for (const backend of gpu ? backends : [undefined]) {
      const implementation = backend === undefined ? "deno" : implementationName(backend);
      const label = rowLabel({ adapter: a.id, implementation });
      for (const c of cases) {
        steps.push({
          label: `${label} on ${c}`,
          key: stepKey(label, c),
          slowHint: gpu ? COLD_SHADER_HINT : undefined,
          slowAfterMs: COLD_SHADER_HINT_MS,
        });
      }
    }
  }
  const progress = terminal.progress("bench", steps.length > 0 ? steps : 0);
  return {
    row(r: BenchResult): void {
      if (r.status !== "skip") console.log(formatBenchRow(r, terminal.painter()));
      progress.complete(stepKey(rowLabel(r), r.case));
    },
    finish: () => progress.finish(),
  };
}

/** Runs the PyTorch baseline with a line saying so first (it takes minutes on a big set). */
export async function measuringTorch(
  cases: number,
  measure: () => Promise<TorchBaseline>,
): Promise<TorchBaseline> {
  const what = `measuring the PyTorch baseline (python3, ${cases} cases)`;
  console.log(`bench: ${what}...`);
  const activity = terminal.activity(what);
  try {
    return await measure();
  } finally {
    activity.finish();
  }
}

/** The closing lines: the counts, coloured when they matter, and where the report went. */
export function printBenchSummary(
  results: readonly BenchResult[],
  paths: string,
  paint: Painter = plain,
): void {
  const count = (s: BenchResult["status"], text: string) => {
    const n = results.filter((r) => r.status === s).length;
    return n > 0 ? paintVerdict(paint, s, `${n} ${text}`) : `${n} ${text}`;
  };
  console.log(
    `bench: ${count("timed", "timed")}, ${count("wrong", "wrong")}, ` +
      `${count("skip", "skipped")}, ${count("error", "errors")}`,
  );
  console.log(`report: ${paths}`);
}

/**
 * The defaults table's types, and how a cell's formulation is chosen from what was measured
 * (`chooseFromEvidence`): used by the task that writes the table and by the test that holds
 * the committed table to its own evidence.
 * @module
 */
import type { Formulation, FormulationCell } from "../../condconv/formulation.ts";

/** What one formulation measured on one case of a cell. */
export interface CellEvidence {
  /** the bench case, e.g. `"effnet-b0.expand-80-480-14@b8"` */
  case: string;
  /** each formulation's warm p50, ms (only formulations that passed and were timed) */
  p50Ms: Partial<Record<Formulation, number>>;
}

/** One measured cell of the table. */
export interface MeasuredDefault {
  cell: FormulationCell;
  /** the formulation with the smallest geomean of p50 over the fastest p50, case by case */
  formulation: Formulation;
  /** that geomean (1 when it was the fastest on every case) */
  geomeanOverFastest: number;
  /** its largest p50 over the fastest on any one case */
  worstOverFastest: number;
  evidence: CellEvidence[];
  /** the run it was measured in: an index into the table's `sources` */
  source: number;
}

/** A bench run that measured cells of the table: command, date, machine, load. */
export interface RunSource {
  command: string;
  date: string;
  cpu: string;
  cores: number;
  loadAverage: number[] | null;
  runtime: string;
  /** the CPU threads each measured adapter ran on (absent where the rows did not say) */
  threads: Record<string, number>;
}

/** The measured table and where it was measured. */
export interface FormulationTable {
  /** the runs the cells came from */
  sources: RunSource[];
  cells: MeasuredDefault[];
  /** measurements the table did not use, and why (e.g. WebGPU on a software adapter) */
  notUsed: string[];
}

/** A cell's choice: the formulation and how far it is from the fastest. */
export interface CellChoice {
  formulation: Formulation;
  geomeanOverFastest: number;
  worstOverFastest: number;
}

/**
 * The formulations from the cheapest to hold to the dearest: `batched-matmul` (one op, one
 * dynamic-batch ONNX session), `depthwise-folded` (one op), `grouped` (one ONNX session per
 * batch size), `per-example` (a run per example), `expert-sum` (E times the FLOPs).
 */
export const PREFERENCE: readonly Formulation[] = [
  "batched-matmul",
  "depthwise-folded",
  "grouped",
  "per-example",
  "expert-sum",
];

/**
 * How much slower (geomean) a cheaper formulation may be than the fastest and still be chosen:
 * gaps this small are within one run's noise on a shared machine, and on ORT at batch 1
 * `grouped`, `depthwise-folded` and `per-example` are the same graph.
 */
export const TIE_MARGIN = 1.05;

/**
 * A cell's choice from its evidence: among the formulations timed on every case, each one's
 * geomean of p50 over the fastest p50, case by case; the cheapest (`PREFERENCE`) within
 * `TIE_MARGIN` of the smallest geomean wins. `undefined` when no formulation was timed on every
 * case.
 */
export function chooseFromEvidence(evidence: readonly CellEvidence[]): CellChoice | undefined {
  if (evidence.length === 0) return undefined;
  const choices: CellChoice[] = [];
  for (const formulation of PREFERENCE) {
    const ratios: number[] = [];
    for (const e of evidence) {
      const mine = e.p50Ms[formulation];
      const fastest = Math.min(...Object.values(e.p50Ms));
      if (mine === undefined) break;
      ratios.push(mine / fastest);
    }
    if (ratios.length < evidence.length) continue;
    const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    choices.push({
      formulation,
      geomeanOverFastest: geomean,
      worstOverFastest: Math.max(...ratios),
    });
  }
  if (choices.length === 0) return undefined;
  const best = Math.min(...choices.map((c) => c.geomeanOverFastest));
  return choices.find((c) => c.geomeanOverFastest <= best * TIE_MARGIN);
}

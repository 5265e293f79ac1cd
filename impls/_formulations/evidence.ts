/**
 * The defaults table's types, and how a cell's formulation is chosen from what was measured
 * (`chooseFromEvidence`): used by the task that writes the table and by the test that holds
 * the committed table to its own evidence.
 * @module
 */
import {
  type Formulation,
  type FormulationCell,
  FORMULATIONS,
} from "../../condconv/formulation.ts";

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
 * The formulation with the smallest geomean of p50 over the fastest p50, over the cases of a
 * cell, among those timed on every case (ties go to the earlier one in `FORMULATIONS`);
 * `undefined` when no formulation was timed on every case.
 */
export function chooseFromEvidence(evidence: readonly CellEvidence[]): CellChoice | undefined {
  if (evidence.length === 0) return undefined;
  let best: CellChoice | undefined;
  for (const formulation of FORMULATIONS) {
    const ratios: number[] = [];
    for (const e of evidence) {
      const mine = e.p50Ms[formulation];
      const fastest = Math.min(...Object.values(e.p50Ms));
      if (mine === undefined) break;
      ratios.push(mine / fastest);
    }
    if (ratios.length < evidence.length) continue;
    const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
    if (best === undefined || geomean < best.geomeanOverFastest) {
      best = { formulation, geomeanOverFastest: geomean, worstOverFastest: Math.max(...ratios) };
    }
  }
  return best;
}

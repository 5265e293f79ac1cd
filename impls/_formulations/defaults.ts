/**
 * Each framework adapter's default formulation, from the measured table (`table.ts`, written
 * by `deno task formulations:table` from a `deno task bench --formulations` run): a layer run
 * takes the formulation of its cell (`condconv/formulation.ts`: backend x kernel kind x batch
 * bucket x spatial bucket); a cell the table does not hold keeps the adapter's rule of thumb,
 * and says so.
 *
 * WebGPU cells are never filled from a software GPU adapter (llvmpipe, SwiftShader): a CPU
 * figure must not choose what a real GPU runs, so the WebGPU adapters keep their rules until a
 * real GPU is measured (the table lists what it left out, and why).
 * @module
 */
import {
  cellKey,
  type Formulation,
  type FormulationCell,
  formulationCell,
  kernelKind,
} from "../../condconv/formulation.ts";
import type { CondConvSpec } from "../../condconv/spec.ts";
import { FORMULATION_TABLE } from "./table.ts";
import type { MeasuredDefault } from "./evidence.ts";

export type { CellEvidence, FormulationTable, MeasuredDefault, RunSource } from "./evidence.ts";

const BY_KEY = new Map(FORMULATION_TABLE.cells.map((c) => [cellKey(c.cell), c]));

/** The table's entry for `cell`, or `undefined` where the table has none. */
export function measuredDefault(cell: FormulationCell): MeasuredDefault | undefined {
  return BY_KEY.get(cellKey(cell));
}

/** A layer run's default formulation and where it came from. */
export interface DefaultChoice {
  formulation: Formulation;
  /** `"table"`: the measured cell; `"rule"`: the adapter's rule (no measured cell) */
  from: "table" | "rule";
  cell: FormulationCell;
}

/**
 * The default formulation of `spec` run at `batch` on an `height x width` input on `backend`:
 * the table's where it has the cell and the formulation can compute the layer
 * (`problem(f)` is `undefined`), else `rule()`.
 */
export function defaultFormulation<F extends string>(
  backend: string,
  spec: CondConvSpec,
  g: { batch: number; inHeight: number; inWidth: number },
  rule: () => F,
  problem: (formulation: string) => string | undefined,
): { formulation: F; from: "table" | "rule"; cell: FormulationCell } {
  const cell = formulationCell(backend, spec, g.batch, g.inHeight, g.inWidth);
  const measured = measuredDefault(cell);
  if (measured && problem(measured.formulation) === undefined) {
    return { formulation: measured.formulation as string as F, from: "table", cell };
  }
  return { formulation: rule(), from: "rule", cell };
}

/** The table's cells of `backend`, in words, for the adapter's recorded info. */
export function tableSummary(backend: string): string {
  const cells = FORMULATION_TABLE.cells.filter((c) => c.cell.backend === backend);
  if (cells.length === 0) return "no measured cell: the rule below applies everywhere";
  const list = cells.map((c) =>
    `${c.cell.kernel} b${c.cell.batch} ${c.cell.spatial}: ${c.formulation}`
  );
  const dates = [...new Set(cells.map((c) => FORMULATION_TABLE.sources[c.source].date))];
  return `measured (impls/_formulations/table.ts, ${dates.join(", ")}): ` +
    `${list.join("; ")}; elsewhere the rule below`;
}

/**
 * Every formulation a run of `spec` on `backend` can take by default, whatever its batch and
 * input size: the rule's and the table's for the spec's kernel kind (where the formulation
 * can compute it), so that `prepare` can ready them all and no run has to.
 */
export function possibleDefaults<F extends string>(
  backend: string,
  spec: CondConvSpec,
  rule: () => F,
  problem: (formulation: string) => string | undefined,
): F[] {
  const kind = kernelKind(spec);
  const found = new Set<F>([rule()]);
  for (const c of FORMULATION_TABLE.cells) {
    if (c.cell.backend !== backend || c.cell.kernel !== kind) continue;
    if (problem(c.formulation) === undefined) found.add(c.formulation as string as F);
  }
  return [...found];
}

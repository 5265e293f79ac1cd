/**
 * `deno task formulations:table [bench.json]`: writes the formulation defaults table
 * (`impls/_formulations/table.ts`) from a `deno task bench --formulations` run (default
 * `reports/bench.json`), then formats it. The adapters follow the table; a test holds the
 * committed table to its own evidence and the adapters to the table.
 * @module
 */
import { BenchReport } from "../suites/results/bench.ts";
import { FORMULATION_TABLE } from "../impls/_formulations/table.ts";
import { deriveTable, renderTableModule, TABLE_MODULE } from "../suites/bench/formulation_table.ts";

const USAGE = `deno task formulations:table [BENCH_JSON]

Writes ${TABLE_MODULE} from a bench run made with --formulations
(default reports/bench.json): per adapter, kernel kind, batch bucket and spatial bucket, the
formulation with the smallest geomean of p50 over the fastest. Cells the run did not measure
are kept, each naming the run it came from; WebGPU rows on a software GPU adapter are never
used.`;

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (args.length > 1 || args.some((a) => a.startsWith("-"))) {
    console.error(`formulations:table: expected at most one bench JSON path\n\n${USAGE}`);
    Deno.exit(2);
  }
  const path = args[0] ?? "reports/bench.json";
  let report: BenchReport;
  try {
    report = BenchReport.parse(JSON.parse(await Deno.readTextFile(path)));
  } catch (error) {
    console.error(`formulations:table: cannot read ${path}: ${(error as Error).message}`);
    Deno.exit(1);
  }
  try {
    const table = deriveTable(report, FORMULATION_TABLE, path);
    await Deno.writeTextFile(TABLE_MODULE, renderTableModule(table));
    const fmt = await new Deno.Command("deno", { args: ["fmt", TABLE_MODULE] }).output();
    if (!fmt.success) throw new Error(new TextDecoder().decode(fmt.stderr));
    console.log(
      `formulations:table: ${table.cells.length} cells written to ${TABLE_MODULE}` +
        (table.notUsed.length > 0 ? `; not used: ${table.notUsed.join("; ")}` : ""),
    );
  } catch (error) {
    console.error(`formulations:table: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

/**
 * Real result files for the report's tests: the reference adapter on the control case, bench
 * (fast settings, no PyTorch) and conformance, run once per test process.
 * @module
 */
import assert from "node:assert/strict";
import { benchMain } from "../bench.ts";
import { fastBench } from "../_testing/flags.ts";
import { conformMain } from "../conform.ts";
import type { BenchReport } from "../results/bench.ts";

/** The files of the real run, in a temporary folder. */
export interface RealRun {
  dir: string;
  bench: string;
  conformance: string;
  benchReport: BenchReport;
}

let realRun: Promise<RealRun> | undefined;

/** Real result files: the reference adapter on the control case, fast settings. */
export function makeRealRun(): Promise<RealRun> {
  realRun ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "condconv-report-" });
    // Set CONDCONV_KEEP_REPORT_TMP=1 to keep the rendered pages and the screenshot.
    if (!Deno.env.get("CONDCONV_KEEP_REPORT_TMP")) {
      globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    }
    const bench = `${dir}/b.json`; // where fastBench writes
    const conformance = `${dir}/conformance.json`;
    const benchStatus = await benchMain([
      ...["--adapter", "reference", "--case", "control", "--no-torch"],
      ...fastBench(dir),
    ]);
    assert.equal(benchStatus, 0);
    const conformStatus = await conformMain([
      "--adapter",
      "reference",
      "--case",
      "control",
      "--json",
      conformance,
    ]);
    assert.equal(conformStatus, 0);
    const benchReport: BenchReport = JSON.parse(await Deno.readTextFile(bench));
    return { dir, bench, conformance, benchReport };
  })();
  return realRun;
}

/**
 * Flags the CLI tests share.
 * @module
 */

/** bench as fast as it goes, its report and summary written into `dir`. */
export function fastBench(dir: string): string[] {
  return [
    ...["--min-samples", "2", "--budget-ms", "1"],
    ...["--json", `${dir}/b.json`, "--markdown", `${dir}/b.md`],
  ];
}

/**
 * The contract of a report format, as in mitata: a reporter is a plain function from the
 * parsed results to the files it writes. `reporters.ts` maps format names to reporters.
 * @module
 */
import type { Machine } from "./input.ts";

/** A browser build of a chart library, read from `node_modules` for the HTML page. */
export interface VendorContent {
  /** npm package name */
  pkg: string;
  /** path inside the package */
  file: string;
  /** file name under `vendor/` */
  dest: string;
  version: string;
  text: string;
  license: string;
}

/** What every reporter is given: the parsed inputs, grouped by machine. */
export interface ReportContext {
  machines: readonly Machine[];
  /** the result files, as given */
  inputs: readonly string[];
  /** the chart libraries, read before anything is written */
  vendor: readonly VendorContent[];
}

/** One file a reporter writes, its path relative to the output folder. */
export interface ReportFile {
  path: string;
  text: string;
}

/** A report format: the files it writes for `context`. Pure: it reads and writes nothing. */
export type Reporter = (context: ReportContext) => ReportFile[];

/** A value as the JSON file a reporter writes. */
export function jsonFile(path: string, value: unknown): ReportFile {
  return { path, text: JSON.stringify(value, null, 2) + "\n" };
}

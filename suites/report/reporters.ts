/**
 * Every report format `deno task report` writes, by name. Adding a format is one new file that
 * exports a `Reporter` (`reporter.ts`) and one line here.
 * @module
 */
import { bencherReporter, benchmarkActionReporter } from "./export.ts";
import { htmlReporter } from "./html.ts";
import { markdownReporter } from "./markdown.ts";
import type { Reporter } from "./reporter.ts";

/** Format name -> reporter, in the order they are written. */
export const REPORTERS: Readonly<Record<string, Reporter>> = {
  markdown: markdownReporter,
  html: htmlReporter,
  "benchmark-action": benchmarkActionReporter,
  bencher: bencherReporter,
};

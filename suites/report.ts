/**
 * `deno task report`: the results people publish, rendered from result files.
 *
 * ```
 * deno task report [--input <file>]... [--out-dir DIR] [--publish [--readme README.md | --no-readme]]
 * ```
 * Reads bench and conformance JSON files (by default `reports/conformance.json`,
 * `reports/bench.json` and `deno task browser`'s two, whichever exist), possibly from several machines, and writes every
 * format of `report/reporters.ts` into the output folder: `RESULTS.md`, `index.html` (with
 * `vendor/`, the chart libraries), `benchmark-action.json` (github-action-benchmark,
 * `customSmallerIsBetter`) and `bencher.json` (Bencher Metric Format).
 *
 * By default nothing tracked is touched: the output folder is `reports/local/`. `--publish`
 * writes into `reports/` (whose `RESULTS.md` is tracked) and replaces the results block of the
 * README. Every input is read and checked before anything is written: a missing or invalid
 * file, a README without its markers or an unknown flag stops the run with exit status 2.
 * @module
 */
import { parseTaskFlags, runMain, UsageError } from "./_shared/cli.ts";
import { checkOutputPaths, writeTextAtomic } from "./_shared/files.ts";
import { writeJsonOutput } from "./_shared/terminal.ts";
import { readVendorFiles } from "./report/html.ts";
import {
  buildMachines,
  loadResultFile,
  ReportInputError,
  type ResultFile,
} from "./report/input.ts";
import { README_MARKERS, renderReadmeBlock, replaceReadmeBlock } from "./report/markdown.ts";
import type { ReportContext, ReportFile, VendorContent } from "./report/reporter.ts";
import { REPORTERS } from "./report/reporters.ts";

/** Defaults, applied in one place. */
export const REPORT_DEFAULTS = {
  inputs: [
    "reports/conformance.json",
    "reports/bench.json",
    // deno task browser: shown as their own machine section ("..., in chromium 156")
    "reports/browser-conformance.json",
    "reports/browser-bench.json",
  ],
  /** where a report goes unless it is published: untracked */
  outDir: "reports/local",
  /** where `--publish` writes: `RESULTS.md` there is tracked */
  publishDir: "reports",
  readme: "README.md",
} as const;

const USAGE = `deno task report [--input FILE]... [--out-dir DIR]
                 [--publish [--readme PATH | --no-readme]] [--json PATH|-]

Renders bench and conformance result files (from one machine or several) as tables, charts
and export formats (${Object.keys(REPORTERS).join(", ")}).
  --input      a result file, "kind" bench or conformance (repeatable; default: whichever of
               ${REPORT_DEFAULTS.inputs.join(",\n               ")}
               exist)
  --out-dir    where RESULTS.md, index.html, vendor/, benchmark-action.json and bencher.json
               go (default ${REPORT_DEFAULTS.outDir}, untracked; with --publish
               ${REPORT_DEFAULTS.publishDir})
  --publish    publish into tracked files: ${REPORT_DEFAULTS.publishDir}/RESULTS.md and the README's
               block between ${README_MARKERS.start} and ${README_MARKERS.end}
  --readme     with --publish: the README to update (default ${REPORT_DEFAULTS.readme})
  --no-readme  with --publish: leave the README alone
  --json       also write a JSON summary of what was read and written (- for stdout, the
               other output then goes to stderr)`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * Writes `text` to `path` atomically through a temporary file in `tmpDir` (the report may
 * write its output folder and the README, not the README's folder).
 */
async function writeTextVia(tmpDir: string, path: string, text: string): Promise<void> {
  const tmp = `${tmpDir}/.readme.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  await writeTextAtomic(tmp, text);
  await Deno.rename(tmp, path).catch(async (error) => {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  });
}

/** The result files to read: the flags', or the defaults that exist. */
async function inputPaths(given: readonly string[] | undefined): Promise<string[]> {
  if (given) return [...new Set(given)];
  const inputs: string[] = [];
  for (const path of REPORT_DEFAULTS.inputs) if (await exists(path)) inputs.push(path);
  if (inputs.length === 0) {
    throw new ReportInputError(
      `Run \`deno task bench\` or \`deno task conform\` first, or pass --input: ` +
        `no result file found (looked for ${
          REPORT_DEFAULTS.inputs.map((p) => `"${p}"`).join(" and ")
        })`,
    );
  }
  return inputs;
}

/** The README with its results block replaced, or null when it stays as it is. */
async function publishedReadme(
  readmePath: string,
  block: string | null,
): Promise<{ path: string; text: string } | null> {
  let current: string;
  try {
    current = await Deno.readTextFile(readmePath);
  } catch (error) {
    throw new ReportInputError(
      `Read README "${readmePath}": ${
        error instanceof Deno.errors.NotFound ? "the file does not exist" : (error as Error).message
      } (pass --readme PATH or --no-readme)`,
    );
  }
  let text: string;
  try {
    text = replaceReadmeBlock(current, block ?? "");
  } catch (error) {
    throw new ReportInputError(
      `Add the results markers to README "${readmePath}": ${(error as Error).message}`,
    );
  }
  if (block === null) {
    console.log(`report: no bench results in the inputs, "${readmePath}" left as it is`);
    return null;
  }
  return text === current ? null : { path: readmePath, text };
}

async function assertMayWrite(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const { state } = await Deno.permissions.query({ name: "write", path });
    if (state !== "granted") {
      throw new ReportInputError(
        `Choose a path the task may write: "${path}" is outside its write permission ` +
          `(\`deno task report\` writes reports/ and README.md; for elsewhere run ` +
          `suites/report.ts with a matching --allow-write)`,
      );
    }
  }
}

/**
 * The `report` command: parses `args`, reads and checks every input, then writes. Resolves to
 * the exit status; throws `UsageError` or `ReportInputError` (before writing anything).
 */
export async function reportMain(
  args: string[],
  options: { nodeModules?: string } = {},
): Promise<number> {
  const flags = parseTaskFlags(args, {
    input: { type: "string", multiple: true },
    "out-dir": { type: "string" },
    publish: { type: "boolean" },
    readme: { type: "string" },
    "no-readme": { type: "boolean" },
    json: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  if (flags.json !== undefined) await checkOutputPaths({ json: flags.json });
  if (flags.readme !== undefined && flags["no-readme"]) {
    throw new UsageError(`Choose one of --readme "${flags.readme}" and --no-readme: not both`);
  }
  if (!flags.publish && (flags.readme !== undefined || flags["no-readme"])) {
    throw new UsageError(
      `Add --publish to write a README: without it the report touches no tracked file ` +
        `(${flags.readme !== undefined ? `--readme "${flags.readme}"` : "--no-readme"} given)`,
    );
  }
  const defaultDir = flags.publish ? REPORT_DEFAULTS.publishDir : REPORT_DEFAULTS.outDir;
  const outDir = (flags["out-dir"] ?? defaultDir).replace(/\/+$/, "") || ".";
  const readmePath = flags.publish && !flags["no-readme"]
    ? flags.readme ?? REPORT_DEFAULTS.readme
    : null;

  // Read and check everything before writing anything.
  const inputs = await inputPaths(flags.input);
  const files: ResultFile[] = [];
  for (const path of inputs) files.push(await loadResultFile(path));
  const machines = buildMachines(files);
  let vendor: VendorContent[];
  try {
    vendor = await readVendorFiles(options.nodeModules);
  } catch (error) {
    throw new ReportInputError((error as Error).message);
  }
  const readme = readmePath === null
    ? null
    : await publishedReadme(readmePath, renderReadmeBlock(machines, outDir));
  await assertMayWrite([outDir, ...(readme ? [readme.path] : [])]);

  const context: ReportContext = { machines, inputs, vendor };
  const written: ReportFile[] = [];
  for (const reporter of Object.values(REPORTERS)) {
    for (const file of reporter(context)) {
      await writeTextAtomic(`${outDir}/${file.path}`, file.text);
      written.push(file);
    }
  }
  if (readme) await writeTextVia(outDir, readme.path, readme.text);

  const rows = machines.reduce((n, m) => n + m.rows.length, 0);
  console.log(
    `report: ${files.length} files, ${machines.length} machine${
      machines.length === 1 ? "" : "s"
    }, ${rows} bench rows`,
  );
  for (const m of machines) {
    console.log(`  ${m.id}: ${m.label}${m.softwareGpu ? "  [software GPU]" : ""}`);
  }
  const shown = written.filter((f) => !f.path.startsWith("vendor/")).map((f) =>
    `${outDir}/${f.path}`
  );
  console.log(
    `wrote ${shown.join(", ")} (+ ${outDir}/vendor/)` +
      (readmePath === null
        ? "; no tracked file touched (--publish writes reports/RESULTS.md and the README)"
        : readme
        ? `, ${readme.path} (results block)`
        : `; ${readmePath} unchanged`),
  );
  if (flags.json !== undefined) {
    await writeJsonOutput(flags.json, {
      kind: "report-summary",
      inputs,
      machines: machines.map((m) => ({ id: m.id, label: m.label, rows: m.rows.length })),
      outDir,
      written: written.map((f) => `${outDir}/${f.path}`),
      readme: readme?.path ?? null,
    });
  }
  return 0;
}

if (import.meta.main) {
  await runMain(() => reportMain(Deno.args), [ReportInputError]);
}

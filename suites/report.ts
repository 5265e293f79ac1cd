/**
 * `deno task report`: the results people publish, rendered from result files.
 *
 * ```
 * deno task report [--input <file>]... [--out-dir reports] [--readme README.md | --no-readme]
 * ```
 * Reads bench and conformance JSON files (by default `reports/conformance.json` and
 * `reports/bench.json`, whichever exist), possibly from several machines, and writes into the
 * output folder `RESULTS.md`, `index.html` (with `vendor/`, the chart libraries),
 * `benchmark-action.json` (github-action-benchmark, `customSmallerIsBetter`) and
 * `bencher.json` (Bencher Metric Format), then replaces the results block of the README.
 * Every input is read and checked before anything is written: a missing or invalid file, a
 * README without its markers or an unknown flag stops the run with exit status 2.
 * @module
 */
import { parseFlags, runMain, UsageError } from "./_shared/cli.ts";
import { toBencher, toBenchmarkAction } from "./report/export.ts";
import { readVendorFiles, renderIndexHtml, type VendorContent } from "./report/html.ts";
import {
  buildMachines,
  loadResultFile,
  ReportInputError,
  type ResultFile,
} from "./report/input.ts";
import {
  README_MARKERS,
  renderReadmeBlock,
  renderResultsMarkdown,
  replaceReadmeBlock,
} from "./report/markdown.ts";
import { writeJsonAtomic, writeTextAtomic } from "./_shared/files.ts";

/** Defaults, applied in one place. */
export const REPORT_DEFAULTS = {
  inputs: ["reports/conformance.json", "reports/bench.json"],
  outDir: "reports",
  readme: "README.md",
} as const;

const USAGE = `deno task report [--input FILE]... [--out-dir DIR] [--readme PATH | --no-readme]

Renders bench and conformance result files (from one machine or several) as tables, charts
and export formats.
  --input      a result file, "kind" bench or conformance (repeatable; default: whichever of
               ${REPORT_DEFAULTS.inputs.join(" and ")} exist)
  --out-dir    where RESULTS.md, index.html, vendor/, benchmark-action.json and bencher.json
               go (default ${REPORT_DEFAULTS.outDir})
  --readme     the README whose block between ${README_MARKERS.start} and
               ${README_MARKERS.end} is replaced (default ${REPORT_DEFAULTS.readme})
  --no-readme  leave the README alone`;

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
  await Deno.mkdir(tmpDir, { recursive: true });
  const tmp = `${tmpDir}/.readme.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** What `reportMain` writes. */
interface ReportOutputs {
  resultsMarkdown: string;
  indexHtml: string;
  benchmarkAction: string;
  bencher: string;
  vendor: string[];
  /** the README path when its block was written, `null` when left alone */
  readme: string | null;
}

/**
 * The `report` command: parses `args`, reads and checks every input, then writes. Resolves to
 * the exit status; throws `UsageError` or `ReportInputError` (before writing anything).
 */
export async function reportMain(
  args: string[],
  options: { nodeModules?: string } = {},
): Promise<number> {
  const flags = parseFlags(args, {
    input: { type: "string", multiple: true },
    "out-dir": { type: "string" },
    readme: { type: "string" },
    "no-readme": { type: "boolean" },
    help: { type: "boolean" },
  });
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (flags.readme !== undefined && flags["no-readme"]) {
    throw new UsageError(`Choose one of --readme "${flags.readme}" and --no-readme: not both`);
  }
  const outDir = (flags["out-dir"] ?? REPORT_DEFAULTS.outDir).replace(/\/+$/, "") || ".";
  const readmePath = flags["no-readme"] ? null : flags.readme ?? REPORT_DEFAULTS.readme;

  let inputs: string[];
  if (flags.input) {
    inputs = [...new Set(flags.input)];
  } else {
    inputs = [];
    for (const path of REPORT_DEFAULTS.inputs) if (await exists(path)) inputs.push(path);
    if (inputs.length === 0) {
      throw new ReportInputError(
        `Run \`deno task bench\` or \`deno task conform\` first, or pass --input: ` +
          `no result file found (looked for ${
            REPORT_DEFAULTS.inputs.map((p) => `"${p}"`).join(" and ")
          })`,
      );
    }
  }

  // Read and check everything before writing anything.
  const files: ResultFile[] = [];
  for (const path of inputs) files.push(await loadResultFile(path));
  const machines = buildMachines(files);

  let vendor: VendorContent[];
  try {
    vendor = await readVendorFiles(options.nodeModules);
  } catch (error) {
    throw new ReportInputError((error as Error).message);
  }

  let readme: { path: string; text: string } | null = null;
  if (readmePath !== null) {
    const block = renderReadmeBlock(machines, outDir);
    let current: string;
    try {
      current = await Deno.readTextFile(readmePath);
    } catch (error) {
      throw new ReportInputError(
        `Read README "${readmePath}": ${
          error instanceof Deno.errors.NotFound
            ? "the file does not exist"
            : (error as Error).message
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
    } else if (text !== current) {
      readme = { path: readmePath, text };
    }
  }

  for (const path of [outDir, ...(readme ? [readme.path] : [])]) {
    const { state } = await Deno.permissions.query({ name: "write", path });
    if (state !== "granted") {
      throw new ReportInputError(
        `Choose a path the task may write: "${path}" is outside its write permission ` +
          `(\`deno task report\` writes reports/ and README.md; for elsewhere run ` +
          `suites/report.ts with a matching --allow-write)`,
      );
    }
  }

  const outputs: ReportOutputs = {
    resultsMarkdown: `${outDir}/RESULTS.md`,
    indexHtml: `${outDir}/index.html`,
    benchmarkAction: `${outDir}/benchmark-action.json`,
    bencher: `${outDir}/bencher.json`,
    vendor: [],
    readme: null,
  };
  await writeTextAtomic(outputs.resultsMarkdown, renderResultsMarkdown(machines));
  for (const v of vendor) {
    const path = `${outDir}/vendor/${v.dest}`;
    await writeTextAtomic(path, v.text);
    await writeTextAtomic(`${outDir}/vendor/${v.pkg}.LICENSE`, v.license);
    outputs.vendor.push(path);
  }
  await writeTextAtomic(
    outputs.indexHtml,
    renderIndexHtml(machines, {
      vendor: vendor.map(({ pkg, version, dest }) => ({ pkg, version, dest })),
      inputs,
    }),
  );
  await writeJsonAtomic(outputs.benchmarkAction, toBenchmarkAction(machines));
  await writeJsonAtomic(outputs.bencher, toBencher(machines));
  if (readme) {
    await writeTextVia(outDir, readme.path, readme.text);
    outputs.readme = readme.path;
  }

  const rows = machines.reduce((n, m) => n + m.rows.length, 0);
  console.log(
    `report: ${files.length} files, ${machines.length} machine${
      machines.length === 1 ? "" : "s"
    }, ${rows} bench rows`,
  );
  for (const m of machines) {
    console.log(`  ${m.id}: ${m.label}${m.softwareGpu ? "  [software GPU]" : ""}`);
  }
  console.log(
    `wrote ${outputs.resultsMarkdown}, ${outputs.indexHtml} (+ ${outDir}/vendor/), ` +
      `${outputs.benchmarkAction}, ${outputs.bencher}` +
      (readmePath === null
        ? ""
        : readme
        ? `, ${readme.path} (results block)`
        : `; ${readmePath} unchanged`),
  );
  return 0;
}

if (import.meta.main) {
  await runMain(() => reportMain(Deno.args), [ReportInputError]);
}

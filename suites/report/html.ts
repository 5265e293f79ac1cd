/**
 * `index.html` of `deno task report`: a static page that works offline from `file://`. The
 * tables are plain HTML, sortable by clicking a header (a small inline script); the charts are
 * vega-lite specs rendered by vega-embed, whose minified browser builds are copied from
 * `node_modules` into `vendor/` beside the page and loaded by relative paths. Every figure is
 * embedded in the page as JSON (`<script type="application/json" id="report-data">`).
 * @module
 */
import { type AnchorRow, ANCHORS_LEGEND, anchorTable } from "./anchors.ts";
import { formulationAdvice, MATRIX_LEGEND, matrixRows, matrixTable } from "./formulations.ts";
import {
  adapterFacts,
  conformanceCoverage,
  conformanceText,
  conformanceTotals,
  environmentFacts,
  FLAGS_LEGEND,
  FULL_TABLE_HEADER,
  fullTableCells,
  machineAnchors,
  rowFlags,
  softwareGpuWarning,
} from "./markdown.ts";
import { type Machine, type ReportRow, rowsOfSet } from "./input.ts";
import {
  batchChart,
  type ChartOrNote,
  conformanceMatrix,
  overheadChart,
  relativeHeatmap,
  rooflineChart,
  timesChart,
} from "./charts.ts";
import { mixedRunsNote } from "./provenance.ts";
import { PAGE_SCRIPT, PAGE_STYLE } from "./page_assets.ts";

export { TORCH_LABEL } from "./charts.ts";
import type { Reporter, VendorContent } from "./reporter.ts";

/** A browser build of a plotting library, copied into `vendor/`. */
export interface VendorFile {
  /** npm package name */
  pkg: string;
  /** path inside the package */
  file: string;
  /** file name under `vendor/` */
  dest: string;
}

/** The libraries the page loads, in load order (vega-embed needs vega and vega-lite). */
export const VENDOR_FILES: readonly VendorFile[] = [
  { pkg: "vega", file: "build/vega.min.js", dest: "vega.min.js" },
  { pkg: "vega-lite", file: "build/vega-lite.min.js", dest: "vega-lite.min.js" },
  { pkg: "vega-embed", file: "build/vega-embed.min.js", dest: "vega-embed.min.js" },
];

/**
 * Reads the browser builds, their versions and licences from `nodeModules`. Throws an `Error`
 * naming the missing file (run `deno install`).
 */
export async function readVendorFiles(nodeModules = "node_modules"): Promise<VendorContent[]> {
  const out: VendorContent[] = [];
  for (const v of VENDOR_FILES) {
    const dir = `${nodeModules}/${v.pkg}`;
    const read = async (path: string) => {
      try {
        return await Deno.readTextFile(path);
      } catch (error) {
        throw new Error(
          `Install the chart libraries with \`deno install\`: cannot read "${path}" (${
            (error as Error).message
          })`,
        );
      }
    };
    const pkg = JSON.parse(await read(`${dir}/package.json`)) as { version?: string };
    out.push({
      ...v,
      version: pkg.version ?? "unknown",
      text: await read(`${dir}/${v.file}`),
      license: await read(`${dir}/LICENSE`),
    });
  }
  return out;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** JSON that is safe inside a `<script>` element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** The sort keys of the full table's columns: numbers sort numerically, the rest as text. */
function sortKeys(row: ReportRow): (number | string | undefined)[] {
  const timed = row.status === "timed";
  return [
    row.case,
    row.adapter,
    timed ? row.p50Ms : undefined,
    timed ? row.p50LowMs : undefined,
    timed ? row.minMs : undefined,
    timed ? row.p99Ms : undefined,
    timed ? row.maxMs : undefined,
    row.gflops,
    row.vsReference,
    row.vsTs,
    row.overVsStatic,
    row.torchP50Ms,
    conformanceText(row),
    row.conformance?.maxAbsErr,
    rowFlags(row).join(", "),
  ];
}

const NUMERIC = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13]);
const CONFORMANCE_COLUMN = FULL_TABLE_HEADER.indexOf("conformance");
const FLAGS_COLUMN = FULL_TABLE_HEADER.indexOf("flags");

function tableHtml(id: string, rows: readonly ReportRow[]): string {
  const head = FULL_TABLE_HEADER.map((h, i) =>
    `<th scope="col" data-type="${NUMERIC.has(i) ? "number" : "text"}" aria-sort="none">` +
    `<button type="button">${escapeHtml(h)}</button></th>`
  ).join("");
  const body = rows.map((row) => {
    const keys = sortKeys(row);
    const cells = fullTableCells(row).map((text, i) => {
      const key = keys[i];
      const sort = key === undefined || (typeof key === "number" && !Number.isFinite(key))
        ? ""
        : String(key);
      const cls = [
        NUMERIC.has(i) ? "num" : "",
        i === CONFORMANCE_COLUMN && row.conformance?.status.endsWith("fail") ? "bad" : "",
        i === FLAGS_COLUMN && text !== "" ? "flag" : "",
      ].filter(Boolean).join(" ");
      const content = i === 1 && row.softwareGpu
        ? `${escapeHtml(row.adapter)} <span class="badge">software GPU</span>`
        : escapeHtml(text);
      return `<td${cls ? ` class="${cls}"` : ""} data-sort="${escapeHtml(sort)}">${content}</td>`;
    }).join("");
    const title = row.reason ? ` title="${escapeHtml(row.reason)}"` : "";
    return `<tr data-adapter="${escapeHtml(row.adapter)}" data-case="${escapeHtml(row.case)}"` +
      ` data-status="${row.status}"${row.softwareGpu ? ' class="software"' : ""}${title}>` +
      `${cells}</tr>`;
  }).join("\n");
  return `<div class="scroll"><table class="results sortable" id="${id}">\n<thead><tr>${head}` +
    `</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table></div>`;
}

/** Text with `**bold**` and `` `code` `` spans as HTML, everything else escaped. */
function inlineMarkdown(text: string): string {
  return escapeHtml(text).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(
    /`(.+?)`/g,
    "<code>$1</code>",
  );
}

/** Options of the page. */
export interface PageOptions {
  /** versions of the vendored libraries, for the footer */
  vendor: { pkg: string; version: string; dest: string }[];
  /** the result files the page was made from */
  inputs: string[];
}

/** The whole `index.html`. */
export function renderIndexHtml(machines: readonly Machine[], options: PageOptions): string {
  const charts: { target: string; spec: object }[] = [];
  const sections = machines.map((m) => {
    const parts: string[] = [];
    parts.push(`<section id="${m.id}">`);
    parts.push(`<h2>${escapeHtml(`${m.id}: ${m.label}`)}</h2>`);
    if (m.softwareGpu) {
      parts.push(
        `<div class="warning" role="alert">${inlineMarkdown(softwareGpuWarning(m))}</div>`,
      );
    }
    parts.push(
      `<table class="env"><tbody>${
        environmentFacts(m).map(([k, v]) =>
          `<tr><th scope="row">${escapeHtml(k)}</th><td>${inlineMarkdown(v)}</td></tr>`
        ).join("")
      }</tbody></table>`,
    );
    const mixed = mixedRunsNote(m);
    if (mixed) parts.push(`<p class="mixed" role="note">${inlineMarkdown(mixed)}</p>`);
    const files = m.files.map((f) => {
      const e = f.report.environment;
      return `<li>${f.kind} <code>${escapeHtml(f.path)}</code>: commit <code>${
        escapeHtml(e.gitCommit?.slice(0, 10) ?? "unknown")
      }</code>, ${escapeHtml(e.date)}, Deno ${escapeHtml(e.deno)}</li>`;
    }).join("");
    const adapters = adapterFacts(m).map((a) => `<li>${inlineMarkdown(a)}</li>`).join("");
    parts.push(
      `<details><summary>Result files and adapters</summary><ul>${files}</ul><ul>${adapters}` +
        `</ul></details>`,
    );
    const totals = conformanceTotals(m);
    if (totals.length > 0) {
      parts.push(
        `<p class="meta">Conformance over ${escapeHtml(conformanceCoverage(m))}: ${
          totals.map((t) =>
            `<strong>${escapeHtml(t.adapter)}</strong> ${t.pass} pass, ${t.fail} fail, ` +
            `${t["known-fail"]} known library bug, ${t.skip} skip, ${t.error} error`
          ).join("; ")
        }.</p>`,
      );
    }
    if (m.sets.length === 0) parts.push(`<p class="meta">No bench results from this machine.</p>`);
    const place = (chart: ChartOrNote, target: string) => {
      if (chart.kind === "note") {
        return `<div><p class="chart-note" data-chart="${escapeHtml(chart.title)}"><strong>${
          escapeHtml(chart.title)
        }</strong>: ${escapeHtml(chart.text)}</p></div>`;
      }
      charts.push({ target, spec: chart.spec });
      return `<div class="chart" id="${target}" aria-label="${escapeHtml(chart.title)}"></div>`;
    };
    parts.push(
      `<div class="charts">${place(conformanceMatrix(m), `chart-${m.id}-conformance`)}${
        place(rooflineChart(m), `chart-${m.id}-roofline`)
      }</div>`,
    );
    m.sets.forEach((set, i) => {
      parts.push(`<h3>${escapeHtml(set.name)}</h3>`);
      const views = [timesChart, relativeHeatmap, overheadChart, batchChart];
      const names = ["times", "relative", "overhead", "batch"];
      parts.push(
        `<div class="charts">${
          views.map((view, k) => place(view(m, set), `chart-${m.id}-${i}-${names[k]}`)).join("")
        }</div>`,
      );
      parts.push(tableHtml(`table-${m.id}-${i}`, rowsOfSet(m, set)));
      parts.push(anchorsHtml(machineAnchors(m, set.cases)));
    });
    parts.push(formulationsHtml(m.rows));
    parts.push(`</section>`);
    return parts.join("\n");
  });
  const data = {
    generator: "deno task report",
    inputs: options.inputs,
    machines: machines.map((m) => ({
      id: m.id,
      label: m.label,
      softwareGpu: m.softwareGpu,
      environment: m.environment,
      torch: Object.fromEntries(m.torch),
      rows: m.rows,
    })),
    charts,
  };
  const scripts = options.vendor.map((v) => `<script src="vendor/${escapeHtml(v.dest)}"></script>`)
    .join("\n");
  const nav = machines.length > 1
    ? `<nav><ul>${
      machines.map((m) => `<li><a href="#${m.id}">${escapeHtml(`${m.id}: ${m.label}`)}</a></li>`)
        .join("")
    }</ul></nav>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>condconv-bench results</title>
<style>${PAGE_STYLE}</style>
${scripts}
</head>
<body>
<h1>condconv-bench results</h1>
<p class="legend">Warm wall time per run in ms (p50 and p99 over mitata's samples), output read
back to the CPU included. GFLOP/s: the layer's FLOPs over p50. <em>vs reference</em> and
<em>vs ts</em>: that adapter's p50 over this one's, same machine and case (above 1: faster).
<em>over static</em>: CondConv's p50 over the same adapter's static convolution of the same
shape. <em>conformance</em>: the verdict of <code>deno task conform</code> on the golden case and
the largest error as a share of the tolerance. Click a column header to sort. Every
environment fact names the result file it comes from.</p>
<p class="legend">${inlineMarkdown(FLAGS_LEGEND)}</p>
${nav}
${sections.join("\n")}
<footer>Generated by <code>deno task report</code> from ${
    options.inputs.map((p) => `<code>${escapeHtml(p)}</code>`).join(", ")
  }. Charts: ${
    options.vendor.map((v) => `${escapeHtml(v.pkg)} ${escapeHtml(v.version)}`).join(", ")
  } (BSD-3-Clause; licences in <code>vendor/</code>).</footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** PyTorch and ort-node side by side (`anchors.ts`), where some case has both. */
function anchorsHtml(rows: readonly AnchorRow[]): string {
  if (!rows.some((r) => r.stronger)) return "";
  const { header, body } = anchorTable(rows);
  return `<h4>Native anchors</h4><p class="legend">${inlineMarkdown(ANCHORS_LEGEND)}</p>` +
    `<div class="scroll"><table class="anchors"><thead><tr>${
      header.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("")
    }</tr></thead><tbody>${
      body.map((r) =>
        `<tr>${
          r.map((t, i) => `<td${i === 0 || i === 3 ? "" : ` class="num"`}>${escapeHtml(t)}</td>`)
            .join("")
        }</tr>`
      ).join("")
    }</tbody></table></div>`;
}

/** The formulation matrix (`formulations.ts`): one table per adapter, then the advice. */
function formulationsHtml(rows: readonly ReportRow[]): string {
  const matrix = matrixRows(rows);
  if (matrix.length === 0) return "";
  const parts = [`<h3>Formulations</h3>`, `<p class="legend">${inlineMarkdown(MATRIX_LEGEND)}</p>`];
  for (const adapter of [...new Set(matrix.map((r) => r.adapter))]) {
    const { header, body, formulationColumns: [start, end] } = matrixTable(
      matrix.filter((r) => r.adapter === adapter),
    );
    const cell = (text: string, i: number) => {
      const numeric = i >= start && i < end ? ` class="num"` : "";
      return `<td${numeric}>${inlineMarkdown(text)}</td>`;
    };
    parts.push(
      `<h4>${escapeHtml(adapter)}</h4><div class="scroll"><table class="formulations">` +
        `<thead><tr>${header.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join("")}` +
        `</tr></thead><tbody>${
          body.map((r) => `<tr>${r.map(cell).join("")}</tr>`).join("")
        }</tbody></table></div>`,
    );
  }
  const [summary, ...items] = formulationAdvice(matrix).filter((l) => l !== "");
  parts.push(`<p>${inlineMarkdown(summary)}</p>`);
  if (items.length > 0) {
    parts.push(`<ul>${items.map((l) => `<li>${inlineMarkdown(l.slice(2))}</li>`).join("")}</ul>`);
  }
  return parts.join("\n");
}

/** The `html` format: `index.html`, and the chart libraries (with licences) in `vendor/`. */
export const htmlReporter: Reporter = ({ machines, inputs, vendor }) => [
  ...vendor.flatMap((v) => [
    { path: `vendor/${v.dest}`, text: v.text },
    { path: `vendor/${v.pkg}.LICENSE`, text: v.license },
  ]),
  {
    path: "index.html",
    text: renderIndexHtml(machines, {
      vendor: vendor.map(({ pkg, version, dest }) => ({ pkg, version, dest })),
      inputs: [...inputs],
    }),
  },
];

/**
 * `index.html` of `deno task report`: a static page that works offline from `file://`. The
 * tables are plain HTML, sortable by clicking a header (a small inline script); the charts are
 * vega-lite specs rendered by vega-embed, whose minified browser builds are copied from
 * `node_modules` into `vendor/` beside the page and loaded by relative paths. Every figure is
 * embedded in the page as JSON (`<script type="application/json" id="report-data">`).
 * @module
 */
import {
  adapterFacts,
  adapterLabel,
  conformanceCoverage,
  conformanceText,
  conformanceTotals,
  environmentFacts,
  FULL_TABLE_HEADER,
  fullTableCells,
  softwareGpuWarning,
} from "./markdown.ts";
import { adaptersOf, type Machine, type ReportRow, rowsOfSet } from "./input.ts";
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
    timed ? row.p99Ms : undefined,
    row.gflops,
    row.vsReference,
    row.vsTs,
    row.overVsStatic,
    row.torchP50Ms,
    conformanceText(row),
    row.conformance?.maxAbsErr,
  ];
}

const NUMERIC = new Set([2, 3, 4, 5, 6, 7, 8, 10]);

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
        i === 9 && row.conformance?.status.endsWith("fail") ? "bad" : "",
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
  return `<table class="results sortable" id="${id}">\n<thead><tr>${head}</tr></thead>\n` +
    `<tbody>\n${body}\n</tbody>\n</table>`;
}

/** The label under which PyTorch's CPU baseline appears in the charts. */
export const TORCH_LABEL = "PyTorch CPU (baseline)";

/** The vega-lite spec of one bar chart: warm p50 (bar) to p99 (line) per adapter per case. */
export function chartSpec(machine: Machine, set: { name: string; cases: string[] }): object {
  const rows = rowsOfSet(machine, set).filter((r) => r.status === "timed" && r.p50Ms! > 0);
  const labelOf = (r: ReportRow) => adapterLabel(r.adapter, r.softwareGpu);
  const values: Record<string, unknown>[] = rows.map((r) => ({
    case: r.case,
    adapter: labelOf(r),
    p50Ms: r.p50Ms,
    p99Ms: r.p99Ms ?? r.p50Ms,
    gflops: r.gflops ?? null,
    softwareGpu: r.softwareGpu,
  }));
  for (const c of set.cases) {
    const t = machine.torch.get(c);
    if (t && t.condconvP50Ms > 0) {
      values.push({
        case: c,
        adapter: TORCH_LABEL,
        p50Ms: t.condconvP50Ms,
        p99Ms: t.condconvP50Ms,
        gflops: null,
        softwareGpu: false,
      });
    }
  }
  const adapterOrder = [
    ...new Set([
      ...adaptersOf(machine, rows).flatMap((a) =>
        rows.filter((r) => r.adapter === a.id).map(labelOf)
      ),
      ...(values.some((v) => v.adapter === TORCH_LABEL) ? [TORCH_LABEL] : []),
    ]),
  ];
  const cases = set.cases.filter((c) => values.some((v) => v.case === c));
  const bars = cases.length * adapterOrder.length;
  const yOffset = { field: "adapter", type: "nominal", sort: adapterOrder };
  const y = {
    field: "case",
    type: "nominal",
    sort: cases,
    title: "case (layer@batch)",
    axis: { labelLimit: 260 },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    description: `Warm p50 per run of every adapter on every case of ${set.name}`,
    title: {
      text: `${set.name}: warm time per run, per adapter and case`,
      subtitle: "bar: p50, line: up to p99; ms, log scale; output read back to the CPU included",
    },
    data: { values },
    width: 560,
    height: { step: bars > 80 ? 7 : 12 },
    encoding: {
      y,
      yOffset,
      color: {
        field: "adapter",
        type: "nominal",
        sort: adapterOrder,
        title: "adapter",
        legend: { orient: "top", columns: 3, labelLimit: 300 },
      },
      tooltip: [
        { field: "adapter", type: "nominal" },
        { field: "case", type: "nominal" },
        { field: "p50Ms", type: "quantitative", title: "p50 ms", format: ".4~g" },
        { field: "p99Ms", type: "quantitative", title: "p99 ms", format: ".4~g" },
        { field: "gflops", type: "quantitative", title: "GFLOP/s", format: ".3~g" },
      ],
    },
    layer: [
      {
        mark: { type: "bar", tooltip: true },
        encoding: {
          x: {
            field: "p50Ms",
            type: "quantitative",
            scale: { type: "log" },
            stack: null,
            title: "warm time per run, ms (log scale)",
          },
          strokeDash: {
            condition: { test: "datum.softwareGpu", value: [3, 2] },
            value: [1, 0],
          },
          stroke: { condition: { test: "datum.softwareGpu", value: "#b00020" }, value: null },
        },
      },
      {
        mark: { type: "rule", color: "#333" },
        encoding: {
          x: { field: "p50Ms", type: "quantitative" },
          x2: { field: "p99Ms" },
        },
      },
    ],
  };
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1280px;
  padding: 0 16px; color: #1b1b1b; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 36px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 16px; margin-top: 24px; }
.legend, .meta { color: #444; max-width: 960px; }
.warning { background: #fde7ea; border: 2px solid #b00020; color: #6d0013; padding: 10px 14px;
  margin: 12px 0; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d5d5d5; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bad { color: #b00020; font-weight: 600; }
table.env th { background: #f4f4f4; font-weight: 600; white-space: nowrap; }
table.results th { background: #eef2f7; position: sticky; top: 0; }
table.results th button { all: unset; cursor: pointer; font-weight: 600; }
table.results th[aria-sort="ascending"] button::after { content: " \\25B2"; }
table.results th[aria-sort="descending"] button::after { content: " \\25BC"; }
tr.software td { background: #fff3f4; }
tr[data-status="wrong"] td, tr[data-status="error"] td { color: #b00020; }
tr[data-status="skip"] td { color: #777; }
.badge { display: inline-block; background: #b00020; color: #fff; font-size: 11px;
  border-radius: 3px; padding: 0 4px; margin-left: 4px; white-space: nowrap; }
.chart { margin: 12px 0; min-height: 40px; }
.chart-error { color: #b00020; font-weight: 600; }
footer { margin-top: 40px; color: #666; font-size: 12px; }
`;

const SCRIPT = `
(function () {
  "use strict";
  function sortTable(table, column, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.getAttribute("data-type") === "number";
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute("data-sort");
      var y = b.cells[column].getAttribute("data-sort");
      if (x === "" || y === "") return (x === "") - (y === "");
      var d = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, { numeric: true });
      return ascending ? d : -d;
    });
    rows.forEach(function (row) { tbody.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (cell) {
      cell.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      th.addEventListener("click", function () { sortTable(table, column, th); });
    });
  });
  var data = JSON.parse(document.getElementById("report-data").textContent);
  data.charts.forEach(function (chart) {
    var el = document.getElementById(chart.target);
    if (typeof vegaEmbed !== "function") {
      el.className += " chart-error";
      el.textContent = "Charts need vendor/vega.min.js, vendor/vega-lite.min.js and " +
        "vendor/vega-embed.min.js beside this page: run deno task report again.";
      return;
    }
    vegaEmbed(el, chart.spec, { renderer: "svg", actions: false }).catch(function (error) {
      el.className += " chart-error";
      el.textContent = "Chart failed: " + error;
    });
  });
})();
`;

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
        `<div class="warning" role="alert">${
          escapeHtml(softwareGpuWarning(m)).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
        }</div>`,
      );
    }
    parts.push(
      `<table class="env"><tbody>${
        environmentFacts(m).map(([k, v]) =>
          `<tr><th scope="row">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`
        ).join("")
      }</tbody></table>`,
    );
    const files = m.files.map((f) => {
      const e = f.report.environment;
      return `<li>${f.kind} <code>${escapeHtml(f.path)}</code>: commit <code>${
        escapeHtml(e.gitCommit?.slice(0, 10) ?? "unknown")
      }</code>, ${escapeHtml(e.date)}, Deno ${escapeHtml(e.deno)}</li>`;
    }).join("");
    const adapters = adapterFacts(m).map((a) =>
      `<li>${
        escapeHtml(a).replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>").replace(
          /`(.+?)`/g,
          "<code>$1</code>",
        )
      }</li>`
    ).join("");
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
    m.sets.forEach((set, i) => {
      const target = `chart-${m.id}-${i}`;
      charts.push({ target, spec: chartSpec(m, set) });
      parts.push(`<h3>${escapeHtml(set.name)}</h3>`);
      parts.push(`<div class="chart" id="${target}"></div>`);
      parts.push(tableHtml(`table-${m.id}-${i}`, rowsOfSet(m, set)));
    });
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
<style>${STYLE}</style>
${scripts}
</head>
<body>
<h1>condconv-bench results</h1>
<p class="legend">Warm wall time per run in ms (p50 and p99 over mitata's samples), output read
back to the CPU included. GFLOP/s: the layer's FLOPs over p50. <em>vs reference</em> and
<em>vs ts</em>: that adapter's p50 over this one's, same machine and case (above 1: faster).
<em>over static</em>: CondConv's p50 over the same adapter's static convolution of the same
shape. <em>conformance</em>: the verdict of <code>deno task conform</code> on the golden case and
the largest error as a share of the tolerance. Click a column header to sort.</p>
${nav}
${sections.join("\n")}
<footer>Generated by <code>deno task report</code> from ${
    options.inputs.map((p) => `<code>${escapeHtml(p)}</code>`).join(", ")
  }. Charts: ${
    options.vendor.map((v) => `${escapeHtml(v.pkg)} ${escapeHtml(v.version)}`).join(", ")
  } (BSD-3-Clause; licences in <code>vendor/</code>).</footer>
<script type="application/json" id="report-data">${scriptJson(data)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
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

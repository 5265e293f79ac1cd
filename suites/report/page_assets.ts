/**
 * The style sheet and script of the report page. The layout reads from a 390 px phone to a wide
 * screen without sideways scrolling: charts sit in a grid of columns at least 480 px wide (one
 * column on a phone), each chart fills its cell, and wide tables scroll inside their own box.
 *
 * The script sorts tables and draws the charts with vega-embed. Each drawn chart gets
 * `data-drawn="true"`; `window.reportCharts` is a promise of every chart's outcome, for tests.
 * @module
 */

/** The page's CSS. */
export const PAGE_STYLE = `
*, *::before, *::after { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1280px;
  padding: 0 16px; color: #1b1b1b; overflow-wrap: anywhere; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 36px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
h3 { font-size: 16px; margin-top: 24px; }
.legend, .meta { color: #444; max-width: 960px; }
.warning, .mixed { padding: 10px 14px; margin: 12px 0; }
.warning { background: #fde7ea; border: 2px solid #b00020; color: #6d0013; font-weight: 600; }
.mixed { background: #fff8e1; border: 1px solid #c79100; color: #4e3b00; }
.scroll { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d5d5d5; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.bad, td.flag { color: #b00020; font-weight: 600; }
table.formulations td strong { background: #dcf2d8; padding: 0 3px; }
table.env th { background: #f4f4f4; font-weight: 600; white-space: nowrap; }
table.results, table.formulations, table.anchors { overflow-wrap: normal; }
table.results th { background: #eef2f7; position: sticky; top: 0; }
table.results th button { all: unset; cursor: pointer; font-weight: 600; }
table.results th[aria-sort="ascending"] button::after { content: " \\25B2"; }
table.results th[aria-sort="descending"] button::after { content: " \\25BC"; }
tr.software td { background: #fff3f4; }
tr[data-status="wrong"] td, tr[data-status="error"] td { color: #b00020; }
tr[data-status="skip"] td { color: #777; }
.badge { display: inline-block; background: #b00020; color: #fff; font-size: 11px;
  border-radius: 3px; padding: 0 4px; margin-left: 4px; white-space: nowrap; }
.charts { display: grid; gap: 12px 24px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 480px), 1fr)); }
.charts > * { min-width: 0; }
.chart, .chart.vega-embed { display: block; width: 100%; margin: 12px 0; min-height: 40px; }
.chart svg { max-width: 100%; height: auto; }
.chart-note { color: #555; font-style: italic; border-left: 3px solid #ccc; padding-left: 8px; }
.chart-error { color: #b00020; font-weight: 600; }
footer { margin-top: 40px; color: #666; font-size: 12px; }
@media (max-width: 600px) {
  body { margin: 12px auto; padding: 0 10px; }
  h1 { font-size: 20px; }
  table.env th { white-space: normal; width: 28%; }
}
`;

/** The page's script: sortable tables, then every chart of `report-data`. */
export const PAGE_SCRIPT = `
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
  function fail(el, text) {
    el.className += " chart-error";
    el.textContent = text;
    return { target: el.id, error: text };
  }
  window.reportCharts = Promise.all(data.charts.map(function (chart) {
    var el = document.getElementById(chart.target);
    if (typeof vegaEmbed !== "function") {
      return Promise.resolve(fail(el, "Charts need vendor/vega.min.js, vendor/vega-lite.min.js " +
        "and vendor/vega-embed.min.js beside this page: run deno task report again."));
    }
    return vegaEmbed(el, chart.spec, { renderer: "svg", actions: false }).then(function () {
      el.setAttribute("data-drawn", "true");
      return { target: chart.target };
    }, function (error) {
      return fail(el, "Chart failed: " + error);
    });
  }));
})();
`;

/**
 * The report page in headless Chromium: every view drawn, at a wide screen's and a phone's width.
 * @module
 */
import assert from "node:assert/strict";
import { reportMain } from "./report.ts";
import { makeRealRun } from "./report/_real_run.ts";
import { sampleBench, sampleConformance } from "./report/_testing.ts";

const CHROMIUM = "/usr/bin/chromium";

async function chromium(args: string[]): Promise<Deno.CommandOutput | string> {
  const permission = await Deno.permissions.query({ name: "run", command: CHROMIUM });
  if (permission.state !== "granted") return `no --allow-run=${CHROMIUM}`;
  try {
    return await new Deno.Command(CHROMIUM, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `${CHROMIUM} is absent (apt-get install -y chromium)`;
    }
    throw error;
  }
}

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
  "--hide-scrollbars",
  "--virtual-time-budget=10000",
];

/**
 * Appended to a copy of the page: once every chart has settled, writes what a reader would
 * see into `<pre id="probe">` (the viewport and document widths, and per chart whether it was
 * drawn, its data marks and its widths), for `--dump-dom` to carry out.
 */
const PROBE = `<script>
window.reportCharts.then(function (outcomes) {
  var charts = Array.prototype.map.call(document.querySelectorAll(".chart"), function (el) {
    var svg = el.querySelector("svg");
    return {
      id: el.id,
      drawn: el.getAttribute("data-drawn"),
      marks: el.querySelectorAll("g.role-mark > *").length,
      svgWidth: svg ? svg.getBoundingClientRect().width : 0,
      boxWidth: el.getBoundingClientRect().width,
    };
  });
  parent.postMessage(JSON.stringify({
    innerWidth: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    errors: outcomes.filter(function (o) { return o.error; }),
    charts: charts,
  }), "*");
});
</script>`;

/**
 * A page that shows `src` in a frame `width` px wide and `height` px high, and writes what the
 * frame posts into `<pre id="probe">`. Headless Chromium keeps its window at least 500 px
 * wide, so a phone's viewport is a frame: media queries and layout inside it see 390 px.
 */
function framePage(src: string, width: number, height: number): string {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
html, body { margin: 0; background: #777; }
iframe { display: block; border: 0; width: ${width}px; height: ${height}px; background: #fff; }
</style></head><body><iframe src="${src}"></iframe><script>
window.addEventListener("message", function (event) {
  var out = document.createElement("pre");
  out.id = "probe";
  out.textContent = event.data;
  document.body.appendChild(out);
});
</script></body></html>`;
}

interface Probe {
  innerWidth: number;
  scrollWidth: number;
  scrollHeight: number;
  errors: { target: string; error: string }[];
  charts: { id: string; drawn: string | null; marks: number; svgWidth: number; boxWidth: number }[];
}

/** Where the page test leaves its screenshots (untracked). */
const SCREENSHOTS = "reports/local/screenshots";

Deno.test("the page draws every view at 1400 px and at 390 px, with no sideways scroll", async () => {
  const { dir, benchReport, conformance } = await makeRealRun();
  const benchPath = `${dir}/sample-bench.json`;
  const conformPath = `${dir}/sample-conformance.json`;
  await Deno.writeTextFile(benchPath, JSON.stringify(sampleBench(benchReport)));
  const realConform = JSON.parse(await Deno.readTextFile(conformance));
  await Deno.writeTextFile(conformPath, JSON.stringify(sampleConformance(realConform)));
  const out = `${dir}/out-views`;
  assert.equal(
    await reportMain(["--input", benchPath, "--input", conformPath, "--out-dir", out]),
    0,
  );
  const html = await Deno.readTextFile(`${out}/index.html`);
  const data = JSON.parse(/id="report-data">(.*?)<\/script>/s.exec(html)![1]);
  const targets: string[] = data.charts.map((c: { target: string }) => c.target);
  assert.deepEqual(targets, [
    "chart-machine-1-conformance",
    "chart-machine-1-roofline",
    ...["times", "relative", "overhead", "batch"].map((v) => `chart-machine-1-0-${v}`),
  ], "every view has something to draw: no note instead of a chart");
  const spec = (name: string) =>
    data.charts.find((c: { target: string }) => c.target === name)
      .spec;
  const matrix = spec("chart-machine-1-conformance");
  const labels = new Set(matrix.data.values.map((v: { adapter: string }) => v.adapter));
  assert.deepEqual([...labels], ["reference", "ts", "wgsl@wgpu/vulkan"]);
  assert.deepEqual(matrix.encoding.color.scale.domain, [
    "pass",
    "fail",
    "known-fail",
    "skip",
    "error",
  ]);
  assert.ok(
    matrix.encoding.tooltip.some((t: { title?: string }) => t.title === "worst error / tolerance"),
  );
  assert.match(JSON.stringify(spec("chart-machine-1-0-relative").title), /relative to PyTorch CPU/);
  const probePage = `${out}/probe.html`;
  await Deno.writeTextFile(probePage, html.replace("</body>", `${PROBE}\n</body>`));
  const url = async (path: string) => `file://${await Deno.realPath(path)}`;
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  for (const width of [1400, 390]) {
    const window = `--window-size=${Math.max(width, 500)}`;
    await Deno.writeTextFile(`${out}/probe-${width}.html`, framePage("probe.html", width, 1000));
    const dom = await chromium([
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${dir}/chromium-probe-${width}`,
      `${window},1000`,
      "--dump-dom",
      await url(`${out}/probe-${width}.html`),
    ]);
    if (typeof dom === "string") {
      console.log(`skipped: ${dom}`);
      return;
    }
    assert.ok(dom.success, new TextDecoder().decode(dom.stderr));
    const text = /<pre id="probe">(.*?)<\/pre>/s.exec(new TextDecoder().decode(dom.stdout));
    assert.ok(text, `the probe reported at ${width} px`);
    const probe: Probe = JSON.parse(
      text[1].replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"),
    );
    assert.equal(probe.innerWidth, width, "the viewport is as wide as asked");
    assert.ok(probe.scrollWidth <= width, `document ${probe.scrollWidth} px wide at ${width} px`);
    assert.deepEqual(probe.errors, []);
    assert.deepEqual(probe.charts.map((c) => c.id), targets);
    for (const c of probe.charts) {
      assert.equal(c.drawn, "true", `${c.id} drawn at ${width} px`);
      assert.ok(c.marks > 0, `${c.id} has marks at ${width} px`);
      assert.ok(c.svgWidth > 0 && c.svgWidth <= c.boxWidth + 1, `${c.id} fits at ${width} px`);
    }
    const png = `${SCREENSHOTS}/report-${width}.png`;
    const height = Math.min(probe.scrollHeight, 14000);
    await Deno.writeTextFile(`${out}/shot-${width}.html`, framePage("index.html", width, height));
    const shot = await chromium([
      ...CHROMIUM_FLAGS,
      `--user-data-dir=${dir}/chromium-shot-${width}`,
      `${window},${height}`,
      `--screenshot=${png}`,
      await url(`${out}/shot-${width}.html`),
    ]);
    assert.ok(typeof shot !== "string" && shot.success);
    const bytes = await Deno.readFile(png);
    assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
    assert.ok(bytes.length > 20_000, "with something drawn on it");
    console.log(`screenshot: ${png}`);
  }
});

Deno.test("index.html renders its table and vega-lite charts in headless Chromium", async () => {
  const { dir, bench, conformance } = await makeRealRun();
  const out = `${dir}/out-browser`;
  assert.equal(
    await reportMain(["--input", bench, "--input", conformance, "--out-dir", out]),
    0,
  );
  const page = `file://${await Deno.realPath(`${out}/index.html`)}`;
  const dom = await chromium([
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${dir}/chromium-dom`,
    "--dump-dom",
    page,
  ]);
  if (typeof dom === "string") {
    console.log(`skipped: ${dom}`);
    return;
  }
  const html = new TextDecoder().decode(dom.stdout);
  assert.ok(dom.success, new TextDecoder().decode(dom.stderr));
  assert.match(
    html,
    /<tr data-adapter="reference" data-case="control@b2"[^>]*><td[^>]*>control@b2/,
  );
  assert.match(
    html,
    /<div class="chart vega-embed[^"]*" id="chart-machine-1-0-times"/,
    "vega-embed ran",
  );
  assert.ok(!/class="[^"]*chart-error/.test(html), "no chart failed");
  const times = html.slice(html.indexOf('id="chart-machine-1-0-times"'));
  const marks = /<g class="mark-rect role-mark[^"]*"[^>]*>(.*?)<\/g>/s.exec(times);
  assert.ok(marks, "the chart has a bar mark group");
  assert.ok(/<path [^>]*aria-roledescription="bar" d="M[^"]+"/.test(marks[1]), "with bars");
  assert.match(times, /mark-rule role-mark/, "and p99 lines");

  const png = `${dir}/index.png`;
  const shot = await chromium([
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${dir}/chromium-shot`,
    "--window-size=1280,1000",
    `--screenshot=${png}`,
    page,
  ]);
  assert.ok(typeof shot !== "string" && shot.success);
  const bytes = await Deno.readFile(png);
  assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG");
  assert.ok(bytes.length > 20_000, "with something drawn on it");
  console.log(`screenshot: ${png} (kept with CONDCONV_KEEP_REPORT_TMP=1)`);
});

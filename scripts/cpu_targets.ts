/**
 * Issue 17's and 18's figures from one bench JSON (default `reports/bench.json`, e.g. from
 * `deno task bench --set effnet-b0`): per case, each CPU adapter's warm p50 and percent of
 * the machine's peak at its own thread count, PyTorch at 1 thread and at all cores, then the
 * geomeans behind each target, every comparison at equal threads.
 *
 * ```
 * deno run --allow-read=. scripts/cpu_targets.ts [bench.json]
 * ```
 * @module
 */
import { BenchReport, type BenchResult } from "../suites/results/bench.ts";
import { fmtMs, fmtRatio, mdTable } from "../suites/report/format.ts";
import { DEFAULT_WITHIN, matrixRows } from "../suites/report/formulations.ts";

/** The adapters that run in a web page (ort-node is native, reference is the truth). */
const WEB = ["wasm", "ts", "ort-wasm", "tfjs-wasm", "tfjs-cpu"];

const geomean = (xs: readonly number[]) =>
  xs.length === 0 ? NaN : Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);

/** The figures of `report`, as Markdown. */
export function cpuTargets(report: BenchReport): string {
  const rows = report.results.filter((r) => r.status === "timed" && r.warm);
  const adapters = [...new Set(rows.map((r) => r.adapter))].filter((a) =>
    [...WEB, "ort-node"].includes(a)
  );
  const cases = report.settings.cases;
  const at = (adapter: string, c: string) =>
    rows.find((r) => r.adapter === adapter && r.case === c);
  const torch = report.torch.status === "measured" ? report.torch : undefined;
  const torchRuns = torch?.runs ??
    (torch ? [{ threads: torch.threads, results: torch.results }] : []);
  const torchAt = (threads: number, c: string) =>
    torchRuns.find((run) => run.threads === threads)?.results[c]?.condconvP50Ms;
  const cell = (r: BenchResult | undefined) =>
    r?.warm
      ? `${fmtMs(r.warm.p50Ms)}${
        r.roofline ? ` (${r.roofline.percentOfPeak.toFixed(0)}%, ${r.threads}t)` : ""
      }`
      : "-";
  const threadCounts = torchRuns.map((run) => run.threads);
  const out: string[] = [];
  const header = ["case", ...adapters, ...threadCounts.map((t) => `PyTorch ${t}t`)];
  out.push(
    mdTable(
      header,
      cases.map((c) => [
        c,
        ...adapters.map((a) => cell(at(a, c))),
        ...threadCounts.map((t) => fmtMs(torchAt(t, c))),
      ]),
      header.map((_, i) => (i === 0 ? "left" : "right") as "left" | "right"),
    ),
    "",
    "p50 ms (percent of the machine's peak at the row's threads, the threads).",
    "",
  );
  const batches = [...new Set(cases.map((c) => Number(c.split("@b")[1])))];
  const lines: string[] = [];
  const ratioOver =
    (a: string, over: (c: string, r: BenchResult) => number | undefined) => (batch: number) =>
      geomean(
        cases.filter((c) => c.endsWith(`@b${batch}`)).flatMap((c) => {
          const r = at(a, c);
          const base = r && over(c, r);
          return r?.warm && base ? [r.warm.p50Ms / base] : [];
        }),
      );
  for (const a of adapters) {
    const parts = batches.map((b) => {
      // a row without a thread count is not compared with PyTorch: its threads are unknown
      const vsTorch = ratioOver(
        a,
        (c, r) => r.threads === undefined ? undefined : torchAt(r.threads, c),
      )(b);
      const vsNode = a === "ort-node"
        ? NaN
        : ratioOver(a, (c) => at("ort-node", c)?.warm?.p50Ms)(b);
      const vsStatic = geomean(
        cases.filter((c) => c.endsWith(`@b${b}`)).flatMap((c) => {
          const o = at(a, c)?.overVsStatic;
          return o ? [o] : [];
        }),
      );
      return `b${b}: ${fmtRatio(vsTorch)} PyTorch at equal threads, ${
        fmtRatio(vsNode)
      } ort-node, ` +
        `${fmtRatio(vsStatic)} its static conv`;
    });
    lines.push(`- **${a}** (geomean of p50 over): ${parts.join("; ")}`);
  }
  for (const b of batches) {
    const mine = cases.filter((c) => c.endsWith(`@b${b}`));
    const wins = mine.filter((c) => {
      const best = WEB.map((a) =>
        at(a, c)
      ).filter((r) => r?.warm).sort((x, y) => x!.warm!.p50Ms - y!.warm!.p50Ms)[0];
      return best?.adapter === "wasm";
    });
    const losses = mine.filter((c) => !wins.includes(c));
    lines.push(
      `- batch ${b}: wasm is the fastest web adapter on ${wins.length} of ${mine.length} layers` +
        (losses.length > 0 ? ` (not on ${losses.join(", ")})` : ""),
    );
  }
  const pointwise8 = cases.filter((c) => /\.(expand|project)-/.test(c) && c.endsWith("@b8"));
  const percents = pointwise8.flatMap((c) => {
    const p = at("wasm", c)?.roofline?.percentOfPeak;
    return p === undefined ? [] : [`${c.split(".")[1]} ${p.toFixed(0)}%`];
  });
  lines.push(
    `- wasm on the 1x1 layers at batch 8, percent of the all-core peak: ${percents.join(", ")}`,
  );
  const dw = cases.filter((c) => c.includes(".dw"));
  const dwRatio = geomean(dw.flatMap((c) => {
    const o = at("ort-wasm", c)?.warm?.p50Ms, t = at("tfjs-wasm", c)?.warm?.p50Ms;
    return o && t ? [o / t] : [];
  }));
  lines.push(
    `- ort-wasm over tfjs-wasm on the depthwise layers (geomean p50): ${fmtRatio(dwRatio)}`,
  );
  // issue 18: each framework adapter's default against its fastest formulation
  for (const m of [...new Set(matrixRows(report.results).map((r) => r.adapter))]) {
    for (const b of batches) {
      const rows = matrixRows(report.results).filter((r) =>
        r.adapter === m && r.batch === b && r.defaultOverFastest !== undefined
      );
      const off = rows.filter((r) => r.defaultOverFastest! > DEFAULT_WITHIN);
      lines.push(
        `- ${m} at batch ${b}: default within ${DEFAULT_WITHIN}x of the fastest formulation on ` +
          `${rows.length - off.length} of ${rows.length} layers` +
          (off.length > 0
            ? ` (not on ${
              off.map((r) =>
                `${r.case} ${fmtRatio(r.defaultOverFastest)} vs ${r.fastest?.formulation}`
              )
                .join(", ")
            })`
            : ""),
      );
    }
  }
  // issue 18: tfjs-wasm against PyTorch at batch 8, at 1 thread and at all cores
  for (const t of threadCounts) {
    const g = geomean(
      cases.filter((c) => c.endsWith("@b8")).flatMap((c) => {
        const r = at("tfjs-wasm", c), base = torchAt(t, c);
        return r?.warm && base ? [r.warm.p50Ms / base] : [];
      }),
    );
    if (Number.isFinite(g)) {
      lines.push(`- tfjs-wasm at batch 8 over PyTorch at ${t} thread(s): ${fmtRatio(g)}`);
    }
  }
  const limits = report.environment.machineLimits;
  if (limits) {
    const f = (x: { best: number }) => x.best.toPrecision(3);
    lines.push(
      `- limits: wasm SIMD ${f(limits.wasmSimdGflops.oneThread)}/${
        f(limits.wasmSimdGflops.allThreads)
      } GFLOP/s, scalar JS ${f(limits.scalarJsGflops.oneThread)}/${
        f(limits.scalarJsGflops.allThreads)
      }, triad ${f(limits.bandwidthGBps.oneThread)}/${f(limits.bandwidthGBps.allThreads)} GB/s ` +
        `(1/${limits.threads} threads)`,
    );
  }
  return [...out, ...lines].join("\n");
}

if (import.meta.main) {
  const path = Deno.args[0] ?? "reports/bench.json";
  const report = BenchReport.parse(JSON.parse(await Deno.readTextFile(path)));
  console.log(cpuTargets(report));
}

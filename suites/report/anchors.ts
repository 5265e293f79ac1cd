/**
 * The two native anchors side by side: PyTorch (Debian's CPU build) and `ort-node`
 * (onnxruntime-node's CPU execution provider on the same ONNX graphs as the ort-web adapters),
 * at equal threads, case by case, naming the stronger (faster) one: what a web adapter has to
 * beat on this machine. Runtime-neutral.
 * @module
 */
import { fmtMs, fmtRatio, mdTable, wrap } from "./format.ts";

/** One anchor's warm p50 on a case, at its thread count. */
export interface AnchorTime {
  p50Ms: number;
  threads: number;
}

/** One case of the side-by-side table. */
export interface AnchorRow {
  case: string;
  torch?: AnchorTime;
  ortNode?: AnchorTime;
  /** the faster anchor, where both were measured at the same thread count */
  stronger?: "PyTorch" | "ort-node";
  /** the slower anchor's p50 over the faster one's */
  margin?: number;
}

/** The rows of `cases`; `torchAt(c, threads)` gives PyTorch's run at ort-node's threads. */
export function anchorRows(
  cases: readonly string[],
  ortNodeAt: (c: string) => AnchorTime | undefined,
  torchAt: (c: string, threads: number | undefined) => AnchorTime | undefined,
): AnchorRow[] {
  return cases.map((c) => {
    const ortNode = ortNodeAt(c);
    const torch = torchAt(c, ortNode?.threads);
    const row: AnchorRow = { case: c, torch, ortNode };
    if (torch && ortNode && torch.threads === ortNode.threads) {
      const torchFaster = torch.p50Ms <= ortNode.p50Ms;
      row.stronger = torchFaster ? "PyTorch" : "ort-node";
      row.margin = torchFaster ? ortNode.p50Ms / torch.p50Ms : torch.p50Ms / ortNode.p50Ms;
    }
    return row;
  });
}

const time = (t: AnchorTime | undefined) => t ? `${fmtMs(t.p50Ms)} (${t.threads}t)` : "-";

/** The table's header and cells. */
export function anchorTable(rows: readonly AnchorRow[]): { header: string[]; body: string[][] } {
  return {
    header: ["case", "PyTorch p50 ms", "ort-node p50 ms", "stronger anchor", "by"],
    body: rows.map((r) => [
      r.case,
      time(r.torch),
      time(r.ortNode),
      r.stronger ?? "-",
      r.margin === undefined ? "-" : fmtRatio(r.margin),
    ]),
  };
}

/** What the table shows. */
export const ANCHORS_LEGEND = "PyTorch and ort-node (onnxruntime-node, CPU execution provider, " +
  "the ort-web adapters' ONNX graphs) at the same thread count, warm p50: the stronger anchor " +
  "is the faster, and `by` how much. A web adapter that matches the stronger anchor at its own " +
  "threads is as fast as native code here.";

/**
 * The side-by-side table as Markdown under a `level` heading; nothing unless some case has
 * both anchors.
 */
export function anchorMarkdown(rows: readonly AnchorRow[], level = "##"): string[] {
  if (!rows.some((r) => r.stronger)) return [];
  const { header, body } = anchorTable(rows);
  const count = (who: string) => rows.filter((r) => r.stronger === who).length;
  return [
    `${level} Native anchors`,
    "",
    wrap(ANCHORS_LEGEND),
    "",
    mdTable(header, body, header.map((_, i) => (i === 0 || i === 3 ? "left" : "right"))),
    "",
    `PyTorch is the stronger anchor on ${count("PyTorch")} cases, ort-node on ` +
    `${count("ort-node")}.`,
    "",
  ];
}

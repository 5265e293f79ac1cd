import assert from "node:assert/strict";
import { anchorMarkdown, anchorRows } from "./anchors.ts";

Deno.test("anchors: the faster of PyTorch and ort-node at equal threads, never across thread counts", () => {
  const ortNode: Record<string, { p50Ms: number; threads: number }> = {
    a: { p50Ms: 2, threads: 2 },
    b: { p50Ms: 6, threads: 2 },
    c: { p50Ms: 1, threads: 2 },
  };
  const torch: Record<string, { p50Ms: number; threads: number }> = {
    a: { p50Ms: 3, threads: 2 },
    b: { p50Ms: 4, threads: 2 },
    c: { p50Ms: 9, threads: 1 }, // another thread count: not compared
  };
  const rows = anchorRows(
    ["a", "b", "c", "d"],
    (c) => ortNode[c],
    (c, threads) => torch[c]?.threads === threads ? torch[c] : undefined,
  );
  assert.deepEqual(rows.map((r) => [r.stronger, r.margin]), [
    ["ort-node", 1.5],
    ["PyTorch", 1.5],
    [undefined, undefined],
    [undefined, undefined],
  ]);
  const markdown = anchorMarkdown(rows).join("\n");
  assert.match(markdown, /\| a +\| +3\.00 \(2t\) \| +2\.00 \(2t\) \| ort-node +\| 1\.50x \|/);
  assert.match(markdown, /PyTorch is the stronger anchor on 1 cases, ort-node on 1\./);
  assert.deepEqual(anchorMarkdown(rows.slice(2)), [], "no pair, no section");
});

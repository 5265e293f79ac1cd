/**
 * Warm p50 of `ort-node` at 1 thread and at 2 threads (idle threads spinning, and sleeping) against `ort-wasm` (1 thread) on a few
 * effnet-b0 layers at batch 1 and 8: the three run round-robin, one run each in turn, so
 * that the machine's load falls on all alike. Run it with the permissions of ort-node's child
 * (`--allow-ffi` for the addon alone), e.g.:
 *
 * ```sh
 * deno run --allow-read=. --allow-env --allow-sys=cpus,loadavg \
 *   --allow-ffi="$(realpath node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node)" \
 *   impls/_ort_node/timing.ts [runs]
 * ```
 * @module
 */
import type { CondConvAdapter, PreparedCondConv } from "../adapter.ts";
import { seededLayer } from "../../condconv/seeded.ts";
import { createOrtNodeAdapter } from "../ort_node.ts";
import { ortWasmAdapter } from "../ort_wasm.ts";

const LAYERS = [
  "effnet-b0.expand-80-480-14",
  "effnet-b0.project-480-112-14",
  "effnet-b0.dw5-480-14",
  "effnet-b0.dw3-1152-7",
];

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];

if (import.meta.main) {
  const runs = Number(Deno.args[0] ?? 31);
  const adapters: [string, CondConvAdapter][] = [
    ["ort-node 1t", createOrtNodeAdapter({ threads: 1 })],
    ["ort-node 2t", createOrtNodeAdapter({ threads: 2 })],
    ["2t sleeping", createOrtNodeAdapter({ threads: 2, spinning: false })],
    ["ort-wasm 1t", ortWasmAdapter],
  ];
  const { cases } = JSON.parse(await Deno.readTextFile("fixtures/cases.json"));
  console.log(`load average before: ${Deno.loadavg().join(" ")}; ${runs} timed runs each`);
  console.log("p50 (min) in ms; a long run shares the cores with the machine's load longer");
  console.log(
    `layer                          batch  ${adapters.map(([n]) => n.padStart(16)).join("")}`,
  );
  for (const id of LAYERS) {
    const c = cases.find((c: { id: string }) => c.id === id);
    for (const batch of [1, 8]) {
      const layer = seededLayer(c.seed, c.spec, [
        batch,
        c.spec.inChannels,
        c.input.height,
        c.input.width,
      ]);
      const prepared: PreparedCondConv[] = [];
      for (const [, a] of adapters) prepared.push(await a.prepare(layer.spec, layer.weights));
      const times: number[][] = adapters.map(() => []);
      for (let i = -3; i < runs; i++) {
        for (const [k, p] of prepared.entries()) {
          const t0 = performance.now();
          await p.run(layer.input, layer.routingWeights);
          if (i >= 0) times[k].push(performance.now() - t0);
        }
      }
      for (const p of prepared) await p.dispose();
      const cell = (t: number[]) => `${median(t).toFixed(2)} (${Math.min(...t).toFixed(2)})`;
      const cells = times.map((t) => cell(t).padStart(16)).join("");
      console.log(`${id.padEnd(30)} ${String(batch).padStart(5)}  ${cells}`);
    }
  }
  console.log(`load average after: ${Deno.loadavg().join(" ")}`);
}

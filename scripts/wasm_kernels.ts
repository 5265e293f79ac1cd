/**
 * Times the candidate GEMM micro-kernels of the `wasm` adapter (`_wasm_kernels/candidates.ts`,
 * built with the kernels' own flags) on one thread, on data in L1: for each K, rounds of about
 * 1 ms per candidate, the candidates interleaved within every round so that all see the same
 * load, and the best round per candidate in GFLOP/s. This is the table behind `BLOCKS` in
 * `impls/_wasm/plan.ts`; compare within one run (one column).
 *
 * ```sh
 * deno run --allow-read=. --allow-env --allow-sys=loadavg scripts/wasm_kernels.ts [--k 96,256]
 *   [--rounds 150]
 * ```
 * @module
 */
import { integerFlag, parseTaskFlags } from "../suites/_shared/cli.ts";
import { buildWasm } from "./build_wasm.ts";

/** The candidates: export name, tile rows and columns, what it is. */
const CANDIDATES: [string, number, number, string][] = [
  ["t4x8", 4, 8, "4x8, 4 load32_splat of A, mul + add (before)"],
  ["f4x8", 4, 8, "4x8, 4 load32_splat of A, relaxed_madd"],
  ["s4x8", 4, 8, "4x8, one A vector + 4 lane shuffles (chosen)"],
  ["u4x8", 4, 8, "the chosen kernel, k unrolled twice"],
  ["k4x8", 4, 8, "4x8, A [K/4][MR][4], k unrolled 4 times"],
  ["f6x8", 6, 8, "6x8, 6 load32_splat"],
  ["s6x8", 6, 8, "6x8, A vector for 4 rows + 2 load32_splat"],
  ["f4x12", 4, 12, "4x12, 4 load32_splat"],
  ["s4x12", 4, 12, "4x12, A vector + shuffles (17 live vectors)"],
];

const USAGE = "deno run --allow-read=. --allow-env --allow-sys=loadavg scripts/wasm_kernels.ts " +
  "[--k 96,256] [--rounds 150]";
const flags = parseTaskFlags(Deno.args, {
  k: { type: "string" },
  rounds: { type: "string" },
}, USAGE);
if (!flags) Deno.exit(0);
const ks = (flags.k ?? "96,256").split(",").map((k) => integerFlag(k, "k", 4));
for (const k of ks) {
  if (k % 4 !== 0) throw new RangeError(`Invalid --k ${k}: expected a multiple of 4`);
}
const rounds = integerFlag(flags.rounds, "rounds", 150);

type Kernel = (a: number, b: number, K: number, y: number, ldy: number) => void;
const bytes = await buildWasm(".", "scripts/_wasm_kernels/candidates.ts");
const module = await WebAssembly.compile(new Uint8Array(bytes));
const memory = new WebAssembly.Memory({ initial: 64, maximum: 32768, shared: true });
const exports = (await WebAssembly.instantiate(module, { env: { memory } })).exports as Record<
  string,
  Kernel
>;
const floats = new Float32Array(memory.buffer);
for (let i = 0; i < floats.length; i++) floats[i] = (i % 7) * 0.01;
// A, B and the outputs 64 KiB apart, off the 4 KiB grid
const a = 65536 + 64, b = a + 65536 + 128, y = b + 2 * 65536 + 192;

const load = () => Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
console.log(`load average ${load()}; best of ${rounds} interleaved rounds, GFLOP/s`);
const best = new Map<string, number[]>(CANDIDATES.map(([name]) => [name, []]));
for (const [column, K] of ks.entries()) {
  for (let round = 0; round < rounds; round++) {
    for (const [name, mr, nr] of CANDIDATES) {
      const flop = 2 * K * mr * nr, reps = Math.max(1, Math.round(2e7 / flop));
      const kernel = exports[name];
      const start = performance.now();
      for (let r = 0; r < reps; r++) kernel(a, b, K, y, 256);
      const gflops = (flop * reps) / (performance.now() - start) / 1e6;
      const list = best.get(name)!;
      list[column] = Math.max(list[column] ?? 0, gflops);
    }
  }
}
console.log(`| kernel | ${ks.map((k) => `K=${k}`).join(" | ")} |`);
for (const [name, , , what] of CANDIDATES) {
  console.log(`| ${name}: ${what} | ${best.get(name)!.map((g) => g.toFixed(1)).join(" | ")} |`);
}
console.log(`load average at the end ${load()}`);

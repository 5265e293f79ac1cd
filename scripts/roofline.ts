/**
 * Runs the roofline probe alone and prints the machine's limits, with the load average
 * before and after (the machine may be shared).
 *
 * ```sh
 * deno run --allow-read --allow-sys=loadavg scripts/roofline.ts [--json] [--threads N]
 *   [--block-ms N] [--repetitions N] [--triad-floats N] [--relaxed true|false]
 * ```
 * @module
 */
import { parseFlags, runMain, UsageError } from "../suites/_shared/cli.ts";
import { type LimitFigure, measureMachineLimits } from "../suites/bench/roofline.ts";

function loadAverage(): number[] | string {
  try {
    return Deno.loadavg();
  } catch {
    return "unknown (run with --allow-sys=loadavg)";
  }
}

function numberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === "" || !Number.isFinite(parsed)) {
    throw new UsageError(`Cannot read --${flag}: "${value}" is not a number`);
  }
  return parsed;
}

function booleanFlag(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false") {
    throw new UsageError(`Cannot read --${flag}: expected true or false, got "${value}"`);
  }
  return value === "true";
}

function line(label: string, unit: string, figure: LimitFigure): string {
  return `${label.padEnd(24)} ${figure.best.toFixed(2).padStart(8)} ${unit}  ` +
    `(median ${figure.median.toFixed(2)}, worst ${figure.worst.toFixed(2)}, ` +
    `spread ${figure.spreadPercent.toFixed(1)}%)`;
}

async function main(): Promise<number> {
  const flags = parseFlags(Deno.args, {
    json: { type: "boolean" },
    threads: { type: "string" },
    "block-ms": { type: "string" },
    repetitions: { type: "string" },
    "triad-floats": { type: "string" },
    relaxed: { type: "string" },
  });
  const options = {
    threads: numberFlag("threads", flags.threads),
    blockMs: numberFlag("block-ms", flags["block-ms"]),
    repetitions: numberFlag("repetitions", flags.repetitions),
    triadFloats: numberFlag("triad-floats", flags["triad-floats"]),
    relaxedSimd: booleanFlag("relaxed", flags.relaxed),
  };
  const loadBefore = loadAverage();
  const limits = await measureMachineLimits(options);
  const loadAfter = loadAverage();
  if (flags.json) {
    console.log(JSON.stringify({ loadBefore, loadAfter, limits }, null, 2));
    return 0;
  }
  const m = limits.method, t = limits.threads;
  const load = (value: number[] | string) =>
    typeof value === "string" ? value : value.map((x) => x.toFixed(2)).join(" ");
  console.log(`load average before: ${load(loadBefore)}; after: ${load(loadAfter)}`);
  console.log(
    `${t} threads; ${m.multiplyAdd}, ${m.wasmChains} chains x ${m.wasmUnroll}; triad ` +
      `${m.triadFloats} floats an array, ${m.triadBytesPerElement} B an element; best of ` +
      `${m.repetitions} blocks of >= ${m.blockMs} ms; ${(limits.elapsedMs / 1000).toFixed(1)} s`,
  );
  console.log(line("wasm SIMD, 1 thread", "GFLOP/s", limits.wasmSimdGflops.oneThread));
  console.log(line(`wasm SIMD, ${t} threads`, "GFLOP/s", limits.wasmSimdGflops.allThreads));
  console.log(line("scalar JS, 1 thread", "GFLOP/s", limits.scalarJsGflops.oneThread));
  console.log(line(`scalar JS, ${t} threads`, "GFLOP/s", limits.scalarJsGflops.allThreads));
  console.log(line("triad, 1 thread", "GB/s", limits.bandwidthGBps.oneThread));
  console.log(line(`triad, ${t} threads`, "GB/s", limits.bandwidthGBps.allThreads));
  return 0;
}

if (import.meta.main) await runMain(main, [RangeError]);

/**
 * Runs the roofline probe alone and prints the machine's limits, with the load average
 * before and after (the machine may be shared).
 *
 * ```sh
 * deno run --allow-read --allow-sys=loadavg scripts/roofline.ts [--help] [flags]
 * ```
 * @module
 */
import {
  integerFlag,
  parseTaskFlags,
  positiveNumberFlag,
  runMain,
  UsageError,
} from "../suites/_shared/cli.ts";
import {
  DEFAULT_BLOCK_MS,
  DEFAULT_MAX_REPETITIONS,
  DEFAULT_REPETITIONS,
  DEFAULT_SETTLE_ROUNDS,
  DEFAULT_TRIAD_FLOATS,
  type LimitFigure,
  measureMachineLimits,
} from "../suites/bench/roofline.ts";

const USAGE = `Usage: deno run --allow-read --allow-sys=loadavg scripts/roofline.ts [flags]

Measures the machine's limits (wasm SIMD and scalar JS GFLOP/s, triad GB/s; one thread and
all threads) as bench does before timing, and prints them with the load average.

  --threads N        workers of the all-threads figures (default: navigator.hardwareConcurrency)
  --block-ms X       the least time of one block of work (default ${DEFAULT_BLOCK_MS})
  --repetitions N    the fewest measured rounds; each figure is the best (default ${DEFAULT_REPETITIONS})
  --max-repetitions N  the most rounds (default ${DEFAULT_MAX_REPETITIONS})
  --settle-rounds N  stop once N rounds in a row raised no best by 1% (default ${DEFAULT_SETTLE_ROUNDS})
  --triad-floats N   floats per triad array on one thread (default ${DEFAULT_TRIAD_FLOATS})
  --relaxed B        true: f32x4.relaxed_madd, false: f32x4.mul + f32x4.add
                     (default: relaxed_madd where the runtime has relaxed SIMD)
  --json             print the load averages and the MachineLimits as JSON`;

function loadAverage(): number[] | string {
  try {
    return Deno.loadavg();
  } catch {
    return "unknown (run with --allow-sys=loadavg)";
  }
}

function booleanFlag(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value !== "true" && value !== "false") {
    throw new UsageError(`Invalid --${flag} "${value}": expected true or false`);
  }
  return value === "true";
}

function line(label: string, unit: string, figure: LimitFigure): string {
  return `${label.padEnd(24)} ${figure.best.toFixed(2).padStart(8)} ${unit}  ` +
    `(median ${figure.median.toFixed(2)}, worst ${figure.worst.toFixed(2)}, ` +
    `spread ${figure.spreadPercent.toFixed(1)}%)`;
}

async function main(): Promise<number> {
  const flags = parseTaskFlags(Deno.args, {
    json: { type: "boolean" },
    threads: { type: "string" },
    "block-ms": { type: "string" },
    repetitions: { type: "string" },
    "max-repetitions": { type: "string" },
    "settle-rounds": { type: "string" },
    "triad-floats": { type: "string" },
    relaxed: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  const options = {
    threads: flags.threads === undefined ? undefined : integerFlag(flags.threads, "threads", 1),
    blockMs: positiveNumberFlag(flags["block-ms"], "block-ms", DEFAULT_BLOCK_MS),
    repetitions: integerFlag(flags.repetitions, "repetitions", DEFAULT_REPETITIONS),
    maxRepetitions: flags["max-repetitions"] === undefined
      ? undefined
      : integerFlag(flags["max-repetitions"], "max-repetitions", 1),
    settleRounds: integerFlag(flags["settle-rounds"], "settle-rounds", DEFAULT_SETTLE_ROUNDS, {
      min: 0,
    }),
    triadFloats: integerFlag(flags["triad-floats"], "triad-floats", DEFAULT_TRIAD_FLOATS),
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
      `${m.repetitions} rounds (${m.minRepetitions} to ${m.maxRepetitions}, settled after ` +
      `${m.settleRounds}) of blocks >= ${m.blockMs} ms; ${(limits.elapsedMs / 1000).toFixed(1)} s`,
  );
  console.log(line("wasm SIMD, 1 thread", "GFLOP/s", limits.wasmSimdGflops.oneThread));
  console.log(line(`wasm SIMD, ${t} threads`, "GFLOP/s", limits.wasmSimdGflops.allThreads));
  console.log(line("scalar JS, 1 thread", "GFLOP/s", limits.scalarJsGflops.oneThread));
  console.log(line(`scalar JS, ${t} threads`, "GFLOP/s", limits.scalarJsGflops.allThreads));
  console.log(line("triad, 1 thread", "GB/s", limits.bandwidthGBps.oneThread));
  console.log(line(`triad, ${t} threads`, "GB/s", limits.bandwidthGBps.allThreads));
  for (const warning of limits.warnings) console.log(`warning: ${warning}`);
  return 0;
}

if (import.meta.main) await runMain(main, [RangeError]);

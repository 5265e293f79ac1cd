/**
 * The PyTorch CPU baseline of a benchmark run, measured by `scripts/bench_torch.py` in the
 * same run, on the same cases, whenever Debian's python3-torch is installed.
 * @module
 */
import type { TorchBaseline } from "../results/bench.ts";

/** The interpreter that has Debian's torch (the first `python3` on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/** Runs `PYTHON` with `args`, `input` as JSON on its stdin; resolves with all it printed. */
export async function runPythonWithJson(
  args: string[],
  input: unknown,
): Promise<Deno.CommandOutput> {
  const child = new Deno.Command(PYTHON, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(input)));
  await writer.close();
  return await child.output();
}

interface PythonStats {
  p50Ns: number;
  count: number;
}

/** How to get the baseline, or do without it. */
export const TORCH_FIX = "install PyTorch and NumPy for /usr/bin/python3 " +
  "(Debian/Ubuntu: apt-get install -y python3-torch python3-numpy), or pass --no-torch";

/**
 * `reason`, with {@link TORCH_FIX} added when `stderr` says a module is missing
 * (`ModuleNotFoundError: No module named 'torch'`, or numpy).
 */
export function withTorchHint(reason: string, stderr: string): string {
  const missing = /No module named '?([\w.]+)'?|ModuleNotFoundError|ImportError/.exec(stderr);
  return missing ? `${reason}; ${TORCH_FIX}` : reason;
}

/** A golden case at a batch, as the Python side needs it. */
export interface TorchCase {
  /** the bench case id, `<golden id>@b<batch>` */
  id: string;
  batch: number;
  /** the golden case (spec and seed) as in `fixtures/cases.json` */
  case: unknown;
}

/** Runs the PyTorch baseline for `cases`; never throws, says why when it cannot run. */
export async function runTorchBaseline(
  cases: readonly TorchCase[],
  threads: number,
  timing: { minSamples: number; budgetMs: number },
): Promise<TorchBaseline> {
  const payload = cases.map((c) => ({ id: c.id, batch: c.batch, case: c.case }));
  let output: Deno.CommandOutput;
  try {
    output = await runPythonWithJson([
      "scripts/bench_torch.py",
      "--threads",
      String(threads),
      "--min-samples",
      String(timing.minSamples),
      "--budget-ms",
      String(timing.budgetMs),
    ], payload);
  } catch (error) {
    const reason = `cannot run ${PYTHON}: ${(error as Error).message}`;
    return { status: "not-measured", reason: `${reason}; ${TORCH_FIX}` };
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-2).join(" ");
    const reason = `scripts/bench_torch.py failed: ${stderr}`;
    return { status: "not-measured", reason: withTorchHint(reason, stderr) };
  }
  const parsed = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    torch: string;
    threads: number;
    results: { id: string; condconv: PythonStats; static: PythonStats }[];
  };
  const results: Record<string, { condconvP50Ms: number; staticP50Ms: number; samples: number }> =
    {};
  for (const r of parsed.results) {
    results[r.id] = {
      condconvP50Ms: r.condconv.p50Ns / 1e6,
      staticP50Ms: r.static.p50Ns / 1e6,
      samples: r.condconv.count,
    };
  }
  return { status: "measured", torch: parsed.torch, threads: parsed.threads, results };
}

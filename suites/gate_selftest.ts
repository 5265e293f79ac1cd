/**
 * `deno task gate:selftest`: shows what the gate resolves on this machine. In a scratch clone
 * of the committed tree it runs the gate on an unchanged tree, then commits a deliberate
 * slowdown of one adapter and runs it again, `--repeat` times each. A run is as expected when
 * the gate exits 0 on the unchanged tree and 1 on the slowed one, and calls no adapter but the
 * slowed one a regression. It prints the slowed adapter's rows and any other row not `pass`.
 *
 * ```
 * deno task gate:selftest [--adapter ort-wasm] [--factor 1.2] [--repeat 3] [--json PATH|-]
 *                         [-- gate flags...]
 * ```
 * The slowdown wraps the adapter in `impls/registry.ts`: after each run it busy-waits until
 * `factor` times the run's own time has passed, so the adapter is `factor` times slower
 * whatever the machine does. Flags after `--` go to the gate (`--adapter`, `--case`, `--rounds`...);
 * by default the gate runs as in CI, on all its adapters.
 * @module
 */
import { parseTaskFlags, runMain, UsageError } from "./_shared/cli.ts";
import { checkOutputPaths } from "./_shared/files.ts";
import { paintVerdict, shownPath, terminal, writeJsonOutput } from "./_shared/terminal.ts";
import { GATE_DEFAULTS } from "./gate.ts";
import type { GateRow } from "./results/gate.ts";

const USAGE = `deno task gate:selftest [--adapter ID] [--factor F] [--repeat N] [--json PATH|-]
                        [-- gate flags...]

Runs the gate in a scratch clone on the unchanged tree, then with one adapter slowed down on
purpose, and says whether the gate saw exactly that.
  --adapter  the adapter to slow down (default ort-wasm)
  --factor   how much slower, above 1 (default 1.2)
  --repeat   runs of each kind (default 3)
  --json     write the verdicts as JSON to this file (- for stdout, the other output then
             goes to stderr)
Flags after -- go to the gate (--adapter, --case, --rounds...).`;

/** One gate run of the self-test, as `--json` writes it. */
export interface SelftestRun {
  kind: "unchanged" | "slowed";
  run: number;
  exitCode: number;
  expectedExitCode: number;
  asExpected: boolean;
  seconds: number;
  summary: string;
  /** rows of the slowed adapter, and every other row that is not `pass` */
  rows: GateRow[];
}

/** Runs a command; its exit code and its stdout and stderr together. */
export async function run(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number; text: string }> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

/** A clone of the committed tree in a temporary folder, where one may commit what one likes. */
export async function cloneRepo(source = Deno.cwd()): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "condconv-gate-selftest-" });
  const clone = await run("git", ["clone", "--quiet", source, dir], ".");
  if (clone.code !== 0) throw new Error(`Cannot clone ${source}: ${clone.text}`);
  for (const args of [["config", "user.email", "gate@selftest"], ["config", "user.name", "gate"]]) {
    await run("git", args, dir);
  }
  return dir;
}

const REGISTRY = "impls/registry.ts";
const DECLARATION = "export const ADAPTERS: readonly CondConvAdapter[] = [";

/**
 * Commits, in `repo`, a registry whose `adapterId` runs `factor` times slower than it does.
 * Throws when the registry no longer has the shape this edit expects.
 */
export async function injectSlowdown(repo: string, adapterId: string, factor: number) {
  const path = `${repo}/${REGISTRY}`;
  const source = await Deno.readTextFile(path);
  if (!source.includes(DECLARATION)) {
    throw new Error(`${REGISTRY} has no "${DECLARATION}": update injectSlowdown`);
  }
  const slowed =
    source.replace(DECLARATION, DECLARATION.replace("export const ADAPTERS", "const REGISTERED")) +
    `
/** Injected by the gate's self-test: ${adapterId} made ${factor}x slower. */
function slowed(adapter: CondConvAdapter): CondConvAdapter {
  return {
    id: adapter.id,
    description: adapter.description,
    toleranceClass: adapter.toleranceClass,
    availability: () => adapter.availability(),
    async prepare(spec, weights) {
      const layer = await adapter.prepare(spec, weights);
      return {
        backend: layer.backend,
        dispose: () => layer.dispose(),
        async run(input, routingWeights) {
          const start = performance.now();
          const output = await layer.run(input, routingWeights);
          const spent = performance.now() - start;
          while (performance.now() - start < ${factor} * spent) { /* injected */ }
          return output;
        },
      };
    },
  };
}

export const ADAPTERS: readonly CondConvAdapter[] = REGISTERED.map((adapter) =>
  adapter.id === ${JSON.stringify(adapterId)} ? slowed(adapter) : adapter
);
`;
  await Deno.writeTextFile(path, slowed);
  const commit = await run("git", ["commit", "-qam", `inject a ${factor}x slowdown`], repo);
  if (commit.code !== 0) throw new Error(`Cannot commit the slowdown: ${commit.text}`);
}

/** The gate's summary line, or the tail of its output when it has none. */
export function gateSummary(text: string): string {
  const line = text.split("\n").find((l) =>
    l.startsWith("gate: PASSED") || l.startsWith("gate: FAILED")
  );
  return line ?? text.trim().split("\n").slice(-3).join(" | ");
}

/** The `gate:selftest` command; resolves to the exit status. */
export async function selftestMain(args: string[]): Promise<number> {
  const split = args.indexOf("--");
  const flags = parseTaskFlags(split < 0 ? args : args.slice(0, split), {
    adapter: { type: "string" },
    factor: { type: "string" },
    repeat: { type: "string" },
    json: { type: "string" },
  }, USAGE);
  if (!flags) return 0;
  if (flags.json !== undefined) await checkOutputPaths({ json: flags.json });
  const passed = split < 0 ? [] : args.slice(split + 1);
  const adapter = flags.adapter ?? "ort-wasm";
  const factor = Number(flags.factor ?? 1.2);
  if (!(factor > 1)) throw new UsageError(`Invalid --factor "${flags.factor}": expected above 1`);
  const repeat = Number(flags.repeat ?? 3);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new UsageError(`Invalid --repeat "${flags.repeat}": expected a positive integer`);
  }
  const gateArgs = ["task", "gate", ...passed];
  const repo = await cloneRepo();
  let expected = 0;
  const runs: SelftestRun[] = [];
  const progress = terminal.progress("gate:selftest", [
    ...Array.from({ length: repeat }, (_, i) => `unchanged run ${i + 1}`),
    ...Array.from({ length: repeat }, (_, i) => `slowed run ${i + 1}`),
  ]);
  try {
    for (
      const [label, base, want] of [["unchanged", "HEAD", 0], ["slowed", "HEAD~1", 1]] as const
    ) {
      if (label === "slowed") await injectSlowdown(repo, adapter, factor);
      for (let i = 0; i < repeat; i++) {
        const t0 = performance.now();
        const result = await run("deno", [...gateArgs, "--base", base], repo);
        const seconds = (performance.now() - t0) / 1000;
        let rows: GateRow[] = [];
        try {
          rows = JSON.parse(await Deno.readTextFile(`${repo}/${GATE_DEFAULTS.jsonPath}`)).rows;
          await Deno.remove(`${repo}/${GATE_DEFAULTS.jsonPath}`);
        } catch { /* no result: the summary line says why */ }
        // Expected: the exit status, and no regression of an adapter that was not slowed.
        const falseAlarms = rows.filter((r) => r.outcome === "regressed" && r.adapter !== adapter);
        const ok = result.code === want && falseAlarms.length === 0;
        if (ok) expected++;
        const verdict = ok
          ? paintVerdict(terminal.painter(), "pass", "as expected")
          : paintVerdict(terminal.painter(), "fail", "NOT AS EXPECTED");
        console.log(
          `${label} run ${i + 1}: exit ${result.code}, ${verdict} ` +
            `(${seconds.toFixed(0)} s): ${gateSummary(result.text)}`,
        );
        const shown = rows.filter((r) => r.adapter === adapter || r.outcome !== "pass");
        runs.push({
          kind: label,
          run: i + 1,
          exitCode: result.code,
          expectedExitCode: want,
          asExpected: ok,
          seconds,
          summary: gateSummary(result.text),
          rows: shown,
        });
        progress.advance();
        for (const r of shown) {
          const numbers = r.ratio === undefined
            ? ""
            : `x${r.ratio.toFixed(3)} [${r.low!.toFixed(3)}, ${r.high!.toFixed(3)}]`;
          console.log(`  ${r.adapter.padEnd(10)} ${r.case.padEnd(30)} ${numbers} ${r.outcome}`);
        }
      }
    }
    progress.finish();
    console.log(
      `\ngate self-test (${adapter} x${factor}): ${expected} of ${2 * repeat} runs as expected`,
    );
    if (flags.json !== undefined) {
      const verdicts = { adapter, factor, repeat, passed: expected === 2 * repeat, runs };
      await writeJsonOutput(flags.json, { kind: "gate-selftest", ...verdicts });
      console.log(`verdicts: ${shownPath(flags.json)}`);
    }
  } finally {
    progress.finish();
    await Deno.remove(repo, { recursive: true });
  }
  return expected === 2 * repeat ? 0 : 1;
}

if (import.meta.main) await runMain(() => selftestMain(Deno.args));

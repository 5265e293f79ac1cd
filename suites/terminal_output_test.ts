// deno-lint-ignore-file no-control-regex -- the tests look for ANSI escapes
/**
 * The long tasks' output in pipes and on a terminal: plain in a pipe (with or without
 * `NO_COLOR`), coloured with a progress line on a terminal (through `script`, where present),
 * and `--json -` gives stdout to the JSON report alone.
 * @module
 */
import assert from "node:assert/strict";
import { ANSI_PATTERN } from "./_shared/terminal.ts";

const CONFORM = [
  "run",
  "--allow-read=.,/tmp",
  "--allow-sys=cpus",
  "--allow-write=/tmp",
  "--allow-env",
  "--allow-run=deno",
  "suites/conform.ts",
  "--adapter",
  "reference",
  "--case",
  "control",
];
const BENCH = [
  "run",
  "--v8-flags=--expose-gc",
  "--allow-read=.,/tmp",
  "--allow-sys=cpus",
  "--allow-write=/tmp",
  "--allow-env",
  "--allow-run=deno",
  "suites/bench.ts",
  "--set",
  "smoke",
  "--adapter",
  "reference",
  "--no-torch",
  "--min-samples",
  "3",
  "--budget-ms",
  "20",
];

/** The environment without NO_COLOR, plus `extra`. */
function environment(extra: Record<string, string> = {}): Record<string, string> {
  const env = Deno.env.toObject();
  delete env.NO_COLOR;
  return { ...env, ...extra };
}

async function runDeno(args: string[], env: Record<string, string>) {
  const out = await new Deno.Command("deno", {
    args,
    env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A progress line: `conform [1/1] 0 s: ...`, or any carriage return redraw. */
const PROGRESS = /\r|\b(conform|bench) \[\d+\/\d+\]/;

for (
  const [task, args, json] of [
    ["conform", CONFORM, "/tmp/condconv-term-conform.json"],
    ["bench", BENCH, "/tmp/condconv-term-bench.json"],
  ] as const
) {
  for (const [label, env] of [["NO_COLOR=1", { NO_COLOR: "1" }], ["NO_COLOR unset", {}]] as const) {
    Deno.test(`${task} in a pipe (${label}): no colour and no progress line on stdout or stderr`, async () => {
      const markdown = task === "bench" ? ["--markdown", "/tmp/condconv-term-bench.md"] : [];
      const run = await runDeno([...args, "--json", json, ...markdown], environment(env));
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, task === "conform" ? /PASS/ : /p50/);
      for (const [name, text] of [["stdout", run.stdout], ["stderr", run.stderr]]) {
        assert.doesNotMatch(text, ANSI_PATTERN, `${name} has an escape: ${JSON.stringify(text)}`);
        assert.doesNotMatch(text, PROGRESS, `${name} has a progress line`);
      }
    });
  }
}

Deno.test("conform --json -: stdout is the JSON report alone, the rows go to stderr", async () => {
  const run = await runDeno([...CONFORM, "--json", "-"], environment());
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.kind, "conformance");
  assert.equal(report.results.length, 1);
  assert.match(run.stderr, /reference\s+control\s+PASS/);
  assert.match(run.stderr, /report: stdout/);
});

/** True when this test may run `script` (util-linux), which gives a command a terminal. */
async function canUseScript(): Promise<boolean> {
  const { state } = await Deno.permissions.query({ name: "run", command: "/usr/bin/script" });
  return state === "granted";
}

Deno.test({
  name:
    "conform on a terminal: coloured verdicts, a progress line on stderr; NO_COLOR=1 removes colour",
  ignore: !(await canUseScript()),
  async fn() {
    const command = [
      "deno",
      ...CONFORM,
      "--case",
      "batch-1",
      "--json",
      "/tmp/condconv-term-tty.json",
    ]
      .join(" ");
    const tty = async (env: Record<string, string>) => {
      const out = await new Deno.Command("/usr/bin/script", {
        args: ["-qec", `stty cols 200; ${command}`, "/dev/null"],
        env: environment(env),
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      return new TextDecoder().decode(out.stdout);
    };
    const coloured = await tty({});
    assert.match(coloured, /\x1b\[32mPASS/);
    assert.match(coloured, /\r\x1b\[2K.*conform \[\d\/2\]/);
    const plainText = await tty({ NO_COLOR: "1" });
    assert.doesNotMatch(plainText, /\x1b\[[0-9;]*m/);
    assert.match(
      plainText,
      /conform \[\d\/2\]/,
      "the progress line stays: NO_COLOR is colour only",
    );
  },
});

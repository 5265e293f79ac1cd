// deno-lint-ignore-file no-control-regex -- the tests look for ANSI escapes
import assert from "node:assert/strict";
import {
  ansi,
  ANSI_PATTERN,
  formatDuration,
  paintVerdict,
  plain,
  significant,
  Terminal,
  type TerminalIo,
} from "./terminal.ts";
import { formatResultRow } from "../conform/print.ts";
import { formatBenchRow } from "../bench/report.ts";
import { TORCH_FIX, withTorchHint } from "./torch_baseline.ts";
import type { ConformResult } from "../results/conformance.ts";
import type { BenchResult } from "../results/bench.ts";

/** A colour escape (SGR), as opposed to the cursor control that redraws the progress line. */
const COLOUR = /\x1b\[[0-9;]*m/;

/** A terminal whose streams are strings and whose clock the test moves. */
function fakeTerminal(
  { tty = true, noColor, columns }: { tty?: boolean; noColor?: string; columns?: number } = {},
) {
  const out = { stdout: "", stderr: "", now: 0 };
  const io: TerminalIo = {
    isTerminal: () => tty,
    noColor: () => noColor,
    write: (stream, text) => void (out[stream] += text),
    columns: () => columns,
    now: () => out.now,
  };
  return { terminal: new Terminal(io, { tickMs: 0 }), out };
}

const passRow: ConformResult = {
  adapter: "ts",
  case: "control",
  status: "pass",
  maxAbsErr: 6.62e-8,
  maxRelErr: 1.27e-5,
  worstRatio: 0.000596,
  implementation: "deno",
} as ConformResult;

Deno.test("terminal: on a terminal, verdicts are coloured and the progress line is drawn on stderr", () => {
  const { terminal, out } = fakeTerminal();
  assert.equal(terminal.colour(), true);
  const progress = terminal.progress("conform", ["ts on control", "ts on batch-1"]);
  assert.match(out.stderr, /conform \[1\/2\] 0 s: ts on control/);
  out.now = 4000;
  terminal.line(formatResultRow(passRow, terminal.painter()));
  progress.advance();
  assert.match(out.stdout, /\x1b\[32mPASS/, "PASS is green");
  assert.match(out.stderr, /conform \[2\/2\] 4 s, about 4 s left: ts on batch-1/);
  // the line is cleared before the row is written, and drawn again after
  assert.ok(out.stderr.includes("\r\x1b[2K"));
  progress.finish();
  assert.ok(out.stderr.endsWith("\r\x1b[2K"), "finish removes the line");
  assert.equal(paintVerdict(ansi, "fail"), "\x1b[31mFAIL\x1b[39m");
  assert.equal(paintVerdict(ansi, "known-fail"), "\x1b[33mKNOWN-FAIL\x1b[39m");
  assert.equal(paintVerdict(ansi, "skip"), "\x1b[2mSKIP\x1b[22m");
  assert.equal(paintVerdict(ansi, "error"), "\x1b[1;31mERROR\x1b[39;22m");
});

Deno.test("terminal: NO_COLOR removes colour (any non-empty value), an empty one does not", () => {
  for (const value of ["1", "0", "false"]) {
    const { terminal, out } = fakeTerminal({ noColor: value });
    assert.equal(terminal.colour(), false, `NO_COLOR=${value}`);
    const progress = terminal.progress("bench", 3);
    terminal.line(formatResultRow({ ...passRow, status: "fail" }, terminal.painter()));
    progress.finish();
    assert.doesNotMatch(out.stdout, COLOUR);
    assert.doesNotMatch(out.stderr, COLOUR, "the progress line is not coloured either");
    assert.match(out.stderr, /bench \[1\/3\]/, "progress is still shown: NO_COLOR is about colour");
  }
  assert.equal(fakeTerminal({ noColor: "" }).terminal.colour(), true);
});

Deno.test("terminal: when the streams are not terminals there is no colour and no progress", () => {
  const { terminal, out } = fakeTerminal({ tty: false });
  const progress = terminal.progress("conform", ["a", "b"]);
  terminal.line(formatResultRow(passRow, terminal.painter()));
  progress.advance();
  progress.finish();
  assert.equal(out.stderr, "");
  assert.doesNotMatch(out.stdout, ANSI_PATTERN);
});

Deno.test("terminal: with stdout kept for JSON, human lines and colour follow stderr", () => {
  const { terminal, out } = fakeTerminal();
  terminal.reserveStdout();
  terminal.line("conform: 1 passed");
  assert.equal(out.stdout, "");
  assert.equal(out.stderr, "conform: 1 passed\n");
});

Deno.test("terminal: a long step shows its hint, a narrow terminal cuts the line", () => {
  const { terminal, out } = fakeTerminal({ columns: 40, noColor: "1" });
  terminal.progress("conform", [{ label: "wgsl on control", slowHint: "compiling shaders?" }]);
  out.now = 20_000;
  terminal.redraw();
  const last = out.stderr.split("\r\x1b[2K").at(-1)!;
  assert.ok(last.length < 40, last);
  const wide = fakeTerminal();
  wide.terminal.progress("conform", [{
    label: "wgsl on control",
    slowHint: "compiling shaders?",
    slowAfterMs: 10_000,
  }]);
  wide.out.now = 11_000;
  wide.terminal.redraw();
  assert.match(wide.out.stderr, /11 s: wgsl on control {2}\(compiling shaders\?\)/);
});

Deno.test("terminal: time left is the pace of the steps done, less the current step's time", () => {
  const { terminal, out } = fakeTerminal({ noColor: "1" });
  const progress = terminal.progress("bench", 4);
  out.now = 10_000;
  progress.advance(); // 10 s per step, 3 left
  out.now = 15_000; // 5 s into step 2
  assert.equal(progress.render(), "bench [2/4] 15 s, about 25 s left");
  progress.complete("unknown key counts as one step");
  assert.equal(progress.done, 2);
});

Deno.test("significant: three significant digits, exponent form below 0.001", () => {
  assert.equal(significant(0.000596), "5.96e-4");
  assert.equal(significant(0.00521), "0.00521");
  assert.equal(significant(0.5), "0.500");
  assert.equal(significant(1.5), "1.50");
  assert.equal(significant(1234.5), "1235");
  assert.equal(significant(0), "0");
  assert.equal(significant(Infinity), "Infinity");
  assert.match(formatResultRow(passRow), /5\.96e-4 of tol/, "0.000596 is not 0.000");
  assert.equal(formatDuration(65_000), "1 min 05 s");
});

Deno.test("bench rows: a known library bug's wrong row is yellow, a plain wrong row red", () => {
  const wrong = { adapter: "ort-webgpu", case: "control@b2", status: "wrong" } as BenchResult;
  assert.match(formatBenchRow(wrong, ansi), /\x1b\[31mWRONG/);
  assert.match(formatBenchRow({ ...wrong, knownFailure: "ort-x" }, ansi), /\x1b\[33mWRONG/);
  assert.doesNotMatch(formatBenchRow(wrong, plain), ANSI_PATTERN);
});

Deno.test("torch baseline: a missing module names the fix, other failures do not", () => {
  const stderr = "import torch\nModuleNotFoundError: No module named 'torch'";
  assert.ok(withTorchHint("failed", stderr).endsWith(TORCH_FIX));
  assert.match(TORCH_FIX, /apt-get install -y python3-torch python3-numpy/);
  assert.match(TORCH_FIX, /--no-torch/);
  assert.equal(withTorchHint("failed", "RuntimeError: out of memory"), "failed");
});

/**
 * The catalogue's command lines: unknown flags, ids, bad numbers, bad accepted-changes files,
 * output paths that would fail or clobber, and batches too large for memory, for conform,
 * bench and gate (a one-line `UsageError`, exit status 2).
 * @module
 */
import { benchMain } from "../bench.ts";
import { UsageError } from "../_shared/cli.ts";
import { conformMain } from "../conform.ts";
import { gateMain } from "../gate.ts";
import type { Entry } from "./entry.ts";

/** Where an entry makes the files and folders its arguments name; all removed after the test. */
export interface Scratch {
  /** a temporary folder outside the project */
  dir: string;
  /** makes the folder `name` in a new folder under `reports/`, and resolves to its path */
  reportsFolder(name: string): Promise<string>;
}

/** A command line and its error. */
export interface CommandEntry extends Entry {
  main: (args: string[]) => Promise<number>;
  /** the arguments, or how to make them (with the files they name) in a `Scratch` */
  args: readonly string[] | ((scratch: Scratch) => Promise<string[]>);
}

const usage = (
  name: string,
  main: CommandEntry["main"],
  args: CommandEntry["args"],
  message: RegExp,
): CommandEntry => ({ name, main, args, error: UsageError, message });

// Each output-path entry picks one case and one adapter, so that the code before these checks
// (which ran the whole task, then failed at the write or replaced the file) fails the test fast.
const QUICK = ["--case", "control", "--adapter", "reference"];
const QUICK_BENCH = [...QUICK, "--no-torch", "--min-samples", "3", "--budget-ms", "1"];

/** The bad command lines of conform, bench and gate. */
export const COMMANDS: CommandEntry[] = [
  usage("conform: misspelt flag", conformMain, ["--adaptor", "ts"], /^Unknown option '--adaptor'/),
  usage(
    "conform: flag without its value",
    conformMain,
    ["--json"],
    /Option '--json <value>' argument missing/,
  ),
  usage("conform: positional argument", conformMain, ["control"], /^Unexpected argument 'control'/),
  usage(
    "conform: value for a boolean flag",
    conformMain,
    ["--help=yes"],
    /Option '--help' does not take an argument/,
  ),
  usage(
    "conform: unknown adapter id",
    conformMain,
    ["--adapter", "tfjs-gpu"],
    /^Unknown adapter "tfjs-gpu": it matches none of reference/,
  ),
  usage(
    "conform: case glob matching nothing",
    conformMain,
    ["--case", "nope*"],
    /^Unknown case "nope\*": it matches none of control/,
  ),
  usage("bench: unknown flag", benchMain, ["--bogus"], /^Unknown option '--bogus'/),
  usage("bench: unknown adapter id", benchMain, ["--adapter", "onnx"], /^Unknown adapter "onnx"/),
  usage(
    "bench: unknown case id",
    benchMain,
    ["--case", "nope", "--no-torch"],
    /^Unknown case "nope"/,
  ),
  usage(
    "bench: unknown set",
    benchMain,
    ["--set", "mobilenet"],
    /^Unknown set "mobilenet": the sets are/,
  ),
  usage(
    "bench: negative budget",
    benchMain,
    ["--budget-ms=-1"],
    /^Invalid --budget-ms "-1": expected a positive integer$/,
  ),
  usage(
    "bench: fractional sample count",
    benchMain,
    ["--min-samples", "1.5"],
    /^Invalid --min-samples "1\.5"/,
  ),
  usage(
    "bench: zero torch threads",
    benchMain,
    ["--torch-threads", "0"],
    /^Invalid --torch-threads "0"/,
  ),
  usage("gate: unknown flag", gateMain, ["--frobnicate"], /^Unknown option '--frobnicate'/),
  usage(
    "gate: zero rounds",
    gateMain,
    ["--rounds", "0"],
    /^Invalid --rounds "0": expected a positive integer$/,
  ),
  usage(
    "gate: one round (an interval needs two)",
    gateMain,
    ["--rounds", "1"],
    /^Invalid --rounds "1": at least 2, an interval needs two rounds$/,
  ),
  usage(
    "gate: fractional blocks",
    gateMain,
    ["--blocks", "2.5"],
    /^Invalid --blocks "2.5": expected a positive integer$/,
  ),
  usage(
    "gate: zero block time",
    gateMain,
    ["--block-ms", "0"],
    /^Invalid --block-ms "0": expected a positive number$/,
  ),
  usage(
    "gate: base revision that does not exist",
    gateMain,
    ["--base", "no-such-rev"],
    /^Unknown --base "no-such-rev": not a commit of this repository$/,
  ),
  usage(
    "gate: threshold that is not a number",
    gateMain,
    ["--threshold", "abc"],
    /^Invalid --threshold "abc"/,
  ),
  usage(
    "gate: unknown case",
    gateMain,
    ["--case", "nope"],
    /^Unknown case "nope": it matches none of control, /,
  ),
  usage(
    "gate: unknown adapter",
    gateMain,
    ["--adapter", "nope"],
    /^Unknown adapter "nope": it matches none of/,
  ),
  usage(
    "gate: --base without a revision",
    gateMain,
    ["--base"],
    /Option '--base <value>' argument missing/,
  ),
  usage(
    "gate: accepted-changes file that is not JSON",
    gateMain,
    async ({ dir }) => {
      await Deno.writeTextFile(`${dir}/not-json.json`, "{accepted: []");
      return ["--accepted", `${dir}/not-json.json`];
    },
    /^Cannot load accepted changes ".*not-json\.json": invalid JSON/,
  ),
  usage(
    "gate: accepted change without a reason",
    gateMain,
    async ({ dir }) => {
      const change = { adapter: "ts", case: "control@b2", maxRatio: 1.2, reason: "" };
      await Deno.writeTextFile(`${dir}/no-reason.json`, JSON.stringify({ accepted: [change] }));
      return ["--accepted", `${dir}/no-reason.json`];
    },
    /say why the slowdown is accepted/,
  ),
  // Output paths are checked before any work: a run no longer ends in a failed write.
  usage(
    "conform: --json naming the reports folder",
    conformMain,
    ["--json", "reports", ...QUICK],
    /^Cannot write --json "reports": it is a folder; give a file path inside it, such as "reports\/out\.json"$/,
  ),
  usage(
    "conform: --json naming an existing folder called x.json",
    conformMain,
    async (scratch) => ["--json", await scratch.reportsFolder("existing-dir.json"), ...QUICK],
    /^Cannot write --json "reports\/[^"]+\/existing-dir\.json": it is a folder; give a file path/,
  ),
  usage(
    "conform: empty --json",
    conformMain,
    ["--json", "", ...QUICK],
    /^Cannot write --json "": the path is empty; give a file path$/,
  ),
  usage(
    "conform: --json naming the gate's tracked configuration",
    conformMain,
    ["--json", "reports/accepted_changes.json", ...QUICK],
    /^Cannot write --json "reports\/accepted_changes\.json": it is tracked: the gate's accepted slowdowns \(configuration\); choose another file name$/,
  ),
  usage(
    "bench: the same path for --json and --markdown",
    benchMain,
    ({ dir }) =>
      Promise.resolve(["--json", `${dir}/same`, "--markdown", `${dir}/same`, ...QUICK_BENCH]),
    /^Cannot write --markdown ".*\/same": --json writes the same file; give each output its own path$/,
  ),
  // A batch is refused with the memory it needs, before anything is allocated.
  usage(
    "bench: a batch of a billion",
    benchMain,
    ["--batch", "1000000000", ...QUICK_BENCH],
    /^Cannot bench "control@b1000000000" at --batch 1000000000: its layer needs at least \d+\.\d GiB \(input, output, mixed kernels and weights\), over the 4 GiB a bench layer may use; choose a smaller --batch$/,
  ),
];

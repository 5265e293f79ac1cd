/**
 * The terminal side of the tasks: colour, a progress line, and a stdout kept for JSON.
 *
 * - Colour only where a person reads: the stream that carries the human output is a terminal
 *   and `NO_COLOR` is unset or empty (https://no-color.org). Logs and pipes stay plain.
 * - Progress (`[3/13] ts on b0-stage1  12 s, about 40 s left`) is redrawn in place on stderr,
 *   and only when stderr is a terminal. While it is shown, every `console` line clears it
 *   first and redraws it after, so rows and progress never mix on the screen.
 * - `--json -` keeps stdout for the JSON report: the human output then goes to stderr
 *   (`reserveStdoutForJson`), `console.log` included, so `deno task conform --json - | jq` works.
 *
 * No dependency: the escapes are the eight ANSI ones every terminal knows.
 * @module
 */

/** What the terminal module needs from the process (a fake one in tests). */
export interface TerminalIo {
  isTerminal(stream: "stdout" | "stderr"): boolean;
  /**
   * `NO_COLOR`'s value, undefined when unset; "1" when the task may not read it (no colour
   * rather than colour against the user's wish)
   */
  noColor(): string | undefined;
  write(stream: "stdout" | "stderr", text: string): void;
  /** the terminal's width in columns, when known */
  columns(): number | undefined;
  /** milliseconds, monotonic */
  now(): number;
}

/** The process's own streams and environment. */
export function denoIo(): TerminalIo {
  const encoder = new TextEncoder();
  return {
    isTerminal: (stream) => (stream === "stdout" ? Deno.stdout : Deno.stderr).isTerminal(),
    noColor() {
      // Never prompt: a task without --allow-env=NO_COLOR shows no colour.
      const query = { name: "env", variable: "NO_COLOR" } as const;
      if (Deno.permissions.querySync(query).state !== "granted") return "1";
      return Deno.env.get("NO_COLOR");
    },
    write(stream, text) {
      const bytes = encoder.encode(text);
      const file = stream === "stdout" ? Deno.stdout : Deno.stderr;
      for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
    },
    columns() {
      try {
        return Deno.consoleSize().columns;
      } catch {
        return undefined;
      }
    },
    now: () => performance.now(),
  };
}

/** The styles the tasks use. */
export type Style = "green" | "red" | "yellow" | "magenta" | "dim" | "bold" | "redBold" | "cyan";

const ESCAPES: Record<Style, [string, string]> = {
  green: ["\x1b[32m", "\x1b[39m"],
  red: ["\x1b[31m", "\x1b[39m"],
  yellow: ["\x1b[33m", "\x1b[39m"],
  magenta: ["\x1b[35m", "\x1b[39m"],
  cyan: ["\x1b[36m", "\x1b[39m"],
  dim: ["\x1b[2m", "\x1b[22m"],
  bold: ["\x1b[1m", "\x1b[22m"],
  redBold: ["\x1b[1;31m", "\x1b[39;22m"],
};

/** Paints text, or leaves it plain: what the printing functions take. */
export type Painter = (style: Style, text: string) => string;

/** The painter that paints nothing (files, pipes, `NO_COLOR`, tests). */
export const plain: Painter = (_style, text) => text;

/** The painter that always paints. */
export const ansi: Painter = (style, text) => `${ESCAPES[style][0]}${text}${ESCAPES[style][1]}`;

/** Any ANSI escape sequence (tests look for them in output that must be plain). */
// deno-lint-ignore no-control-regex
export const ANSI_PATTERN = /\x1b\[[0-9;?]*[A-Za-z]/;

/** The colour of each verdict, conform's and bench's. */
const VERDICT_STYLES: Record<string, Style> = {
  pass: "green",
  timed: "green",
  passed: "green",
  fail: "red",
  wrong: "red",
  failed: "red",
  regressed: "red",
  accepted: "yellow",
  improved: "green",
  broken: "redBold",
  "known-fail": "yellow",
  skip: "dim",
  skipped: "dim",
  error: "redBold",
  errors: "redBold",
};

/**
 * `text` (default: the verdict in capitals) painted as `verdict` is: PASS green, FAIL red,
 * KNOWN-FAIL yellow, SKIP dim, ERROR bold red; any other verdict plain.
 */
export function paintVerdict(paint: Painter, verdict: string, text = verdict.toUpperCase()) {
  const style = VERDICT_STYLES[verdict];
  return style === undefined ? text : paint(style, text);
}

/**
 * `value` with `digits` significant digits, in exponent form below 0.001 (`0.000600` would
 * hide the digits: `6.00e-4`); `0`, `Infinity` and `NaN` as they are.
 */
export function significant(value: number, digits = 3): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude < 1e-3) return value.toExponential(digits - 1);
  if (magnitude >= 10 ** digits) return value.toFixed(0);
  return value.toPrecision(digits);
}

/** `ms` as `42 s`, `3 min 05 s` or `1 h 02 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, "0")} min`;
}

/** What a step may add to the progress line once it has run long (a cold shader cache). */
export interface StepInfo {
  label: string;
  /** what {@link Progress.complete} finds the step by (rows: adapter label and case) */
  key?: string;
  /** said once the step has run `slowAfterMs` */
  slowHint?: string;
  slowAfterMs?: number;
}

/** A task's progress over a known number of steps, drawn on a {@link Terminal}. */
export class Progress {
  #done = 0;
  #stepStart: number;
  readonly #start: number;
  readonly #steps: readonly StepInfo[];

  constructor(
    readonly terminal: Terminal,
    readonly title: string,
    steps: readonly (StepInfo | string)[] | number,
  ) {
    this.#steps = typeof steps === "number"
      ? Array.from({ length: steps }, () => ({ label: "" }))
      : steps.map((s) => (typeof s === "string" ? { label: s } : s));
    this.#start = this.#stepStart = terminal.io.now();
  }

  /** Steps done so far. */
  get done(): number {
    return this.#done;
  }

  /** One step finished: the next one runs now. */
  advance(): void {
    this.#done++;
    this.#stepStart = this.terminal.io.now();
    this.terminal.redraw();
  }

  /**
   * The step named `key` finished (and every one before it: a lost row is never reported);
   * an unknown key counts as one more step.
   */
  complete(key: string): void {
    const index = this.#steps.findIndex((s) => s.key === key);
    if (index < 0) return this.advance();
    this.#done = Math.max(this.#done, index + 1);
    this.#stepStart = this.terminal.io.now();
    this.terminal.redraw();
  }

  /** The progress line as it is now (plain text, no escapes). */
  render(): string {
    const total = this.#steps.length;
    const now = this.terminal.io.now();
    const current = Math.min(this.#done + 1, total);
    const step = this.#steps[current - 1];
    let times = formatDuration(now - this.#start);
    if (this.#done > 0 && this.#done < total) {
      // the steps done so far set the pace; the current step's time so far is spent already
      const pace = (this.#stepStart - this.#start) / this.#done;
      const left = Math.max(0, pace * (total - this.#done) - (now - this.#stepStart));
      times += `, about ${formatDuration(left)} left`;
    }
    const what = step?.label ? `: ${step.label}` : "";
    const slow = step?.slowHint !== undefined &&
        now - this.#stepStart >= (step.slowAfterMs ?? 15_000)
      ? `  (${step.slowHint})`
      : "";
    const counter = total > 1 ? ` [${current}/${total}]` : "";
    return `${this.title}${counter} ${times}${what}${slow}`;
  }

  /** Removes the line for good. */
  finish(): void {
    this.terminal.endProgress(this);
  }
}

/** A task's terminal: colour, human lines, and the progress line. */
export class Terminal {
  #jsonOnStdout = false;
  #progress: Progress | undefined;
  #drawn = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(readonly io: TerminalIo, readonly options: { tickMs?: number } = {}) {}

  /** Where the human output goes: stdout, or stderr once stdout carries JSON. */
  get humanStream(): "stdout" | "stderr" {
    return this.#jsonOnStdout ? "stderr" : "stdout";
  }

  /** Keeps stdout for the JSON report (`--json -`): human lines go to stderr from now on. */
  reserveStdout(): void {
    this.#jsonOnStdout = true;
  }

  /** True when stdout is kept for JSON. */
  get stdoutReserved(): boolean {
    return this.#jsonOnStdout;
  }

  /** Colour on `stream`: a terminal, and `NO_COLOR` unset or empty. */
  colour(stream: "stdout" | "stderr" = this.humanStream): boolean {
    const noColor = this.io.noColor();
    return (noColor === undefined || noColor === "") && this.io.isTerminal(stream);
  }

  /** The painter for the human output. */
  painter(): Painter {
    return this.colour() ? ansi : plain;
  }

  /** A human line (stdout, or stderr when stdout carries JSON), under the progress line. */
  line(text: string): void {
    this.#under(() => this.io.write(this.humanStream, `${text}\n`));
  }

  /** A line on stderr, under the progress line. */
  error(text: string): void {
    this.#under(() => this.io.write("stderr", `${text}\n`));
  }

  /** Runs `write` with the progress line cleared, then draws it again. */
  #under(write: () => void): void {
    this.#clear();
    write();
    this.redraw();
  }

  /** True when a progress line may be drawn: stderr is a terminal. */
  get showsProgress(): boolean {
    return this.io.isTerminal("stderr");
  }

  /**
   * Starts a progress line over `steps` (labels, or a count). On a terminal it is drawn on
   * stderr and redrawn every `tickMs` (default 1 s); elsewhere nothing is drawn.
   */
  progress(title: string, steps: readonly (StepInfo | string)[] | number): Progress {
    this.endProgress(this.#progress);
    const progress = new Progress(this, title, steps);
    this.#progress = progress;
    if (this.showsProgress) {
      if (this === terminal) routeConsole();
      const tick = this.options.tickMs ?? 1000;
      if (tick > 0) {
        const timer = setInterval(() => this.redraw(), tick);
        Deno.unrefTimer(timer);
        this.#timer = timer;
      }
      this.redraw();
    }
    return progress;
  }

  /** Says what runs before the first step (`measuring the PyTorch baseline...`). */
  activity(title: string): Progress {
    return this.progress(title, [{ label: "" }]);
  }

  /** Draws the progress line again (elapsed time, the current step). */
  redraw(): void {
    if (!this.#progress || !this.showsProgress) return;
    let text = this.#progress.render();
    const width = this.io.columns();
    if (width !== undefined && width >= 20 && text.length >= width) {
      text = `${text.slice(0, width - 2)}…`;
    }
    const shown = this.colour("stderr") ? ansi("cyan", text) : text;
    this.io.write("stderr", `\r\x1b[2K${shown}`);
    this.#drawn = true;
  }

  #clear(): void {
    if (this.#drawn) this.io.write("stderr", "\r\x1b[2K");
    this.#drawn = false;
  }

  /** Ends `progress` if it is the current one: its line is removed. */
  endProgress(progress: Progress | undefined): void {
    if (progress === undefined || progress !== this.#progress) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
    this.#progress = undefined;
  }
}

/** The process's terminal: every task prints through it. */
export const terminal: Terminal = new Terminal(denoIo());

let consoleRouted = false;

/**
 * Routes `console.log`/`info` (to the human stream) and `console.error`/`warn` (to stderr)
 * through `terminal`, so that lines printed anywhere in the task keep the progress line intact
 * and keep stdout free when it carries JSON. Idempotent.
 */
export function routeConsole(): void {
  if (consoleRouted) return;
  consoleRouted = true;
  const text = (args: unknown[]) =>
    args.map((a) => (typeof a === "string" ? a : Deno.inspect(a, { colors: false }))).join(" ");
  console.log = console.info = (...args: unknown[]) => terminal.line(text(args));
  console.error = console.warn = (...args: unknown[]) => terminal.error(text(args));
}

/** `--json -`: stdout carries the JSON report alone; everything human goes to stderr. */
export function reserveStdoutForJson(): void {
  terminal.reserveStdout();
  routeConsole();
}

/** The flag value that sends a JSON report to stdout. */
export const STDOUT_PATH = "-";

/** Writes `value` as indented JSON to `path`, or to stdout when `path` is `-`. */
export async function writeJsonOutput(path: string, value: unknown): Promise<void> {
  if (path === STDOUT_PATH) {
    terminal.io.write("stdout", JSON.stringify(value, null, 2) + "\n");
    return;
  }
  const { writeJsonAtomic } = await import("./files.ts");
  await writeJsonAtomic(path, value);
}

/** Where a report went, for the closing line: the path, or "stdout". */
export function shownPath(path: string): string {
  return path === STDOUT_PATH ? "stdout" : path;
}

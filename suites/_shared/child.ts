/**
 * Child processes: the one way a task starts another `deno` process (conform's and bench's
 * adapter processes, the gate's timing workers, the WebGPU probe), and the child's side of
 * the line protocol (`protocol.ts`).
 *
 * Isolation: a crash (a native abort in a GPU driver), a hang past its time limit or a lost
 * device in one adapter's process becomes an `error` for that adapter, and the task goes on.
 *
 * Permissions: a child gets exactly the permission flags written here, never more: read the
 * paths it is given, the environment, CPU info, and every other permission denied by name
 * (`--deny-run`, `--deny-write`, `--deny-net`, `--deny-ffi`, remote imports), with
 * `--no-prompt`. A deny flag wins over any grant, so neither a permission set in a
 * `deno.json` nor a prompt can widen it, and code loaded in a child (tfjs, onnxruntime-web)
 * cannot start a process or write a file. A path is refused when it contains a comma (Deno
 * would read it as two paths) or starts with `-` (it would be read as a flag).
 *
 * One exception, by adapter id and narrow: the `ort-node` adapter's child may load
 * onnxruntime-node's native addon, that one file (`--allow-ffi=<its real path>` in place of
 * `--deny-ffi`; {@link adapterChildPermissions}), since Deno loads a Node-API addon only with
 * FFI permission for it. Every other child, and every other file in that one, is denied FFI.
 * The addon is native code, beyond Deno's permission checks once loaded: the grant trusts the
 * onnxruntime-node build that `deno.lock` pins by its checksum.
 *
 * Lifetime: the child's stdin is a pipe from its parent, and {@link parentChannel} exits the
 * child when that pipe closes, so a child never outlives a parent killed with SIGKILL.
 *
 * No third-party imports: the process that may start others loads this file.
 * @module
 */
import { runMain, UsageError } from "./cli.ts";
import { decodeMessage, encodeMessage, lines } from "./protocol.ts";
import { ORT_NODE_ID, ortNodeAddonPath, ortNodeInstalledAddonPath } from "./native_addon.ts";

export { decodeMessage, encodeMessage, lines } from "./protocol.ts";

/** Remote hosts Deno imports from by default; a child may import from none of them. */
const DEFAULT_IMPORT_HOSTS = [
  "deno.land:443",
  "jsr.io:443",
  "esm.sh:443",
  "raw.esm.sh:443",
  "cdn.jsdelivr.net:443",
  "raw.githubusercontent.com:443",
  "gist.githubusercontent.com:443",
];

/** What a child may do beyond computing: read these paths. Everything else is denied. */
export interface ChildPermissions {
  /** files and folders the child may read (its own modules and `node_modules` included) */
  read: readonly string[];
  /** native addons the child may load (FFI), by real path; none unless given */
  ffi?: readonly string[];
}

/**
 * What an adapter's child may do: read `read`, and for `ort-node` load onnxruntime-node's
 * addon for this platform in the tree `root` (the child's project folder; default the current
 * one), by its real path: Deno checks FFI against the file the `node_modules` link leads to.
 * Where the link is not there yet, the file Deno will install it as is granted (a missing
 * file: the adapter's availability in the child then says why it cannot load).
 */
export function adapterChildPermissions(
  adapterId: string,
  read: readonly string[],
  root = ".",
): ChildPermissions {
  const [os, arch] = [Deno.build.os, Deno.build.arch];
  const linked = ortNodeAddonPath(os, arch);
  if (adapterId !== ORT_NODE_ID || linked === undefined) return { read };
  let addon: string;
  try {
    addon = Deno.realPathSync(`${root}/${linked}`);
  } catch {
    const tree = root.startsWith("/") ? root : `${Deno.cwd()}/${root}`;
    addon = `${tree}/${ortNodeInstalledAddonPath(os, arch)}`;
  }
  return { read, ffi: [addon] };
}

/**
 * Throws a `TypeError` naming `what` when `path` cannot be passed in a permission flag: a
 * comma would split it into two grants, a leading `-` would make it a flag.
 */
export function assertPlainPath(path: string, what: string): void {
  if (path === "") throw new TypeError(`Invalid ${what}: the path is empty`);
  if (path.includes(",")) {
    throw new TypeError(
      `Invalid ${what} "${path}": a path with a comma cannot be granted to a child process ` +
        "(Deno splits permission lists at commas); rename or move the file",
    );
  }
  if (path.startsWith("-")) {
    throw new TypeError(
      `Invalid ${what} "${path}": a path starting with "-" would be read as a flag; ` +
        `write it as "./${path}"`,
    );
  }
}

/**
 * A user's path (a `--weights` file) as a child may be given it: `-w.safetensors` becomes
 * `./-w.safetensors` (the same file, never read as a flag); a comma is refused (a
 * `TypeError` naming `what`).
 */
export function childPath(path: string, what: string): string {
  const safe = path.startsWith("-") ? `./${path}` : path;
  assertPlainPath(safe, what);
  return safe;
}

/**
 * The permission flags of every child: `read` granted, FFI for the `ffi` files alone where
 * given, the rest denied by name.
 */
export function childPermissionFlags(permissions: ChildPermissions): string[] {
  for (const path of permissions.read) assertPlainPath(path, "path for a child process");
  const ffi = permissions.ffi ?? [];
  for (const path of ffi) assertPlainPath(path, "native addon for a child process");
  return [
    "--no-prompt",
    `--allow-read=${permissions.read.join(",")}`,
    "--allow-env",
    "--allow-sys=cpus",
    "--deny-run",
    "--deny-write",
    "--deny-net",
    ffi.length > 0 ? `--allow-ffi=${ffi.join(",")}` : "--deny-ffi",
    `--deny-import=${DEFAULT_IMPORT_HOSTS.join(",")}`,
  ];
}

/** How to start one child. */
export interface SpawnOptions {
  /** the child's entry module, relative to `cwd` or absolute */
  script: string;
  /** arguments for the script (after the script, so never read as Deno flags) */
  args: readonly string[];
  permissions: ChildPermissions;
  /** shown before lines the child prints that are not protocol messages */
  label: string;
  cwd?: string;
  /** a `deno.json` for the child (`--config`) */
  config?: string;
  /** V8 flags, e.g. `--expose-gc` */
  v8Flags?: readonly string[];
  /** variables added to the child's environment (e.g. `DENO_WEBGPU_BACKEND`) */
  env?: Record<string, string>;
  /** the child is killed after this long, in all (ms) */
  timeoutMs: number;
}

/** How a child ended. */
export interface ChildEnd {
  code: number;
  signal: string | null;
  killedForTime: boolean;
  /** the last lines it wrote to stderr, without Deno's harmless XDG_RUNTIME_DIR notice */
  stderrTail: string[];
}

/** A running child: its messages, a way to send it commands, its end. */
export class ChildProcess<Message, Command = never> {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stderrTail: string[] = [];
  #stderrDone: Promise<void>;
  #timer: ReturnType<typeof setTimeout>;
  #killedForTime = false;
  #messages: AsyncGenerator<Message>;

  constructor(readonly options: SpawnOptions) {
    const v8 = options.v8Flags?.length ? [`--v8-flags=${options.v8Flags.join(",")}`] : [];
    for (const arg of options.args) {
      if (typeof arg !== "string") throw new TypeError("Invalid child argument: not a string");
    }
    const child = new Deno.Command("deno", {
      args: [
        "run",
        ...(options.config ? ["--config", options.config] : []),
        ...v8,
        ...childPermissionFlags(options.permissions),
        options.script,
        ...options.args,
      ],
      cwd: options.cwd,
      env: options.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    // Clamped to 2^31 - 1 ms: a longer delay overflows the timer and would fire at once.
    this.#timer = setTimeout(() => {
      this.#killedForTime = true;
      this.kill();
    }, Math.min(options.timeoutMs, 2 ** 31 - 1));
    this.#stderrDone = (async () => {
      for await (const line of lines(child.stderr)) {
        if (!line.trim() || line.includes("XDG_RUNTIME_DIR")) continue;
        this.#stderrTail.push(line);
        if (this.#stderrTail.length > 8) this.#stderrTail.shift();
      }
    })();
    this.#messages = this.#read(child.stdout);
  }

  async *#read(stdout: ReadableStream<Uint8Array>): AsyncGenerator<Message> {
    for await (const line of lines(stdout)) {
      const message = decodeMessage(line);
      if (message === undefined) {
        if (line.trim()) console.error(`[${this.options.label}] ${line}`);
        continue;
      }
      yield message as Message;
    }
  }

  /** The child's messages as they come; ends when it closes stdout (exits). */
  messages(): AsyncGenerator<Message> {
    return this.#messages;
  }

  /** Sends one command (a protocol line on the child's stdin). */
  async send(command: Command): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(encodeMessage(command) + "\n"));
  }

  /** Kills the child at once (SIGKILL); harmless if it has ended. */
  kill(): void {
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  /** Closes the child's stdin (it exits: see `parentChannel`) and waits for its end. */
  async close(): Promise<ChildEnd> {
    await this.#writer.close().catch(() => {});
    return await this.end();
  }

  /** Waits for the child to exit (or to be killed at its time limit). */
  async end(): Promise<ChildEnd> {
    const status = await this.#child.status;
    clearTimeout(this.#timer);
    await this.#writer.close().catch(() => {});
    await this.#stderrDone;
    return {
      code: status.code,
      signal: status.signal,
      killedForTime: this.#killedForTime,
      stderrTail: this.#stderrTail.slice(),
    };
  }
}

/** Says how a child ended without finishing, for an error reason. */
export function describeEnd(end: ChildEnd, timeoutMs: number, what = "the adapter's process") {
  const how = end.killedForTime
    ? `was killed after ${timeoutMs} ms`
    : `exited with code ${end.code}${end.signal ? ` (${end.signal})` : ""}`;
  const tail = end.stderrTail.slice(-3);
  return `${what} ${how} before finishing` + (tail.length ? `: ${tail.join(" | ")}` : "");
}

/** Writes one protocol message to stdout (in a child). */
export function sendToParent(message: unknown): void {
  console.log(encodeMessage(message));
}

/**
 * The child's side of its stdin: the parent's commands as they come. When the parent closes
 * the pipe, or dies and the system closes it, the child exits at once (after `onClose`):
 * nothing it could still do has anyone to report to.
 */
export function parentChannel<Command>(
  onClose: () => void | Promise<void> = () => {},
): AsyncGenerator<Command> {
  const queue: Command[] = [];
  let wake: (() => void) | undefined;
  (async () => {
    try {
      for await (const line of lines(Deno.stdin.readable)) {
        const command = decodeMessage(line);
        if (command === undefined) continue;
        queue.push(command as Command);
        wake?.();
      }
    } catch { /* a broken pipe is a closed one */ }
    await onClose();
    Deno.exit(0);
  })();
  return (async function* () {
    while (true) {
      while (queue.length > 0) yield queue.shift()!;
      await new Promise<void>((resolve) => wake = resolve);
    }
  })();
}

/**
 * A child's refusal of the run (a bad fixture, an unknown case), carried to the parent under
 * the child's error name (`FixtureError`, `WeightsFileError`, `UsageError`).
 */
export class ChildRefusal extends Error {
  constructor(override readonly name: string, message: string) {
    super(message);
  }
}

/**
 * What the children of conform and bench say: a plan, rows, a summary, the end or a failure;
 * and `ready`, from a held child ({@link HeldAdapterChild}) that has loaded and waits for `go`.
 */
export type RunMessage<Plan, Summary, Result> =
  | { type: "plan"; plan: Plan }
  | { type: "ready" }
  | { type: "adapter"; summary: Summary }
  | { type: "result"; result: Result }
  | { type: "failed"; name: string; message: string }
  | { type: "done" };

/**
 * Starts a plan child and waits for its plan. Throws the child's refusal of the run (a
 * `UsageError` as such, any other error as a {@link ChildRefusal} of its name), and an `Error`
 * saying how it ended when it sends nothing.
 */
export async function planInChild<Plan>(options: SpawnOptions): Promise<Plan> {
  const child = new ChildProcess<RunMessage<Plan, unknown, unknown>>(options);
  let plan: Plan | undefined;
  let failure: ChildRefusal | undefined;
  for await (const message of child.messages()) {
    if (message.type === "plan") plan = message.plan;
    if (message.type === "failed") failure = new ChildRefusal(message.name, message.message);
  }
  const end = await child.close();
  // A bad flag is a bad flag wherever it was found.
  if (failure?.name === "UsageError") throw new UsageError(failure.message);
  if (failure) throw failure;
  if (plan === undefined) throw new Error(describeEnd(end, options.timeoutMs, options.label));
  return plan;
}

/** What one adapter's child gave: its rows, and its summary unless it failed. */
export interface AdapterRun<Summary, Result> {
  summary?: Summary;
  results: Result[];
  /** why it did not finish: a crash, a kill, a refusal; undefined when it did */
  failure?: string;
}

type AdapterMessage<Summary, Result> = RunMessage<never, Summary, Result>;

/** Runs an adapter's child to its end, passing each row on as it comes. */
export function runAdapterChild<Summary, Result>(
  options: SpawnOptions,
  onResult: (result: Result) => void,
): Promise<AdapterRun<Summary, Result>> {
  const child = new ChildProcess<AdapterMessage<Summary, Result>>(options);
  return finishRun(child, [], onResult, options.timeoutMs);
}

/** The command that lets a held child go on from `ready` (see {@link waitForGo}). */
export const GO = { type: "go" } as const;

/**
 * An adapter's child started before its turn, so that it loads (Deno, its modules, its cases,
 * its adapter's runtime) while nothing is timed: it says `ready` and waits; `run` lets it go and
 * collects it as {@link runAdapterChild} does. The child must call {@link waitForGo}.
 */
export class HeldAdapterChild<Summary, Result> {
  #child: ChildProcess<AdapterMessage<Summary, Result>, typeof GO>;
  #early: AdapterMessage<Summary, Result>[] = [];
  /** resolves when the child is ready, or has ended without (its messages are kept) */
  readonly ready: Promise<void>;

  constructor(readonly options: SpawnOptions) {
    this.#child = new ChildProcess(options);
    const messages = this.#child.messages();
    // next(), not for-await: leaving a for-await loop would close the child's message stream
    this.ready = (async () => {
      while (true) {
        const next = await messages.next();
        if (next.done || next.value.type === "ready") return;
        this.#early.push(next.value);
      }
    })();
  }

  /** Lets the child go once it is ready, and runs it to its end, each row on as it comes. */
  async run(onResult: (result: Result) => void): Promise<AdapterRun<Summary, Result>> {
    await this.ready;
    await this.#child.send(GO).catch(() => {}); // a child that has ended: its end says why
    return await finishRun(this.#child, this.#early, onResult, this.options.timeoutMs);
  }
}

/** Reads a child's messages (`early`: those read before) to its end, into its run. */
async function finishRun<Summary, Result>(
  child: ChildProcess<AdapterMessage<Summary, Result>, typeof GO>,
  early: readonly AdapterMessage<Summary, Result>[],
  onResult: (result: Result) => void,
  timeoutMs: number,
): Promise<AdapterRun<Summary, Result>> {
  const run: AdapterRun<Summary, Result> = { results: [] };
  let done = false;
  let failure = "";
  const take = (message: AdapterMessage<Summary, Result>) => {
    if (message.type === "adapter") run.summary = message.summary;
    else if (message.type === "done") done = true;
    else if (message.type === "failed") failure = `${message.name}: ${message.message}`;
    else if (message.type === "result") {
      run.results.push(message.result);
      onResult(message.result);
    }
  };
  early.forEach(take);
  for await (const message of child.messages()) take(message);
  const end = await child.close();
  if (done && end.code === 0 && run.summary !== undefined) return run;
  run.failure = failure ? `the adapter's process failed: ${failure}` : describeEnd(end, timeoutMs);
  return run;
}

/**
 * In a held child: says `ready` to the parent, then waits for its `go` on `commands` (the
 * channel {@link serveParent} gives its work).
 */
export async function waitForGo(commands: AsyncGenerator<unknown>): Promise<void> {
  sendToParent({ type: "ready" });
  while (true) {
    const next = await commands.next();
    if (next.done || (next.value as { type?: unknown })?.type === GO.type) return;
  }
}

/**
 * A child's whole life: exits when its parent goes (`parentChannel`), runs `work` (given the
 * parent's commands), sends any error it throws as a `failed` message (its name and message),
 * then exits, even if a hung call (an adapter's, a timed-out one) still holds the event loop
 * open.
 */
export async function serveParent(
  work: (commands: AsyncGenerator<unknown>) => Promise<void>,
): Promise<never> {
  const commands = parentChannel<unknown>();
  try {
    await work(commands);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    sendToParent({ type: "failed", name: e.name, message: e.message });
  }
  Deno.exit(0);
}

/** Errors that stop a run for bad input, by name (their classes load zod): no stack, status 2. */
const INPUT_ERRORS = ["FixtureError", "WeightsFileError"];

/**
 * Runs a task's `main` as `runMain` does, with a bad fixture or weights file (thrown here by
 * an in-process run, or refused by a child) printed as a clear error, without a stack.
 */
export function runTaskMain(main: () => Promise<number>): Promise<never> {
  return runMain(
    () =>
      main().catch((error) => {
        if (error instanceof Error && INPUT_ERRORS.includes(error.name)) {
          throw new ChildRefusal(error.name, error.message);
        }
        throw error;
      }),
    [ChildRefusal],
  );
}

/**
 * Adapter isolation: each adapter runs in a child `deno` process, so a crash (a native abort
 * in a GPU driver, say), a hang that outlives its time limit, or a lost device in one
 * adapter is reported as `error` for that adapter while the suite goes on with the others.
 *
 * The child prints its results as lines `@@condconv <json>` on stdout; anything else it
 * prints (library banners) is passed through to stderr.
 * @module
 */
import type { AdapterSummary } from "../results/adapter_summary.ts";
import type { ConformResult } from "../results/conformance.ts";

/** Marks the protocol lines among whatever else a child prints. */
export const LINE_PREFIX = "@@condconv ";

/** One protocol message. */
export type ChildMessage =
  | { type: "adapter"; summary: AdapterSummary }
  | { type: "result"; result: ConformResult }
  | { type: "done" };

/** Writes one protocol message to stdout (in the child). */
export function sendToParent(message: ChildMessage): void {
  console.log(LINE_PREFIX + JSON.stringify(message));
}

/** The lines of a byte stream, decoded as UTF-8, as they arrive. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of stream) {
    const chunk = decoder.decode(bytes, { stream: true });
    buffer += chunk;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) yield buffer;
}

/** What running one adapter in a child gave. */
export interface ChildRun {
  summary: AdapterSummary;
  results: ConformResult[];
}

/** Options of one child run. */
export interface ChildOptions {
  /** the child's entry module, relative to the working directory */
  script: string;
  adapterId: string;
  /** the ids of the targets the child checks, in order */
  targetIds: readonly string[];
  /** flags that tell the child what to check (`--case`s and `--fixtures`, or `--weights`) */
  childArgs: readonly string[];
  /** paths outside the working directory the child must read (a weights file) */
  extraReads?: readonly string[];
  /** per call (availability, prepare, run) inside the child */
  callTimeoutMs: number;
  /** for the whole child; it is killed after that */
  processTimeoutMs: number;
  onResult?: (result: ConformResult) => void;
}

/**
 * Runs one adapter over the cases in a child process. Never throws for what the adapter
 * does: a crash or a kill turns every case the child did not report into an `error`.
 */
export async function runAdapterInChild(options: ChildOptions): Promise<ChildRun> {
  const child = new Deno.Command("deno", {
    args: [
      "run",
      `--allow-read=${[".", ...(options.extraReads ?? [])].join(",")}`,
      "--allow-sys=cpus",
      "--allow-env",
      options.script,
      "--adapter",
      options.adapterId,
      "--timeout-ms",
      String(options.callTimeoutMs),
      ...options.childArgs,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killedForTime = false;
  const timer = setTimeout(() => {
    killedForTime = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, options.processTimeoutMs);
  const stderrTail: string[] = [];
  const stderrDone = (async () => {
    for await (const line of lines(child.stderr)) {
      stderrTail.push(line);
      if (stderrTail.length > 8) stderrTail.shift();
    }
  })();
  let summary: AdapterSummary | undefined;
  const results: ConformResult[] = [];
  let done = false;
  for await (const line of lines(child.stdout)) {
    if (!line.startsWith(LINE_PREFIX)) {
      if (line.trim()) console.error(`[${options.adapterId}] ${line}`);
      continue;
    }
    const message = JSON.parse(line.slice(LINE_PREFIX.length)) as ChildMessage;
    if (message.type === "adapter") summary = message.summary;
    else if (message.type === "done") done = true;
    else {
      results.push(message.result);
      options.onResult?.(message.result);
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  await stderrDone;
  if (done && status.success) {
    return { summary: summary!, results };
  }
  const how = killedForTime
    ? `was killed after ${options.processTimeoutMs} ms`
    : `exited with code ${status.code}${status.signal ? ` (${status.signal})` : ""}`;
  const tail = stderrTail.filter((l) => l.trim() && !l.includes("XDG_RUNTIME_DIR")).slice(-3);
  const reason = `the adapter's process ${how} before finishing` +
    (tail.length ? `: ${tail.join(" | ")}` : "");
  const reported = new Set(results.map((r) => r.case));
  for (const id of options.targetIds) {
    if (reported.has(id)) continue;
    const result: ConformResult = {
      adapter: options.adapterId,
      case: id,
      status: "error",
      reason,
    };
    results.push(result);
    options.onResult?.(result);
  }
  return {
    summary: summary ?? {
      id: options.adapterId,
      description: "",
      toleranceClass: "",
      available: false,
      reason,
    },
    results,
  };
}

/**
 * Lock-step timing of two source trees for the speed gate.
 *
 * One timing worker (`worker.ts`) per side runs the same adapter over the same cases,
 * each in its own `deno` process with its own tree's `deno.json`, so that a dependency
 * upgrade is measured as such. The two workers prepare their layers once; then, case by case,
 * the gate asks them in turn for short blocks of runs, A B B A A B ..., and only one of them
 * is ever running. Whatever slows the machine down for a while (another tenant, a frequency
 * change) lands on both sides alike, instead of on whichever side happened to run then.
 * @module
 */
import { median } from "./stats.ts";
import { adapterChildPermissions, ChildProcess } from "../_shared/child.ts";
import type { WorkerCase, WorkerCommand, WorkerMessage } from "./worker.ts";
import type { Side, SideCase } from "../results/gate.ts";

/** Settings of one lock-step round. */
export interface LockstepOptions {
  /** absolute paths of the two source trees */
  trees: Record<Side, string>;
  /** the working tree's fixtures folder (absolute): both sides run the same cases */
  fixturesDir: string;
  adapter: string;
  cases: readonly string[];
  /** alternations per case: each side gets this many blocks */
  blocks: number;
  /** the time one block of runs takes, about (ms) */
  blockMs: number;
  /** warm-up per side and case before any block counts (ms, at least 3 runs) */
  warmupMs: number;
  /** a worker that takes longer than this to answer one request is killed (ms) */
  timeoutMs: number;
}

/** One round: per case, both sides; and what each side's adapter said of itself. */
export interface LockstepRound {
  cases: Map<string, Record<Side, SideCase>>;
  /** availability info (library versions, threads, device) per side, where it started */
  info: Partial<Record<Side, Record<string, unknown>>>;
}

/** A worker that died, hung or failed: which side, and how. */
export class WorkerError extends Error {
  override name = "WorkerError";
  constructor(readonly side: Side, message: string) {
    super(message);
  }
}

/** A timing worker process, driven one request at a time. */
class TimingWorker {
  #child: ChildProcess<WorkerMessage, WorkerCommand>;
  #messages: AsyncGenerator<WorkerMessage>;
  #timeoutMs: number;

  constructor(readonly side: Side, options: LockstepOptions) {
    const tree = options.trees[side];
    const worker = new URL("./worker.ts", import.meta.url).pathname;
    this.#timeoutMs = options.timeoutMs;
    this.#child = new ChildProcess<WorkerMessage, WorkerCommand>({
      script: worker,
      cwd: tree,
      config: `${tree}/deno.json`,
      permissions: adapterChildPermissions(
        options.adapter,
        [tree, options.fixturesDir, worker],
        tree,
      ),
      label: `${side} worker`,
      args: [
        "--tree",
        tree,
        "--fixtures",
        options.fixturesDir,
        "--adapter",
        options.adapter,
        ...options.cases.flatMap((c) => ["--case", c]),
        "--timeout-ms",
        String(options.timeoutMs),
      ],
      // one round at most; each request has its own, shorter limit below
      timeoutMs: options.timeoutMs * (4 + 2 * options.cases.length * (options.blocks + 2)),
    });
    this.#messages = this.#child.messages();
  }

  /** The next message, or an error naming how the worker ended or hung. */
  async #next(what: string): Promise<WorkerMessage> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#timeoutMs);
    });
    const next = await Promise.race([this.#messages.next(), timeout]);
    clearTimeout(timer);
    if (next === "timeout") {
      this.kill();
      throw new WorkerError(
        this.side,
        `the ${this.side} worker took longer than ${this.#timeoutMs} ms (${what})`,
      );
    }
    if (next.done) {
      const end = await this.#child.end();
      const tail = end.stderrTail.slice(-3);
      throw new WorkerError(
        this.side,
        `the ${this.side} worker exited with code ${end.code} (${what})` +
          (tail.length ? `: ${tail.join(" | ")}` : ""),
      );
    }
    if (next.value.type === "failed") {
      throw new WorkerError(
        this.side,
        `the ${this.side} worker failed (${what}): ${next.value.reason}`,
      );
    }
    return next.value;
  }

  /** Waits for the worker's report on every case. */
  async ready(): Promise<{ cases: WorkerCase[]; info?: Record<string, unknown> }> {
    const message = await this.#next("preparing");
    if (message.type !== "ready") {
      throw new WorkerError(this.side, `unexpected ${message.type} message`);
    }
    return message;
  }

  /** Times `runs` runs of case `index`. */
  async time(index: number, runs: number): Promise<number[]> {
    await this.#child.send({ time: index, runs });
    const message = await this.#next(`timing case ${index}`);
    if (message.type !== "samples") {
      throw new WorkerError(this.side, `unexpected ${message.type} message`);
    }
    return message.ms;
  }

  kill(): void {
    this.#child.kill();
  }

  /** Closes stdin and waits for the worker to exit (killing it after the timeout). */
  async close(): Promise<void> {
    const timer = setTimeout(() => this.kill(), this.#timeoutMs);
    await this.#child.close();
    clearTimeout(timer);
  }
}

/**
 * One round: both workers started, every case timed in alternating blocks. A case that is
 * not ready on a side (skipped, wrong, failing) has that side's status and no blocks; a base
 * worker that cannot start at all (an adapter the base revision does not have) marks every
 * case so. Throws a `WorkerError` naming the side when the head worker cannot start or a
 * worker dies while timing.
 */
export async function lockstepRound(options: LockstepOptions): Promise<LockstepRound> {
  const workers = {
    head: new TimingWorker("head", options),
    base: new TimingWorker("base", options),
  };
  const round: LockstepRound = { cases: new Map(), info: {} };
  try {
    const [head, base] = await Promise.allSettled([workers.head.ready(), workers.base.ready()]);
    if (head.status === "rejected") throw head.reason;
    const headCases = head.value.cases;
    round.info.head = head.value.info;
    if (base.status === "fulfilled") round.info.base = base.value.info;
    const baseCases = base.status === "fulfilled"
      ? base.value.cases
      : options.cases.map((id): WorkerCase => ({
        case: id,
        status: "error",
        reason: base.reason instanceof Error ? base.reason.message : String(base.reason),
      }));
    for (const [index, id] of options.cases.entries()) {
      const side = (c: WorkerCase): SideCase => ({
        status: c.status,
        ...(c.reason === undefined ? {} : { reason: c.reason }),
        blocks: [],
        runs: 0,
      });
      const entry = { head: side(headCases[index]), base: side(baseCases[index]) };
      round.cases.set(id, entry);
      if (entry.head.status !== "ready" || entry.base.status !== "ready") continue;
      const firstRunMs = Math.max(headCases[index].firstRunMs!, baseCases[index].firstRunMs!);
      const warmupRuns = Math.max(3, Math.ceil(options.warmupMs / Math.max(firstRunMs, 1e-3)));
      const warm = await workers.head.time(index, warmupRuns);
      await workers.base.time(index, warmupRuns);
      const runs = Math.max(1, Math.round(options.blockMs / Math.max(median(warm), 1e-3)));
      for (let block = 0; block < options.blocks; block++) {
        const order: Side[] = block % 2 === 0 ? ["head", "base"] : ["base", "head"];
        for (const s of order) {
          entry[s].blocks.push(median(await workers[s].time(index, runs)));
          entry[s].runs = runs;
        }
      }
    }
  } finally {
    await Promise.all([workers.head.close(), workers.base.close()]);
  }
  return round;
}

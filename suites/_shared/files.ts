/**
 * Writing reports so that an interrupted run never leaves a truncated one.
 * @module
 */
import { UsageError } from "./usage_error.ts";

/** Writes `text` to `path` through a temporary file and a rename (atomic on one filesystem). */
export async function writeTextAtomic(path: string, text: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Writes `value` as indented JSON, atomically. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeTextAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Checks before a run that `path` (as `resolved`, when given) may be written, so a long run
 * does not end in a permission error. Throws a `UsageError` naming the flag.
 */
export async function assertWritable(path: string, flag: string, resolved = path): Promise<void> {
  if (flag === "json" && path === "-") return; // stdout (`--json -`)
  const { state } = await Deno.permissions.query({ name: "write", path: resolved });
  if (state !== "granted") {
    throw new UsageError(
      `Cannot write --${flag} "${path}": this task may write only where its --allow-write ` +
        "permission allows (reports/); choose a path there",
    );
  }
}

/** Where the tasks write inside the project: everything else there is the suite's own. */
export const REPORTS_DIR = "reports";

/**
 * The tracked files inside `reports/` (kept equal to `git ls-files reports` by a test): a task
 * may replace one only when it generates it (`owned`).
 */
export const TRACKED_REPORTS: Readonly<Record<string, string>> = {
  "reports/accepted_changes.json": "the gate's accepted slowdowns (configuration)",
  "reports/RESULTS.md": "the published results, written by `deno task report`",
  "reports/.gitkeep": "keeps the folder in git",
};

/** Options of `checkOutputPaths`. */
export interface OutputPathOptions {
  /**
   * Tracked files this task generates and may replace (`report`: `reports/RESULTS.md`, and
   * `README.md` when asked to publish), relative to the project folder.
   */
  owned?: readonly string[];
  /** the project folder; default the working directory */
  root?: string;
}

/** `path` absolute, without `.`, `..` or repeated slashes (no symlinks resolved). */
function normalize(path: string, root: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${root}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/** What is at `path`: a file, a folder, nothing, or unknown (not readable under the permissions). */
async function kindOf(path: string): Promise<"file" | "folder" | "none" | "unknown"> {
  const { state } = await Deno.permissions.query({ name: "read", path });
  if (state !== "granted") return "unknown";
  try {
    return (await Deno.stat(path)).isDirectory ? "folder" : "file";
  } catch (error) {
    // a path under a file does not exist either (ENOTDIR): its ancestors tell why
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return "none";
    }
    throw error;
  }
}

/**
 * Checks every output path of a task before any work, so that a long run never ends in a
 * failed write or replaces what it must not. `outputs` maps each flag (without `--`) to its
 * path. Throws a `UsageError` naming the flag when a path
 * - is empty, ends in `/`, or is an existing folder (whatever its name, `x.json` included);
 * - lies under an existing file (`README.md/x.json`);
 * - is inside the project folder but outside `reports/` (the code, fixtures and
 *   configuration the suite reads), or is a tracked file in `reports/`
 *   (`TRACKED_REPORTS`), unless the task generates it (`options.owned`);
 * - is the same file as another output of the same task;
 * - may not be written under the task's `--allow-write` (`assertWritable`).
 * Paths outside the project are the caller's own; a folder there that the task may not read
 * cannot be seen and is not refused.
 *
 * @example
 * ```ts ignore
 * await checkOutputPaths({ json: flags.json ?? "reports/bench.json", markdown: mdPath });
 * ```
 */
export async function checkOutputPaths(
  outputs: Readonly<Record<string, string>>,
  options: OutputPathOptions = {},
): Promise<void> {
  const root = normalize(options.root ?? Deno.cwd(), "/");
  const owned = new Set((options.owned ?? []).map((p) => normalize(p, root)));
  const reports = normalize(REPORTS_DIR, root);
  const seen = new Map<string, string>();
  for (const [flag, path] of Object.entries(outputs)) {
    if (flag === "json" && path === "-") continue; // stdout (`--json -`)
    const refuse = (why: string): never => {
      throw new UsageError(`Cannot write --${flag} "${path}": ${why}`);
    };
    if (path.trim() === "") refuse("the path is empty; give a file path");
    if (path.endsWith("/")) refuse("it names a folder; give a file path");
    const full = normalize(path, root);
    if ((await kindOf(full)) === "folder") {
      refuse(`it is a folder; give a file path inside it, such as "${path}/out.json"`);
    }
    for (let dir = full.slice(0, full.lastIndexOf("/")); dir !== "";) {
      const kind = await kindOf(dir);
      if (kind === "file") {
        const shown = dir.startsWith(`${root}/`) ? dir.slice(root.length + 1) : dir;
        refuse(`"${shown}" is a file, not a folder`);
      }
      if (kind !== "none") break;
      dir = dir.slice(0, dir.lastIndexOf("/"));
    }
    const relative = full.startsWith(`${root}/`) ? full.slice(root.length + 1) : undefined;
    if (relative !== undefined && !owned.has(full)) {
      if (!full.startsWith(`${reports}/`)) {
        refuse(
          `it is inside the project, whose files the suite reads; tasks write only under ` +
            `${REPORTS_DIR}/ or outside the project`,
        );
      }
      const tracked = TRACKED_REPORTS[relative];
      if (tracked) refuse(`it is tracked: ${tracked}; choose another file name`);
    }
    const other = seen.get(full);
    if (other) refuse(`--${other} writes the same file; give each output its own path`);
    seen.set(full, flag);
    await assertWritable(path, flag, full);
  }
}

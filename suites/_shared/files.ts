/**
 * Writing reports so that an interrupted run never leaves a truncated one.
 * @module
 */
import { UsageError } from "./cli.ts";

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
 * Checks before a run that `path` may be written, so a long run does not end in a permission
 * error. Throws a `UsageError` naming the flag.
 */
export async function assertWritable(path: string, flag: string): Promise<void> {
  const { state } = await Deno.permissions.query({ name: "write", path });
  if (state !== "granted") {
    throw new UsageError(
      `Cannot write --${flag} "${path}": this task may write only where its --allow-write ` +
        "permission allows (reports/); choose a path there",
    );
  }
}

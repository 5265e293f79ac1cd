/**
 * Command-line helpers shared by the tasks: flag parsing with clear errors, id filters.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { reserveStdoutForJson, STDOUT_PATH } from "./terminal.ts";
import { UsageError } from "./usage_error.ts";

export { UsageError };

/** Parses `args` strictly: an unknown flag or a missing value is a `UsageError`. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const known = Object.keys(options).map((name) => `--${name}`).join(", ");
    throw new UsageError(`${(error as Error).message} (known flags: ${known})`);
  }
}

/**
 * A task's flags, parsed as `parseFlags` does, with `--help` added: on `--help` it prints
 * `usage` and gives `undefined` (the task then exits 0). `--json -` keeps stdout for the
 * JSON report: the human output goes to stderr from then on (`terminal.ts`). Every call
 * records its `usage` and flags in {@link TASK_SPECS}, where a test compares the two.
 */
export function parseTaskFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  usage: string,
) {
  const task = usage.split(/\s/, 3).join(" ");
  TASK_SPECS.set(task, { usage, flags: Object.keys(options) });
  const flags = parseFlags(args, { ...options, help: { type: "boolean" as const } });
  if ((flags as { help?: boolean }).help) {
    console.log(usage);
    return undefined;
  }
  if ((flags as { json?: unknown }).json === STDOUT_PATH) reserveStdoutForJson();
  return flags;
}

/** A task's usage text and the flags its parser accepts (`--help` aside). */
export interface TaskSpec {
  usage: string;
  flags: string[];
}

/** Each task parsed in this process, by its usage's first words (`deno task conform`). */
export const TASK_SPECS: Map<string, TaskSpec> = new Map();

/**
 * What `usage` gets wrong about `flags`: a flag missing from the synopsis (the lines before
 * the first blank line) or from the explanations (lines that start with `  --flag`), or a
 * flag named in either that the parser does not accept. Empty when the two agree.
 */
export function usageMismatches(spec: TaskSpec): string[] {
  const [synopsis, ...rest] = spec.usage.split(/\n\s*\n/);
  const explained = rest.join("\n").split("\n")
    .flatMap((line) => /^ {2}(--[a-z0-9-]+(?:, --[a-z0-9-]+)*)/.exec(line)?.[1].split(", ") ?? [])
    .map((f) => f.slice(2));
  const named = [...synopsis.matchAll(/--([a-z0-9-]+)/g)].map((m) => m[1]);
  const accepted = new Set([...spec.flags, "help"]);
  const problems: string[] = [];
  for (const flag of spec.flags) {
    if (!named.includes(flag)) problems.push(`--${flag} is missing from the synopsis`);
    if (!explained.includes(flag)) problems.push(`--${flag} is not explained`);
  }
  for (const flag of new Set([...named, ...explained])) {
    if (!accepted.has(flag)) problems.push(`--${flag} is in the usage but not accepted`);
  }
  return problems;
}

/**
 * The longest delay `setTimeout` honours, 2^31 - 1 ms (about 24.8 days): a longer one fires at
 * once. Every time flag is bounded by it, and deadlines derived from flags are clamped to it.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** `ms` as a timer delay: never above {@link MAX_TIMER_MS}, so it cannot overflow. */
export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}

/**
 * An integer flag's value: `fallback` when absent, else an integer in `[min, max]`. Anything
 * else is a `UsageError` naming the flag, the value and what is expected.
 */
export function integerFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  { min = 1, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    const expected = min === 1 ? "a positive integer" : `an integer of at least ${min}`;
    throw new UsageError(`Invalid --${flag} "${value}": expected ${expected}`);
  }
  if (n > max) throw new UsageError(`Invalid --${flag} "${value}": expected at most ${max}`);
  return n;
}

/**
 * A positive number flag's value (above 0, finite, at most `max`): `fallback` when absent.
 * Anything else is a `UsageError` naming the flag, the value and what is expected.
 */
export function positiveNumberFlag(
  value: string | undefined,
  flag: string,
  fallback: number,
  { max = Number.MAX_VALUE }: { max?: number } = {},
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || value.trim() === "") {
    throw new UsageError(`Invalid --${flag} "${value}": expected a positive number`);
  }
  if (n > max) throw new UsageError(`Invalid --${flag} "${value}": expected at most ${max}`);
  return n;
}

/** A glob with `*` and `?` as a whole-string regular expression. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
    /\?/g,
    ".",
  );
  return new RegExp(`^${escaped}$`);
}

/**
 * The items whose id matches any of `patterns` (ids or globs), in their original order;
 * all items when there are no patterns. A pattern that matches nothing is a `UsageError`
 * naming the flag and listing what exists.
 */
export function selectByIds<T extends { id: string }>(
  items: readonly T[],
  patterns: readonly string[],
  flag: string,
): T[] {
  if (patterns.length === 0) return [...items];
  const regexps = patterns.map((p) => [p, globToRegExp(p)] as const);
  for (const [pattern, regexp] of regexps) {
    if (!items.some((item) => regexp.test(item.id))) {
      const ids = items.map((i) => i.id);
      const shown = ids.length > 12 ? `${ids.slice(0, 12).join(", ")}, ...` : ids.join(", ");
      throw new UsageError(`Unknown ${flag} "${pattern}": it matches none of ${shown}`);
    }
  }
  return items.filter((item) => regexps.some(([, regexp]) => regexp.test(item.id)));
}

/** Runs `main`, printing a `UsageError` or a known error class without a stack. */
export async function runMain(
  main: () => Promise<number>,
  quiet: (new (...args: never[]) => Error)[] = [],
): Promise<never> {
  try {
    Deno.exit(await main());
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`error: ${error.message}`);
      Deno.exit(2);
    }
    if (quiet.some((cls) => error instanceof cls)) {
      console.error(`error: ${(error as Error).message}`);
      Deno.exit(2);
    }
    throw error;
  }
}

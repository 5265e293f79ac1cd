/**
 * Calls into an adapter: a time limit and a one-line message for what went wrong. No imports,
 * so that the gate's timing worker can use it without loading the working tree's adapters.
 * @module
 */

/** The longest one availability check, prepare or run may take before it counts as an error. */
export const CALL_TIMEOUT_MS = 300_000;

/** The longest delay `setTimeout` honours (2^31 - 1 ms); a longer one would fire at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Rejects with a clear reason when `promise` takes longer than `ms` (beyond 2^31 - 1 ms, about
 * 24.8 days, it waits that long: a longer delay would overflow the timer and fire at once).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} took longer than ${ms} ms`)),
      Math.min(ms, MAX_DELAY_MS),
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `Name: message` of an error, or the thrown value as text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * Error text the adapters share. Runtime-neutral and import-free.
 * @module
 */

/**
 * `Name: message` of an error (so a `RangeError` or an `OperationError` stays one), or the
 * thrown value as text.
 *
 * @example
 * ```ts
 * import { messageOf } from "./_errors.ts";
 * console.assert(messageOf(new RangeError("too big")) === "RangeError: too big");
 * console.assert(messageOf("plain") === "plain");
 * ```
 */
export function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

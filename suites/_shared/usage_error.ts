/**
 * The error of a bad flag or filter, in a module of its own so that every task helper can throw
 * it without importing the flag parser.
 * @module
 */

/** A bad flag or filter: printed without a stack, exit status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

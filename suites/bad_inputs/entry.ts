/**
 * What every table of the bad-input catalogue (`catalogue.ts`) shares: an entry (a bad input
 * and the exact error it must raise) and the assertion that checks one.
 * @module
 */
import assert from "node:assert/strict";
import { z } from "zod";

/** tfjs, onnxruntime-web and the WebGPU adapters keep their runtimes for the process's life. */
export const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

/** An error's class. */
export type ErrorClass = new (...args: never[]) => Error;

/** One bad input and the error it must raise. */
export interface Entry {
  name: string;
  error: ErrorClass;
  message: RegExp;
}

/** Asserts that `act` throws or rejects with exactly `entry`'s class and message. */
export async function assertRejects(entry: Entry, act: () => unknown, where = "") {
  let thrown: unknown;
  try {
    await act();
  } catch (error) {
    thrown = error;
  }
  const label = `${entry.name}${where}`;
  assert.ok(thrown !== undefined, `${label}: expected ${entry.error.name}, nothing was thrown`);
  assert.ok(
    thrown instanceof entry.error,
    `${label}: expected ${entry.error.name}, got ${String(thrown)}`,
  );
  // a ZodError's message is its issues as JSON (quotes escaped): match the issues' own text
  const text = thrown instanceof z.ZodError
    ? thrown.issues.map((i) => i.message).join("\n")
    : (thrown as Error).message;
  assert.match(text, entry.message, label);
}

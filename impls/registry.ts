/**
 * Every adapter, listed by hand (no directory scanning). Add a line here to register one.
 * @module
 */
import type { CondConvAdapter } from "./adapter.ts";
import { referenceAdapter } from "./reference.ts";

/** All registered adapters, in the order reports list them. */
export const ADAPTERS: readonly CondConvAdapter[] = [
  referenceAdapter,
];

/**
 * bench's sample limits, in a module with no imports: the task's own process (which must not
 * load mitata) prints them in its usage, and `measure.ts` applies them.
 * @module
 */

/** The most warm samples one measurement takes. */
export const MAX_SAMPLES = 2000;

/** The fewest warm samples any measurement takes. */
export const MIN_SAMPLES_FLOOR = 3;

/**
 * The environment block every result file carries: runtime, machine and versions of one run.
 * @module
 */
import { z } from "zod";

/** Runtime, machine and version facts of one run. */
export const Environment = z.object({
  /** when the run started, ISO 8601 */
  date: z.string().min(1),
  deno: z.string(),
  v8: z.string(),
  typescript: z.string(),
  os: z.string(),
  arch: z.string(),
  cpuModel: z.string().nullable(),
  logicalCores: z.number().int().nonnegative(),
  gitCommit: z.string().nullable(),
  /** npm packages and versions from deno.json's import map */
  packages: z.record(z.string(), z.string()),
});
/** Runtime, machine and version facts of one run. */
export type Environment = z.infer<typeof Environment>;

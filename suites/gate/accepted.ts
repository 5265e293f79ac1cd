/**
 * The gate's accepted-changes file (`reports/accepted_changes.json`): slowdowns let through on
 * purpose, each with a reason. Run as a child, it loads one file and sends it back (or the
 * error that stops the gate): the gate's own process loads no zod.
 *
 * ```
 * deno run --allow-read suites/gate/accepted.ts --accepted=<file>
 * ```
 * @module
 */
import { z } from "zod";
import { parseFlags, UsageError } from "../_shared/cli.ts";
import { sendToParent, serveParent } from "../_shared/child.ts";

/** A slowdown let through on purpose. */
export const AcceptedChange = z.strictObject({
  /** adapter id or glob */
  adapter: z.string().min(1),
  /** bench case id (`<golden id>@b<batch>`) or glob */
  case: z.string().min(1),
  /** the largest head/base ratio accepted, e.g. 1.3 */
  maxRatio: z.number().gt(1),
  reason: z.string().min(10, { message: "say why the slowdown is accepted" }),
});
/** The accepted-changes file. */
export const AcceptedChanges = z.strictObject({ accepted: z.array(AcceptedChange) });
/** A parsed accepted-changes file. */
export type AcceptedChanges = z.infer<typeof AcceptedChanges>;

/** Loads the accepted-changes file; a missing file accepts nothing. */
export async function loadAccepted(path: string): Promise<AcceptedChanges> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { accepted: [] };
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot load accepted changes "${path}": invalid JSON: ${error}`);
  }
  const parsed = AcceptedChanges.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(
      `Cannot load accepted changes "${path}":\n${z.prettifyError(parsed.error)}`,
    );
  }
  return parsed.data;
}

if (import.meta.main) {
  await serveParent(async () => {
    const flags = parseFlags(Deno.args, { accepted: { type: "string" } });
    sendToParent({ type: "plan", plan: await loadAccepted(flags.accepted ?? "") });
  });
}

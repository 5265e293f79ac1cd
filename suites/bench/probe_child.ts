/**
 * The roofline probe's child process: `--options=JSON` (`measureMachineLimits`'s options)
 * measures the machine's limits and sends them as its one `plan` message. Started by
 * `probe.ts`, with read access only; exits when its parent closes stdin or dies.
 * @module
 */
import { parseFlags } from "../_shared/cli.ts";
import { sendToParent, serveParent } from "../_shared/child.ts";
import { measureMachineLimits } from "./roofline.ts";

if (import.meta.main) {
  await serveParent(async () => {
    const flags = parseFlags(Deno.args, { options: { type: "string" } });
    let options: unknown;
    try {
      options = JSON.parse(flags.options ?? "{}");
    } catch (error) {
      throw new TypeError(`Invalid --options: not JSON (${(error as Error).message})`);
    }
    const limits = await measureMachineLimits(options as Record<string, number>);
    sendToParent({ type: "plan", plan: limits });
  });
}

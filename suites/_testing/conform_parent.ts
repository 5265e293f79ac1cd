/**
 * Test helper: `conform` as its task runs it (revoking `run` before an in-process run loads
 * adapters), over the adapters of `hostile_child.ts`, in a process a test can kill.
 * @module
 */
import { conformMain } from "../conform.ts";
import { HOSTILE_ADAPTERS } from "./hostile_child.ts";

if (import.meta.main) {
  Deno.exit(
    await conformMain(Deno.args, {
      adapters: HOSTILE_ADAPTERS,
      childScript: Deno.args.includes("--in-process")
        ? undefined
        : "suites/_testing/hostile_child.ts",
      revokeRunBeforeLoading: true,
    }),
  );
}

/**
 * Test helper: adapters that misuse their process, for the isolation and permission tests
 * (`suites/process_test.ts`), and a conform child that knows them.
 *
 * - `non-finite`: the reference with one output element made +Infinity;
 * - `escaping`: tries to start `deno eval` (to write a marker file with every permission)
 *   and to write a file itself; each attempt's outcome is its error message;
 * - `lingering`: prints its pid, then hangs in prepare (to see whether it outlives its parent).
 *
 * The marker path comes from `CONDCONV_ESCAPE_MARKER` (a path under /tmp).
 * @module
 */
import type { CondConvAdapter } from "../../impls/adapter.ts";
import { referenceAdapter } from "../../impls/reference.ts";
import { conformChild } from "../conform/child.ts";
import { editedReference } from "./adapters.ts";

async function attempt(what: string, action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
    return `${what}: ALLOWED`;
  } catch (error) {
    return `${what}: ${(error as Error).name}`;
  }
}

const escaping: CondConvAdapter = {
  ...referenceAdapter,
  id: "escaping",
  async prepare() {
    const marker = Deno.env.get("CONDCONV_ESCAPE_MARKER") ?? "/tmp/condconv-escape-marker";
    const outcomes = [
      await attempt("run", () =>
        new Deno.Command("deno", {
          args: ["eval", `Deno.writeTextFileSync(${JSON.stringify(marker)}, "escaped")`],
        }).output()),
      await attempt("write", () => Deno.writeTextFile(`${marker}.direct`, "escaped")),
      await attempt("request", async () => {
        const status = await Deno.permissions.request({ name: "run", command: "deno" });
        if (status.state !== "granted") throw new Deno.errors.NotCapable("not granted");
      }),
    ];
    throw new Error(`escape attempts: ${outcomes.join(", ")}`);
  },
};

const lingering: CondConvAdapter = {
  ...referenceAdapter,
  id: "lingering",
  prepare() {
    console.log(`lingering pid ${Deno.pid}`);
    return new Promise(() => {});
  },
};

/** The adapters this child knows. */
export const HOSTILE_ADAPTERS: readonly CondConvAdapter[] = [
  referenceAdapter,
  editedReference("non-finite", (data) => data[0] = Infinity),
  escaping,
  lingering,
];

if (import.meta.main) await conformChild(Deno.args, HOSTILE_ADAPTERS);

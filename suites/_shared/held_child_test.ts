import assert from "node:assert/strict";
import { HeldAdapterChild } from "./child.ts";

const CHILD_MODULE = new URL("./child.ts", import.meta.url).href;

/**
 * A held child's script in a temporary folder: `before` runs before `waitForGo`; after `go` it
 * sends the time it went on, one row and its end.
 */
async function heldScript(dir: string, before = ""): Promise<string> {
  const path = `${dir}/held.ts`;
  await Deno.writeTextFile(
    path,
    `import { sendToParent, serveParent, waitForGo } from "${CHILD_MODULE}";
await serveParent(async (commands) => {
  ${before}
  await waitForGo(commands);
  sendToParent({ type: "result", result: { wentOnAt: Date.now() } });
  sendToParent({ type: "adapter", summary: { id: "held" } });
  sendToParent({ type: "done" });
});
`,
  );
  return path;
}

function held(script: string, dir: string) {
  return new HeldAdapterChild<{ id: string }, { wentOnAt: number }>({
    script,
    args: [],
    permissions: { read: [".", dir] },
    label: "held test child",
    timeoutMs: 60_000,
  });
}

Deno.test("a held child is ready after loading and goes on only when let go", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = held(await heldScript(dir), dir);
    await child.ready;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const letGo = Date.now();
    const rows: { wentOnAt: number }[] = [];
    const run = await child.run((row) => rows.push(row));
    assert.equal(run.failure, undefined);
    assert.deepEqual(run.summary, { id: "held" });
    assert.equal(rows.length, 1);
    assert.ok(rows[0].wentOnAt >= letGo, "the child went on before it was let go");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a held child that fails before it is ready reports its failure, and keeps its rows", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const before = `sendToParent({ type: "result", result: { wentOnAt: 0 } });
  throw new RangeError("no such adapter here");`;
    const child = held(await heldScript(dir, before), dir);
    await child.ready;
    const rows: { wentOnAt: number }[] = [];
    const run = await child.run((row) => rows.push(row));
    assert.deepEqual(rows, [{ wentOnAt: 0 }]);
    assert.equal(run.summary, undefined);
    assert.match(run.failure!, /the adapter's process failed: RangeError: no such adapter here/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a held child that dies before it is ready is an error, not a hang", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const child = held(await heldScript(dir, "Deno.exit(3);"), dir);
    await child.ready;
    const run = await child.run(() => {});
    assert.match(run.failure!, /exited with code 3 before finishing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

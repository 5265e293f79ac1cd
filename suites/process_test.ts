/**
 * Child processes: one protocol that keeps non-finite numbers, permissions a child cannot
 * widen, paths that cannot widen them, children that die with their parent, and task
 * processes holding `--allow-run` that load no third-party code.
 * @module
 */
import assert from "node:assert/strict";
import { conformMain } from "./conform.ts";
import { decodeMessage, encodeMessage, lines } from "./_shared/protocol.ts";
import { assertPlainPath, childPermissionFlags } from "./_shared/child.ts";
import { HOSTILE_ADAPTERS } from "./_testing/hostile_child.ts";

const HOSTILE_CHILD = "suites/_testing/hostile_child.ts";

/** Runs `conformMain` and returns what it printed (stdout), besides its exit status. */
async function printedBy(run: () => Promise<number>): Promise<{ status: number; out: string }> {
  const log = console.log;
  const printed: string[] = [];
  console.log = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    return { status: await run(), out: printed.join("\n") };
  } finally {
    console.log = log;
  }
}

Deno.test("protocol lines keep Infinity, -Infinity and NaN as numbers", () => {
  const message = { worstRatio: Infinity, low: -Infinity, nan: NaN, list: [1, Infinity], x: 0 };
  const back = decodeMessage(encodeMessage(message)) as typeof message;
  assert.equal(back.worstRatio, Infinity);
  assert.equal(back.low, -Infinity);
  assert.ok(Number.isNaN(back.nan));
  assert.deepEqual(back.list, [1, Infinity]);
  assert.equal(decodeMessage("a library banner"), undefined);
  assert.throws(() => decodeMessage('@@condconv {"a": {"$nonFinite": "12"}}'), TypeError);
});

Deno.test("lines() splits a byte stream at newlines, across chunks and multi-byte characters", async () => {
  const bytes = new TextEncoder().encode("ab\ncé\n\nlast");
  const chunks = [bytes.slice(0, 1), bytes.slice(1, 5), bytes.slice(5)];
  const stream = ReadableStream.from(chunks);
  const got: string[] = [];
  for await (const line of lines(stream)) got.push(line);
  assert.deepEqual(got, ["ab", "cé", "", "last"]);
});

Deno.test("a non-finite failure reads the same from a child as in-process", async () => {
  const dir = await Deno.makeTempDir();
  const args = ["--adapter", "non-finite", "--case", "control", "--json", `${dir}/r.json`];
  const child = await printedBy(() =>
    conformMain(args, { adapters: HOSTILE_ADAPTERS, childScript: HOSTILE_CHILD })
  );
  const inProcess = await printedBy(() =>
    conformMain([...args, "--in-process"], { adapters: HOSTILE_ADAPTERS })
  );
  const row = (out: string) => out.split("\n").find((l) => l.startsWith("non-finite"))!;
  assert.equal(child.status, 1);
  assert.match(row(child.out), /FAIL\s+abs \S+\s+rel \S+\s+Infinity of tol\s+1 values non-finite/);
  assert.equal(row(child.out), row(inProcess.out));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("code in an adapter's process can neither start a process nor write a file", async () => {
  const dir = await Deno.makeTempDir();
  const marker = `${dir}/escaped`;
  Deno.env.set("CONDCONV_ESCAPE_MARKER", marker);
  try {
    const { out } = await printedBy(() =>
      conformMain(["--adapter", "escaping", "--case", "control", "--json", `${dir}/r.json`], {
        adapters: HOSTILE_ADAPTERS,
        childScript: HOSTILE_CHILD,
      })
    );
    assert.match(out, /escape attempts: run: NotCapable, write: NotCapable, request: NotCapable/);
    for (const path of [marker, `${marker}.direct`]) {
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound, `${path} was written`);
    }
  } finally {
    Deno.env.delete("CONDCONV_ESCAPE_MARKER");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("conform --in-process gives up its run permission before it loads any adapter", async () => {
  const dir = await Deno.makeTempDir();
  const json = `reports/.process-test-${crypto.randomUUID()}.json`;
  try {
    const output = await new Deno.Command("deno", {
      args: [
        "run",
        "--allow-read=.,/tmp",
        "--allow-write=reports",
        "--allow-env",
        "--allow-sys=cpus",
        "--allow-run=deno",
        "suites/_testing/conform_parent.ts",
        "--in-process",
        "--adapter",
        "escaping",
        "--case",
        "control",
        "--json",
        json,
      ],
      env: { CONDCONV_ESCAPE_MARKER: `${dir}/escaped` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const out = new TextDecoder().decode(output.stdout);
    assert.match(out, /escape attempts: run: NotCapable, write: NotCapable/);
    await assert.rejects(Deno.stat(`${dir}/escaped`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(json).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a child's permission flags deny everything but reading the paths given", () => {
  const flags = childPermissionFlags({ read: [".", "/tmp/w.safetensors"] });
  assert.ok(flags.includes("--no-prompt"));
  assert.ok(flags.includes("--allow-read=.,/tmp/w.safetensors"));
  for (const denied of ["--deny-run", "--deny-write", "--deny-net", "--deny-ffi"]) {
    assert.ok(flags.includes(denied), `${denied} missing`);
  }
  assert.ok(flags.some((f) => f.startsWith("--deny-import=") && f.includes("jsr.io:443")));
  assert.ok(!flags.some((f) => f.startsWith("--allow-run") || f.startsWith("--allow-write")));
});

Deno.test("a path that would widen a child's permissions is refused with the reason", async () => {
  assert.throws(() => assertPlainPath("w/a.safetensors,/etc", "--weights"), /with a comma/);
  assert.throws(() => assertPlainPath("-w.safetensors", "--weights"), /would be read as a flag/);
  assert.throws(() => childPermissionFlags({ read: [".", "a,/etc"] }), TypeError);
  await assert.rejects(
    conformMain(["--weights", "w/a.safetensors,/etc"]),
    /Invalid --weights "w\/a.safetensors,\/etc": a path with a comma cannot be granted/,
  );
  // A path starting with "-" is the file "./-..." (not a flag of the child): not found, by name.
  await assert.rejects(
    conformMain(["--weights=-w.safetensors", "--adapter", "reference"]),
    (error: Error) => {
      assert.equal(error.name, "WeightsFileError");
      assert.match(error.message, /Cannot load weights "\.\/-w\.safetensors": file not found/);
      return true;
    },
  );
});

/** True while process `pid` exists (asked of `deno eval`, which may read /proc). */
async function alive(pid: number): Promise<boolean> {
  const { code } = await new Deno.Command("deno", {
    args: ["eval", `Deno.statSync("/proc/${pid}")`],
    stderr: "null",
  }).output();
  return code === 0;
}

Deno.test("an adapter's process dies with conform's process when that is killed", async () => {
  const dir = await Deno.makeTempDir();
  const parent = new Deno.Command("deno", {
    args: [
      "run",
      "--allow-read=.,/tmp",
      "--allow-write=/tmp",
      "--allow-env",
      "--allow-sys=cpus",
      "--allow-run=deno",
      "suites/_testing/conform_parent.ts",
      "--adapter",
      "lingering",
      "--case",
      "control",
      "--timeout-ms",
      "60000",
      "--json",
      `${dir}/r.json`,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let pid = 0;
  for await (const line of lines(parent.stderr)) {
    const match = /lingering pid (\d+)/.exec(line);
    if (match) {
      pid = Number(match[1]);
      break;
    }
  }
  assert.ok(pid > 0, "the lingering adapter never started");
  assert.ok(await alive(pid), "the check for a live process does not work");
  parent.kill("SIGKILL");
  await parent.status;
  const deadline = performance.now() + 3000;
  while (await alive(pid) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(!(await alive(pid)), `the adapter's process ${pid} outlived its parent by 3 s`);
  await Deno.remove(dir, { recursive: true });
});

/**
 * The modules `entry` loads before it runs (static imports, transitively; `import type` and
 * dynamic imports not followed), from `deno info --json`.
 */
async function staticGraph(entry: string): Promise<string[]> {
  const output = await new Deno.Command("deno", { args: ["info", "--json", entry] }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout));
  const modules = new Map<
    string,
    { dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[] }
  >(
    info.modules.map((m: { specifier: string }) => [m.specifier, m]),
  );
  const resolve = (s: string) => info.redirects?.[s] ?? s;
  const seen = new Set<string>();
  const stack = info.roots.map(resolve);
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dep of modules.get(specifier)?.dependencies ?? []) {
      if (dep.code && !dep.isDynamic) stack.push(resolve(dep.code.specifier));
    }
  }
  return [...seen];
}

/** The entries that run with --allow-run (they start child processes). */
const ALLOW_RUN_ENTRIES = [
  "suites/conform.ts",
  "suites/bench.ts",
  "suites/gate.ts",
  "suites/gate_selftest.ts",
];

Deno.test("the processes that hold --allow-run load only this project's own code", async (t) => {
  for (const entry of ALLOW_RUN_ENTRIES) {
    await t.step(entry, async () => {
      const graph = await staticGraph(entry);
      const foreign = graph.filter((s) => !s.startsWith("file:") && !s.startsWith("node:"));
      assert.deepEqual(foreign, [], `${entry} loads third-party code`);
      assert.ok(graph.some((s) => s.endsWith("/suites/_shared/child.ts")));
    });
  }
});

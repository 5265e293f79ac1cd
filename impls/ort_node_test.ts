/**
 * `ort-node`: it matches the reference where it can load its addon (in a child with exactly the
 * permissions conform and bench give its process), says why where it cannot, records its
 * threads and version, and no other adapter's child is granted FFI.
 * @module
 */
import assert from "node:assert/strict";
import { ADAPTERS } from "./registry.ts";
import { createOrtNodeAdapter, ORT_NODE_VERSION, ortNodeAdapter } from "./ort_node.ts";
import { runtimeProblem } from "./_ort_node/runtime.ts";
import {
  ORT_NODE_ID,
  ORT_NODE_INSTALLED_VERSION,
  ortNodeAddonPath,
} from "../suites/_shared/native_addon.ts";
import { CHECKED_LAYERS } from "./_ort_node/test_child.ts";
import { adapterChildPermissions, childPermissionFlags } from "../suites/_shared/child.ts";

const CHILD = "impls/_ort_node/test_child.ts";

/** Runs `script` in a `deno run` child with `flags`; its stdout's last line, parsed. */
async function runChild(flags: string[], script: string): Promise<Record<string, unknown>> {
  const output = await new Deno.Command("deno", {
    args: ["run", ...flags, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim().split("\n");
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `the child failed: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout[stdout.length - 1]);
}

const addonHere = ortNodeAddonPath(Deno.build.os, Deno.build.arch);
const ortNodeFlags = childPermissionFlags(adapterChildPermissions(ORT_NODE_ID, ["."]));
/** One run of the checking child, shared by the tests that read it. */
let checked: Promise<Record<string, unknown>> | undefined;
const checkedChild = () => checked ??= runChild(ortNodeFlags, CHILD);

Deno.test("the FFI grant names ort-node's id and the onnxruntime-node version deno.json pins", async () => {
  assert.equal(ortNodeAdapter.id, ORT_NODE_ID);
  assert.equal(ORT_NODE_INSTALLED_VERSION, ORT_NODE_VERSION);
  const config = JSON.parse(await Deno.readTextFile("deno.json"));
  assert.equal(config.imports["onnxruntime-node"], `npm:onnxruntime-node@${ORT_NODE_VERSION}`);
});

Deno.test("only ort-node's child may load native code, and only onnxruntime-node's addon", () => {
  for (const adapter of ADAPTERS.filter((a) => a.id !== ORT_NODE_ID)) {
    const flags = childPermissionFlags(adapterChildPermissions(adapter.id, ["."]));
    assert.ok(flags.includes("--deny-ffi"), `${adapter.id}: --deny-ffi missing`);
    assert.ok(!flags.some((f) => f.startsWith("--allow-ffi")), `${adapter.id} is granted FFI`);
  }
  const granted = ortNodeFlags.filter((f) => f.startsWith("--allow-ffi"));
  assert.equal(granted.length, 1);
  const [path] = granted[0].slice("--allow-ffi=".length).split(",");
  assert.equal(granted[0], `--allow-ffi=${Deno.realPathSync(addonHere!)}`);
  assert.match(
    path,
    /\/onnxruntime-node\/bin\/napi-v6\/[a-z0-9]+\/[a-z0-9]+\/onnxruntime_binding\.node$/,
  );
  for (const denied of ["--deny-run", "--deny-write", "--deny-net"]) {
    assert.ok(ortNodeFlags.includes(denied), `${denied} missing`);
  }
  assert.throws(
    () => childPermissionFlags({ read: ["."], ffi: ["a.node,/lib/libc.so.6"] }),
    /Invalid native addon for a child process "a.node,\/lib\/libc.so.6": a path with a comma/,
  );
});

Deno.test("ort-node matches the reference on 1x1, depthwise, grouped and static layers at batch 1 and 8", async () => {
  const report = await checkedChild();
  const rows = report.rows as { name: string; ratios: number[] }[];
  assert.equal(rows.length, CHECKED_LAYERS.length + 1);
  for (const { name, ratios } of rows) {
    assert.equal(ratios.length, 2, name);
    // a ratio is the worst error in tolerances: at most 1 passes (Infinity is a failure)
    for (const [i, ratio] of ratios.entries()) {
      assert.ok(ratio <= 1, `${name} at batch ${[1, 8][i]}: ${ratio} of the tolerance`);
    }
  }
  assert.deepEqual(report.sessions, { ortSessions: 0 }, "every session released at dispose");
  // the grant is for the addon alone: any other library is refused
  assert.equal(report.otherLibrary, "NotCapable");
});

Deno.test("ort-node records its intra-op threads and onnxruntime-node's version", async () => {
  const report = await checkedChild();
  const one = report.one as { available: boolean; info: Record<string, unknown> };
  const all = report.all as { available: boolean; info: Record<string, unknown> };
  assert.ok(one.available && all.available);
  assert.equal(one.info.intraOpNumThreads, 1);
  assert.equal(all.info.intraOpNumThreads, report.cores);
  assert.equal(all.info.threads, report.cores);
  assert.equal(all.info.onnxruntimeNode, ORT_NODE_VERSION);
  assert.equal(all.info.executionProvider, "cpu");
  assert.equal(all.info.intraOpSpinning, true);
  assert.equal(
    createOrtNodeAdapter({ threads: 3 }).description.endsWith("3 intra-op threads"),
    true,
  );
  assert.throws(
    () => createOrtNodeAdapter({ threads: 0 }),
    /Invalid threads: expected a positive integer, got 0/,
  );
  assert.throws(() => createOrtNodeAdapter({ threads: 1.5 }), RangeError);
});

Deno.test("ort-node without FFI for its addon, or in a browser page, is unavailable with the reason", async () => {
  // every other adapter's child flags: --deny-ffi
  const flags = childPermissionFlags({ read: ["."] });
  const report = await runChild(flags, "impls/_ort_node/availability_child.ts");
  assert.equal(report.available, false);
  assert.match(
    String(report.reason),
    /^Error: Cannot load onnxruntime-node's native addon: NotCapable: Requires ffi access to ".*onnxruntime_binding\.node"/,
  );
  assert.equal(
    runtimeProblem({}),
    "onnxruntime-node is a Node-API addon: it runs in Deno or Node, not in a browser page",
  );
  assert.equal(runtimeProblem({ process: { versions: { node: "20.0.0" } } }), undefined);
});

Deno.test("ort-node's module bundles for a browser page without onnxruntime-node", async () => {
  // the browser page imports the registry (`suites/browser/build.ts` bundles it so)
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const args = ["bundle", "--quiet", "--platform", "browser", "--format", "esm", "-o", out];
    const output = await new Deno.Command("deno", {
      args: [...args, "impls/ort_node.ts"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const code = await Deno.readTextFile(out);
    assert.ok(code.includes("ortNodeAdapter"), "the adapter is in the bundle");
    assert.ok(!code.includes("onnxruntime_binding"), "onnxruntime-node's loader is in the bundle");
  } finally {
    await Deno.remove(out);
  }
});

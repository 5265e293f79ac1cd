import assert from "node:assert/strict";

/** One module of `deno info --json`: its specifier and what it imports (code and types). */
interface InfoModule {
  specifier: string;
  kind?: string;
  npmPackage?: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** The module graph `deno info --json` gives for `root`, with the project's import map. */
async function moduleGraph(root: string): Promise<InfoModule[]> {
  const output = await new Deno.Command("deno", {
    args: ["info", "--json", "--config", "deno.json", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`deno info ${root} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)).modules;
}

/** Every TypeScript file of the project (not node_modules, not generated reports). */
async function projectFiles(dir = "."): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) {
      if (["node_modules", "reports", "fixtures"].includes(entry.name)) continue;
      if (entry.name.startsWith(".")) continue;
      files.push(...await projectFiles(path));
    } else if (entry.name.endsWith(".ts")) {
      files.push(path);
    }
  }
  return files.sort();
}

/** The strongly connected components of more than one module (Tarjan), each sorted. */
function importCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || edges.get(node)?.includes(node)) cycles.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!index.has(node)) visit(node);
  return cycles;
}

Deno.test("importCycles finds a circle of two and of three, and none in a tree", () => {
  const graph = (pairs: [string, string[]][]) => new Map(pairs);
  assert.deepEqual(importCycles(graph([["a", ["b"]], ["b", ["a"]], ["c", ["a"]]])), [["a", "b"]]);
  assert.deepEqual(importCycles(graph([["a", ["b"]], ["b", ["c"]], ["c", ["a"]]])), [[
    "a",
    "b",
    "c",
  ]]);
  assert.deepEqual(importCycles(graph([["a", ["b", "c"]], ["b", ["c"]], ["c", []]])), []);
});

Deno.test("no import cycle among the project's own modules (code and type imports)", async () => {
  const root = new URL("../", import.meta.url).href;
  const dir = await Deno.makeTempDir({ prefix: "condconv-imports-" });
  try {
    // One root that imports every project file, so that one `deno info` sees the whole graph.
    const all = `${dir}/all.ts`;
    const files = await projectFiles();
    await Deno.writeTextFile(
      all,
      files.map((f) => `import "${new URL(f, root).href}";`).join("\n") + "\n",
    );
    const modules = await moduleGraph(all);
    const own = (specifier?: string) =>
      specifier !== undefined && specifier.startsWith(root) ? specifier : undefined;
    const edges = new Map<string, string[]>();
    for (const m of modules) {
      if (!own(m.specifier)) continue;
      const targets = (m.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
        .map(own).filter((s): s is string => s !== undefined);
      edges.set(m.specifier, [...new Set(targets)]);
    }
    assert.ok(edges.size >= files.length, `deno info saw ${edges.size} of ${files.length} files`);
    const cycles = importCycles(edges).map((c) => c.map((s) => s.slice(root.length)));
    assert.deepEqual(cycles, [], `import cycles: ${JSON.stringify(cycles)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task report loads neither tfjs nor onnxruntime-web, nor any adapter", async () => {
  const modules = await moduleGraph("suites/report.ts");
  const packages = modules.flatMap((m) => m.npmPackage ? [m.npmPackage] : []);
  const heavy = packages.filter((p) => /tensorflow|onnxruntime|onnx-proto|mitata/.test(p));
  assert.deepEqual(heavy, [], `suites/report.ts loads ${heavy.join(", ")}`);
  const adapters = modules.map((m) => m.specifier).filter((s) =>
    /\/impls\/(?!_webgpu\.ts$)/.test(s)
  );
  assert.deepEqual(adapters, [], `suites/report.ts loads adapter code: ${adapters.join(", ")}`);
});

Deno.test("the verify path is runtime-neutral: no registry, no Deno API in its graph", async () => {
  const root = new URL("../", import.meta.url).href;
  const modules = await moduleGraph("suites/_shared/verify.ts");
  const own = modules.filter((m) => m.specifier.startsWith(root));
  const registry = own.filter((m) => m.specifier.endsWith("/impls/registry.ts"));
  assert.deepEqual(registry, [], "suites/_shared/verify.ts loads the registry");
  const usingDeno: string[] = [];
  for (const m of own) {
    const text = await Deno.readTextFile(new URL(m.specifier));
    // code, not comments: a `Deno.` call outside a comment line
    if (text.split("\n").some((l) => /\bDeno\./.test(l) && !/^\s*(\*|\/\/)/.test(l))) {
      usingDeno.push(m.specifier.slice(root.length));
    }
  }
  assert.deepEqual(usingDeno, [], `modules of the verify path use Deno.*: ${usingDeno}`);
  const nodeBuiltins = modules.filter((m) => m.specifier.startsWith("node:"));
  assert.deepEqual(nodeBuiltins.map((m) => m.specifier), [], "node: built-ins are not web APIs");
});

/**
 * The environment a run happened in, recorded beside every result.
 * @module
 */
import os from "node:os";
import type { Environment } from "../results/environment.ts";

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

/** The commit checked out in `.git`, read from its files (no `git` process needed). */
export async function gitCommit(root = "."): Promise<string | null> {
  const head = (await readTextOrNull(`${root}/.git/HEAD`))?.trim();
  if (!head) return null;
  if (!head.startsWith("ref: ")) return head;
  const ref = head.slice(5);
  const loose = (await readTextOrNull(`${root}/.git/${ref}`))?.trim();
  if (loose) return loose;
  const packed = await readTextOrNull(`${root}/.git/packed-refs`);
  const line = packed?.split("\n").find((l) => l.endsWith(` ${ref}`));
  return line ? line.split(" ")[0] : null;
}

async function packageVersions(): Promise<Record<string, string>> {
  const text = await readTextOrNull("deno.json");
  if (!text) return {};
  const imports: Record<string, string> = JSON.parse(text).imports ?? {};
  const versions: Record<string, string> = {};
  for (const target of Object.values(imports)) {
    const match = /^npm:(@?[^@]+)@(.+)$/.exec(target);
    if (match) versions[match[1]] = match[2];
  }
  return versions;
}

/** Describes this machine and runtime. */
export async function describeEnvironment(): Promise<Environment> {
  let cpuModel: string | null = null;
  try {
    cpuModel = os.cpus()[0]?.model ?? null; // needs --allow-sys=cpus
  } catch {
    cpuModel = null;
  }
  return {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpuModel,
    logicalCores: navigator.hardwareConcurrency,
    gitCommit: await gitCommit(),
    packages: await packageVersions(),
  };
}

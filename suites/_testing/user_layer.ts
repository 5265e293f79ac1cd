/**
 * Test helpers for the user-layer tests: Debian's PyTorch through `/usr/bin/python3`, and a
 * small layer exported from the user's reference module. Known library bugs on user layers
 * are the rules of `suites/conform/known_failures.ts`, as on every other check.
 * @module
 */
import { PYTHON } from "../_shared/torch_baseline.ts";

export { PYTHON };

/** Why PyTorch cannot run here, or `undefined` when `/usr/bin/python3` imports torch. */
export async function torchMissingReason(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch, numpy"],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!output.success) {
      const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").pop();
      return `${PYTHON} cannot import torch and numpy (${stderr}): apt-get install -y ` +
        "python3-torch python3-numpy";
    }
    return undefined;
  } catch (error) {
    return `cannot run ${PYTHON}: ${(error as Error).message}`;
  }
}

/** Runs a Python script with `/usr/bin/python3`; resolves to its stdout, rejects with stderr. */
export async function runPython(args: string[]): Promise<string> {
  const output = await new Deno.Command(PYTHON, { args, stdout: "piped", stderr: "piped" })
    .output();
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr);
    throw new Error(`${PYTHON} ${args.join(" ")} exited ${output.code}:\n${stderr}`);
  }
  return stdout;
}

/** True when torch is there; otherwise prints why the calling test is skipped. */
export async function hasTorch(): Promise<boolean> {
  const missing = await torchMissingReason();
  if (missing) console.log(`skipped: ${missing}`);
  return missing === undefined;
}

/** The small layer the CLI tests export: 4 -> 6 channels, 3x3, padding 1. */
export const SMALL_LAYER = { inChannels: 4, outChannels: 6, kernelSize: 3, padding: 1 } as const;

/**
 * Exports a freshly initialised layer of the user's reference module (seeded) to
 * `<dir>/layer.safetensors` with scripts/export_weights.py; returns the file's path.
 */
export async function exportReferenceLayer(
  dir: string,
  spec: { inChannels: number; outChannels: number; kernelSize: number; padding: number },
): Promise<string> {
  const { inChannels, outChannels, kernelSize, padding } = spec;
  await runPython([
    "-c",
    "import torch, sys; sys.path.insert(0, 'scripts'); import make_goldens as g; " +
    "m = g.load_reference_module(); torch.manual_seed(0); " +
    `layer = m.CondConv2D(${inChannels}, ${outChannels}, ${kernelSize}, padding=${padding}); ` +
    `torch.save(layer.state_dict(), '${dir}/layer.pt')`,
  ]);
  const out = `${dir}/layer.safetensors`;
  await runPython([
    "scripts/export_weights.py",
    `${dir}/layer.pt`,
    "--spec",
    JSON.stringify(spec),
    "--layout",
    "reference",
    "--out",
    out,
  ]);
  return out;
}

/**
 * Test helpers for the user-layer tests: Debian's PyTorch through `/usr/bin/python3`, and the
 * one list of known adapter failures on user layers, each with its reason.
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

/** An adapter known to fail on a user layer, with the reason; the tests hold it to failing. */
export interface KnownFailure {
  adapter: string;
  /** the layer's name in the test (a trainee of scripts/train_tiny_condconv.py, or a block) */
  layer: string;
  reason: string;
}

const ORT_WEBGPU_CHANNELS =
  "onnxruntime-web's WebGPU grouped convolution (groups = batch * groups) is wrong for " +
  "batch >= 2 when outChannels is not a multiple of 4 and the kernel is larger than 1x1 " +
  "(errors of order 1; batch 1, outChannels 4, 8, 12, or a 1x1 kernel pass)";

/**
 * Known failures of registered adapters on the user-layer tests, each with its reason. The
 * tests let a listed adapter fail that layer and print the reason; once it passes they print
 * that the entry is stale (adapters change in parallel with these tests), so remove it then.
 */
export const KNOWN_FAILURES: readonly KnownFailure[] = [
  { adapter: "ort-webgpu", layer: "reference", reason: ORT_WEBGPU_CHANNELS },
  { adapter: "ort-webgpu", layer: "tensorflow", reason: ORT_WEBGPU_CHANNELS },
];

/** The known failure of `adapter` on `layer`, if listed. */
export function knownFailure(adapter: string, layer: string): KnownFailure | undefined {
  return KNOWN_FAILURES.find((k) => k.adapter === adapter && k.layer === layer);
}

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

/**
 * Flags the CLI tests share.
 * @module
 */
import { probeWgpuBackends } from "../_shared/webgpu_matrix.ts";

/** bench as fast as it goes (no roofline probe), its report and summary written into `dir`. */
export function fastBench(dir: string): string[] {
  return [
    ...["--min-samples", "2", "--budget-ms", "1", "--no-roofline"],
    ...["--json", `${dir}/b.json`, "--markdown", `${dir}/b.md`],
  ];
}

/**
 * `--webgpu-backend` with the first wgpu backend that gives a GPU adapter here (a WebGPU test
 * on llvmpipe runs once, not once per backend), or `undefined` after printing that the calling
 * test is skipped because none does.
 */
export async function oneWgpuBackend(): Promise<string[] | undefined> {
  const present = (await probeWgpuBackends()).find((p) => p.available);
  if (!present) console.log("skipped: neither wgpu/vulkan nor wgpu/gl gives a GPU adapter here");
  return present && ["--webgpu-backend", present.backend];
}

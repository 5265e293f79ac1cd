/**
 * The GPU adapters that result files name: `Availability.gpu`, or what older files put in an
 * adapter's `info`.
 * @module
 */
import type { AdapterSummary } from "../results/adapter_summary.ts";

/** A GPU adapter an adapter ran on, as the report shows it. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** a fallback (software) adapter such as llvmpipe or SwiftShader */
  software: boolean;
}

const str = (v: unknown) => typeof v === "string" || typeof v === "number" ? String(v) : "";

/** A software rasteriser named in a file that predates `gpu.software` (see `gpusOf`). */
const LEGACY_SOFTWARE_GPU = /llvmpipe|swiftshader|lavapipe/i;

/**
 * The GPU adapter an adapter summary names: its `gpu` (`Availability.gpu`), or, in a file
 * written before adapters carried it, any object of its `info` that looks like WebGPU's
 * `GPUAdapterInfo` (a `vendor` and a `description`, `architecture` or `device`), software when
 * flagged as a fallback adapter or named after a software rasteriser.
 */
export function gpusOf(adapter: Pick<AdapterSummary, "gpu" | "info">): GpuAdapterInfo[] {
  if (adapter.gpu) {
    const { vendor, architecture, device, description, software } = adapter.gpu;
    return [{ vendor, architecture, device, description, software }];
  }
  const found = new Map<string, GpuAdapterInfo>();
  const visit = (value: unknown, depth: number) => {
    if (typeof value !== "object" || value === null || depth > 6) return;
    if (Array.isArray(value)) return;
    const o = value as Record<string, unknown>;
    if (
      "vendor" in o && ("description" in o || "architecture" in o || "device" in o) &&
      typeof o.vendor !== "object"
    ) {
      const gpu: GpuAdapterInfo = {
        vendor: str(o.vendor),
        architecture: str(o.architecture),
        device: str(o.device),
        description: str(o.description),
        software: o.isFallbackAdapter === true ||
          Object.values(o).some((v) => typeof v === "string" && LEGACY_SOFTWARE_GPU.test(v)),
      };
      found.set(gpuKey(gpu), gpu);
      return;
    }
    for (const child of Object.values(o)) visit(child, depth + 1);
  };
  visit(adapter.info, 0);
  return [...found.values()];
}

/** A stable identity of a GPU adapter. */
export function gpuKey(gpu: GpuAdapterInfo): string {
  return [gpu.vendor, gpu.architecture, gpu.device, gpu.description].join("|");
}

/** A short human name of a GPU adapter. */
export function gpuName(gpu: GpuAdapterInfo): string {
  const name = gpu.description ||
    [`vendor ${gpu.vendor || "?"}`, gpu.architecture, gpu.device && `device ${gpu.device}`]
      .filter(Boolean).join(" ");
  return gpu.software ? `${name} (software adapter)` : name;
}

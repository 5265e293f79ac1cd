/**
 * The WebGPU implementation matrix in Deno. Deno's WebGPU is wgpu, which picks a backend from
 * `DENO_WEBGPU_BACKEND` (`vulkan`, `gl`; unset: its own choice, Vulkan where present; an empty
 * string gives no adapter at all). Different backends translate WGSL differently (the GL
 * backend goes through GLSL, where `%` on negative values is undefined), so a WebGPU adapter
 * is only checked when it ran on each one present.
 *
 * conform, bench and the tests start the WebGPU adapters (tolerance class `webgpu`) once per
 * backend that gives a GPU adapter here, each in a child process with that variable set, and
 * every result row records its implementation: `wgpu/vulkan llvmpipe (LLVM 15.0.6, 256 bits)`.
 * `--webgpu-backend vulkan|gl` (repeatable) restricts the matrix. In-process runs cannot
 * switch backends: they use the environment as it is and say so.
 * @module
 */
import type { GpuSummary } from "../../impls/_webgpu.ts";
import { ChildProcess, describeEnd } from "./child.ts";

/** The wgpu backends Deno can be asked for. */
export const WGPU_BACKENDS = ["vulkan", "gl"] as const;
/** One wgpu backend. */
export type WgpuBackend = typeof WGPU_BACKENDS[number];

/** The probe child's one message. */
export type ProbeMessage =
  | { type: "probe"; available: true; gpu: GpuSummary }
  | { type: "probe"; available: false; reason: string };

/** What one backend gives here. */
export type BackendProbe =
  | { backend: WgpuBackend; available: true; gpu: GpuSummary }
  | { backend: WgpuBackend; available: false; reason: string };

/** Parses `--webgpu-backend` values; a `TypeError` names an unknown one. */
export function parseWgpuBackends(values: readonly string[]): WgpuBackend[] {
  for (const value of values) {
    if (!(WGPU_BACKENDS as readonly string[]).includes(value)) {
      throw new TypeError(
        `Invalid --webgpu-backend "${value}": expected one of ${WGPU_BACKENDS.join(", ")}`,
      );
    }
  }
  return WGPU_BACKENDS.filter((b) => values.includes(b));
}

/** True for an adapter that runs on WebGPU (its tolerance class says so). */
export function isWebGpuAdapter(adapter: { toleranceClass: string }): boolean {
  return adapter.toleranceClass === "webgpu";
}

/** The child environment that selects `backend`. */
export function backendEnv(backend: WgpuBackend): Record<string, string> {
  return { DENO_WEBGPU_BACKEND: backend };
}

/** What a result row records: `wgpu/<backend> <GPU description>`. */
export function implementationName(backend: WgpuBackend | null, gpu?: GpuSummary): string {
  const name = backend === null ? "wgpu (the environment's backend)" : `wgpu/${backend}`;
  return gpu ? `${name} ${gpu.description || gpu.device || gpu.vendor}`.trim() : name;
}

/**
 * The implementation of an in-process run, which uses whatever `DENO_WEBGPU_BACKEND` says:
 * `wgpu/gl ...` when it names a backend, `wgpu (default backend) ...` when it is unset.
 */
export function inProcessImplementation(gpu?: GpuSummary): string {
  const chosen = Deno.env.get("DENO_WEBGPU_BACKEND");
  const known = (WGPU_BACKENDS as readonly string[]).includes(chosen ?? "");
  const name = known
    ? `wgpu/${chosen}`
    : `wgpu (DENO_WEBGPU_BACKEND ${
      chosen === undefined ? "unset: wgpu's default backend" : `"${chosen}"`
    })`;
  return gpu ? `${name} ${gpu.description}` : name;
}

/**
 * The adapter column of a row: the id, and for a WebGPU row its wgpu backend
 * (`wgsl@wgpu/gl`), so that the rows of one adapter on two backends differ.
 */
export function rowLabel(r: { adapter?: string; id?: string; implementation?: string }): string {
  const id = r.adapter ?? r.id ?? "";
  const backend = r.implementation?.startsWith("wgpu") ? r.implementation.split(" ")[0] : "";
  return backend ? `${id}@${backend}` : id;
}

/** Where an adapter runs in this process: its WebGPU implementation, or `deno`. */
export function implementationHere(
  adapter: { toleranceClass: string; gpu?: GpuSummary },
): string {
  return isWebGpuAdapter(adapter) ? inProcessImplementation(adapter.gpu) : "deno";
}

/**
 * The wgpu backends to run WebGPU adapters on: those asked for (`--webgpu-backend`), or else
 * those that give a GPU adapter here, each printed with its GPU (prefixed by `task`). With no
 * backend present: `[null]`, one run in the environment as it is, where the adapters say why
 * they cannot run.
 */
export async function chooseBackends(
  asked: readonly WgpuBackend[],
  task: string,
): Promise<(WgpuBackend | null)[]> {
  if (asked.length > 0) return [...asked];
  const probes = await probeWgpuBackends();
  for (const p of probes) {
    console.log(
      `${task}: wgpu/${p.backend}: ` +
        (p.available
          ? `${implementationName(p.backend, p.gpu)} [${
            p.gpu.software ? "software" : "hardware"
          } GPU]`
          : `no GPU adapter (${p.reason})`),
    );
  }
  const present = probes.filter((p) => p.available).map((p) => p.backend);
  return present.length > 0 ? present : [null];
}

/**
 * Asks each backend, in a child process with that environment, for a GPU adapter; the children
 * run at once (they time nothing), the answers come in the order of `backends`.
 */
export function probeWgpuBackends(
  backends: readonly WgpuBackend[] = WGPU_BACKENDS,
  timeoutMs = 60_000,
): Promise<BackendProbe[]> {
  return Promise.all(backends.map(async (backend): Promise<BackendProbe> => {
    const child = new ChildProcess<ProbeMessage>({
      script: new URL("./webgpu_probe.ts", import.meta.url).pathname,
      args: [],
      permissions: { read: ["."] },
      label: `webgpu probe ${backend}`,
      env: backendEnv(backend),
      timeoutMs,
    });
    let message: ProbeMessage | undefined;
    for await (const m of child.messages()) message = m;
    const end = await child.close();
    return message?.available ? { backend, available: true, gpu: message.gpu } : {
      backend,
      available: false,
      reason: message?.reason ?? describeEnd(end, timeoutMs, "the WebGPU probe"),
    };
  }));
}

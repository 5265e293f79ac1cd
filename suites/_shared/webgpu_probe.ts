/**
 * The WebGPU probe child: which GPU adapter `navigator.gpu` gives in this process (whose
 * `DENO_WEBGPU_BACKEND` its parent chose), sent as one protocol message. Started by
 * `webgpu_matrix.ts`; imports only the project's own probe.
 * @module
 */
import { requestGpuAdapter } from "../../impls/_webgpu.ts";
import { sendToParent, serveParent } from "./child.ts";
import type { ProbeMessage } from "./webgpu_matrix.ts";

if (import.meta.main) {
  await serveParent(async () => {
    const found = await requestGpuAdapter();
    const message: ProbeMessage = "gpu" in found
      ? { type: "probe", available: true, gpu: found.gpu }
      : { type: "probe", available: false, reason: found.reason };
    sendToParent(message);
  });
}

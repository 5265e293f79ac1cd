/**
 * Catches the GPU errors that tfjs-webgpu never checks for. A pipeline that fails validation
 * (e.g. more storage buffers than the device allows) leaves its output buffer as it was, and
 * the run "succeeds" with stale numbers; `computeAndRead` (`backend.ts`) opens a guard around
 * every run and fails the run when the GPU reported an error.
 * @module
 */

/**
 * The validation and out-of-memory error scopes of one run on a WebGPU-backed tfjs backend.
 * Error scopes are a per-device stack: when runs overlap on one device, an error may be
 * reported by the other run, but it is never lost.
 */
export class GpuErrorGuard {
  readonly #device: GPUDevice;
  private constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Opens validation and out-of-memory scopes when `backend` has a GPU device. */
  static open(backend: unknown): GpuErrorGuard | undefined {
    const device = (backend as { device?: GPUDevice }).device;
    if (typeof device?.pushErrorScope !== "function") return undefined;
    device.pushErrorScope("validation");
    device.pushErrorScope("out-of-memory");
    return new GpuErrorGuard(device);
  }

  /** Closes the scopes; throws an `Error` naming what the GPU reported, if anything. */
  async close(backend?: string): Promise<void> {
    const outOfMemory = await this.#device.popErrorScope();
    const validation = await this.#device.popErrorScope();
    const error = outOfMemory ?? validation;
    if (error && backend !== undefined) {
      throw new Error(
        `Cannot trust the ${backend} output: the GPU reported an error during the run: ` +
          `"${error.message}"`,
      );
    }
  }
}

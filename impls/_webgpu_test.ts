import assert from "node:assert/strict";
import { RECORDED_LIMITS, requestGpuAdapter, summarizeGpuAdapter } from "./_webgpu.ts";

class Info {
  constructor(readonly fallback: boolean | undefined, readonly text: string) {}
  get vendor() {
    return "v";
  }
  get architecture() {
    return "a";
  }
  get device() {
    return "d";
  }
  get description() {
    return this.text;
  }
  get isFallbackAdapter() {
    return this.fallback;
  }
}

function fakeAdapter(fallback: boolean | undefined, description: string): GPUAdapter {
  const limits = Object.fromEntries(RECORDED_LIMITS.map((name, i) => [name, 100 + i]));
  return {
    info: new Info(fallback, description),
    limits,
    features: new Set(["timestamp-query"]),
  } as unknown as GPUAdapter;
}

Deno.test("summarizeGpuAdapter() reads the getters JSON.stringify cannot see", () => {
  const adapter = fakeAdapter(false, "NVIDIA H200");
  assert.equal(JSON.stringify(adapter.info), '{"fallback":false,"text":"NVIDIA H200"}');
  const gpu = summarizeGpuAdapter(adapter);
  assert.deepEqual(
    { ...gpu, limits: undefined },
    {
      vendor: "v",
      architecture: "a",
      device: "d",
      description: "NVIDIA H200",
      isFallbackAdapter: false,
      software: false,
      timestampQuery: true,
      limits: undefined,
    },
  );
  assert.equal(gpu.limits.maxStorageBuffersPerShaderStage, 104);
});

/** Descriptions of the CPU rasterisers WebGPU runs on where no GPU is. */
const CPU_RASTERISERS = [
  "llvmpipe (LLVM 15.0.6, 256 bits)",
  "SwiftShader Device (Subzero)",
  "Microsoft Basic Render Driver",
];

Deno.test("summarizeGpuAdapter() calls a CPU rasteriser software even when not a fallback", async (t) => {
  for (const description of CPU_RASTERISERS) {
    await t.step(description, () => {
      assert.equal(summarizeGpuAdapter(fakeAdapter(undefined, description)).software, true);
    });
  }
  assert.equal(summarizeGpuAdapter(fakeAdapter(true, "Some GPU")).software, true);
  assert.equal(summarizeGpuAdapter(fakeAdapter(undefined, "Some GPU")).isFallbackAdapter, null);
});

Deno.test("requestGpuAdapter() gives a reason, never a throw, where WebGPU is missing", async () => {
  const saved = Object.getOwnPropertyDescriptor(navigator, "gpu");
  Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
  try {
    const probe = await requestGpuAdapter();
    assert.ok("reason" in probe && probe.reason.includes("navigator.gpu is missing"));
  } finally {
    if (saved) Object.defineProperty(navigator, "gpu", saved);
    else delete (navigator as { gpu?: unknown }).gpu;
  }
});

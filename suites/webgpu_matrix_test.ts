import assert from "node:assert/strict";
import { conformMain } from "./conform.ts";
import {
  implementationName,
  parseWgpuBackends,
  probeWgpuBackends,
  rowLabel,
} from "./_shared/webgpu_matrix.ts";
import type { ConformReport } from "./results/conformance.ts";

Deno.test("--webgpu-backend takes vulkan and gl, and names anything else", async () => {
  assert.deepEqual(parseWgpuBackends(["gl", "vulkan", "gl"]), ["vulkan", "gl"]);
  assert.throws(() => parseWgpuBackends(["dx12"]), /Invalid --webgpu-backend "dx12"/);
  await assert.rejects(conformMain(["--webgpu-backend", ""]), /Invalid --webgpu-backend ""/);
  await assert.rejects(
    conformMain(["--webgpu-backend", "gl", "--in-process"]),
    /Cannot combine --webgpu-backend and --in-process/,
  );
});

Deno.test("rows of one WebGPU adapter on two wgpu backends read apart", () => {
  const gl = { adapter: "wgsl", implementation: "wgpu/gl llvmpipe (LLVM 15.0.6, 256 bits)" };
  assert.equal(rowLabel(gl), "wgsl@wgpu/gl");
  assert.equal(rowLabel({ ...gl, implementation: "wgpu/vulkan llvmpipe" }), "wgsl@wgpu/vulkan");
  assert.equal(rowLabel({ adapter: "ts", implementation: "deno" }), "ts");
  assert.equal(implementationName("gl"), "wgpu/gl");
});

Deno.test({
  name: "conform runs a WebGPU adapter once per wgpu backend present, each row naming it",
  sanitizeResources: false,
  async fn() {
    const present = (await probeWgpuBackends()).filter((p) => p.available);
    if (present.length === 0) {
      console.log("skipped: neither wgpu/vulkan nor wgpu/gl gives a GPU adapter here");
      return;
    }
    const dir = await Deno.makeTempDir();
    const path = `${dir}/r.json`;
    await conformMain([
      "--adapter",
      "wgsl",
      "--adapter",
      "reference",
      "--case",
      "control",
      "--json",
      path,
    ]);
    const report: ConformReport = JSON.parse(await Deno.readTextFile(path));
    const wgsl = report.results.filter((r) => r.adapter === "wgsl");
    assert.deepEqual(
      wgsl.map((r) => r.implementation),
      present.map((p) => p.available ? implementationName(p.backend, p.gpu) : ""),
    );
    assert.deepEqual(
      report.adapters.filter((a) => a.id === "wgsl").map((a) => a.implementation),
      wgsl.map((r) => r.implementation),
    );
    assert.equal(report.results.find((r) => r.adapter === "reference")?.implementation, "deno");
    await Deno.remove(dir, { recursive: true });
  },
});

import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { createTfjsAdapter, type TfjsAdapter } from "./_tfjs/adapter.ts";
import type { TfjsPrepareOptions } from "./_tfjs/condconv_layer.ts";
import { activateBackend } from "./_tfjs/backend.ts";
import { chooseFormulation, isPointwise } from "./_tfjs/choose_formulation.ts";
import { GpuErrorGuard } from "./_tfjs/gpu_error_guard.ts";
import { KERNEL_MIXINGS } from "./_tfjs/kernel_mixing.ts";
import { referenceAdapter } from "./reference.ts";
import { tfjsCpuAdapter } from "./tfjs_cpu.ts";
import { configureTfjsWasm, TFJS_WASM_BINARIES, tfjsWasmAdapter } from "./tfjs_wasm.ts";
import { tfjsWebGpuAdapter } from "./tfjs_webgpu.ts";

const TFJS_ADAPTERS = [tfjsWebGpuAdapter, tfjsWasmAdapter, tfjsCpuAdapter];
import { CondConvSpec } from "../condconv/spec.ts";
import { seededLayer } from "../condconv/seeded.ts";
import { compareWithTruth, toleranceFor } from "../condconv/tolerance.ts";

// The tfjs engine keeps each initialised backend (wasm module, GPU device) for the life of
// the process, by design; the op and resource sanitizers would count those as leaks of
// whichever test first touched the backend. Tensor leaks are checked explicitly instead.
const sanitizers = { sanitizeOps: false, sanitizeResources: false } as const;

const webgpu = await tfjsWebGpuAdapter.availability();
const ignoreWebGpu = !webgpu.available;
if (!webgpu.available) console.warn(`tfjs-webgpu tests ignored: ${webgpu.reason}`);

type Layer = ReturnType<typeof seededLayer>;

/** Specs that combine options the golden cases test one at a time. */
const LAYERS: Record<string, Layer> = {
  "grouped reflect perExpert supplied": seededLayer(11, {
    inChannels: 6,
    outChannels: 4,
    kernelSize: 3,
    padding: 1,
    groups: 2,
    paddingMode: "reflect",
    bias: "perExpert",
    routing: { kind: "supplied" },
  }, [2, 6, 7, 9]),
  "depthwise x2 replicate stride 2 dilation 2 softmax": seededLayer(12, {
    groups: 3,
    inChannels: 3,
    outChannels: 6,
    kernelSize: [3, 2],
    padding: [3, 1],
    stride: 2,
    dilation: [2, 3],
    paddingMode: "replicate",
    routing: { kind: "softmax", temperature: 0.5 },
    numExperts: 4,
  }, [3, 3, 8, 10]),
  "pointwise groups 2 stride 2 circular": seededLayer(13, {
    ...{ inChannels: 4, outChannels: 6, kernelSize: 1, groups: 2 },
    stride: [2, 1],
    padding: [1, 2],
    paddingMode: "circular",
    bias: "none",
    // more than one tf.addN takes at once (elementwise mixing)
    numExperts: 9,
  }, [2, 4, 5, 6]),
  "general same dilated strided": seededLayer(14, {
    inChannels: 5,
    outChannels: 3,
    kernelSize: [2, 3],
    padding: "same",
    stride: [2, 3],
    dilation: 2,
    numExperts: 2,
  }, [2, 5, 9, 11]),
};

async function referenceOutput(layer: Layer): Promise<Float64Array> {
  const prepared = await referenceAdapter.prepare(layer.spec, layer.weights);
  const out = await prepared.run(layer.input, layer.routingWeights);
  return Float64Array.from(out.data);
}

/**
 * Every formulation that applies to each layer, with each kernel mixing, against the
 * reference: one step per layer and formulation.
 */
async function checkAgainstReference(t: Deno.TestContext, adapter: TfjsAdapter) {
  for (const [name, layer] of Object.entries(LAYERS)) {
    const truth = await referenceOutput(layer);
    for (const formulation of adapter.formulations) {
      const problem = adapter.formulationProblem(layer.spec, formulation);
      if (problem !== undefined) {
        await assert.rejects(
          adapter.prepareWith(layer.spec, layer.weights, { formulation }),
          RangeError,
        );
        continue;
      }
      await t.step(`${formulation} on "${name}"`, async () => {
        for (const kernelMixing of KERNEL_MIXINGS) {
          const prepared = await adapter.prepareWith(layer.spec, layer.weights, {
            formulation,
            kernelMixing,
          });
          try {
            assert.equal(prepared.backend, `tfjs:${adapter.backendName}`);
            assert.deepEqual([prepared.formulation, prepared.kernelMixing], [
              formulation,
              kernelMixing,
            ]);
            const out = await prepared.run(layer.input, layer.routingWeights);
            const comparison = compareWithTruth(
              out.data,
              truth,
              toleranceFor(adapter.toleranceClass, 0),
            );
            assert.ok(
              comparison.pass,
              `kernel mixing ${kernelMixing}: worst ${comparison.worstRatio}x tolerance at ` +
                `${comparison.worstIndex}, max abs err ${comparison.maxAbsErr}`,
            );
          } finally {
            await prepared.dispose();
          }
        }
      });
    }
  }
}

for (const adapter of TFJS_ADAPTERS) {
  Deno.test({
    name: `${adapter.id} matches the reference in every formulation and kernel mixing`,
    ignore: adapter === tfjsWebGpuAdapter && ignoreWebGpu,
    ...sanitizers,
    fn: (t) => checkAgainstReference(t, adapter),
  });
}

for (const adapter of TFJS_ADAPTERS) {
  Deno.test({
    name: `${adapter.id} keeps the tensor count flat over 100 runs and frees all on dispose`,
    ignore: adapter === tfjsWebGpuAdapter && ignoreWebGpu,
    ...sanitizers,
    async fn() {
      const layer = LAYERS["grouped reflect perExpert supplied"];
      const computed = seededLayer(21, {
        inChannels: 4,
        outChannels: 4,
        kernelSize: 3,
        padding: 1,
        groups: 4,
        bias: "perExpert",
        routing: { kind: "softmax", temperature: 2 },
      }, [2, 4, 6, 6]);
      assert.equal(adapter.resourceCounts().tfjsTensors, 0, "tensors alive before the test");
      for (const { spec, weights, input, routingWeights } of [layer, computed]) {
        const prepared = await adapter.prepare(spec, weights);
        const afterPrepare = adapter.resourceCounts();
        assert.ok(afterPrepare.tfjsTensors > 0, "prepare should upload the weights");
        await prepared.run(input, routingWeights);
        const afterFirst = adapter.resourceCounts();
        assert.deepEqual(afterFirst, afterPrepare, "the first run left tensors behind");
        for (let i = 1; i < 100; i++) await prepared.run(input, routingWeights);
        assert.deepEqual(adapter.resourceCounts(), afterFirst, "runs leaked tensors");
        await prepared.dispose();
        assert.deepEqual(adapter.resourceCounts(), { tfjsTensors: 0, tfjsDataBuffers: 0 });
        await assert.rejects(prepared.run(input, routingWeights), /disposed/);
      }
    },
  });
}

Deno.test({
  name: "a backend that fails to initialise is reported unavailable, never replaced",
  ...sanitizers,
  async fn() {
    tf.registerBackend("test-broken-sync", () => {
      throw new Error("no device for the test");
    });
    tf.registerBackend("test-broken-async", () => Promise.reject(new Error("async failure")));
    try {
      for (const backendName of ["test-broken-sync", "test-broken-async", "test-missing"]) {
        const adapter = createTfjsAdapter({
          id: `tfjs-${backendName}`,
          description: "a backend that cannot run",
          toleranceClass: "cpu",
          backendName,
          describe: () => Promise.resolve({ threads: 1 }),
        });
        const availability = await adapter.availability();
        assert.equal(availability.available, false, `${backendName} announced as available`);
        assert.match(
          (availability as { reason: string }).reason,
          backendName === "test-missing" ? /not registered/ : /resolved false/,
        );
        const layer = LAYERS["general same dilated strided"];
        await assert.rejects(
          adapter.prepare(layer.spec, layer.weights),
          /Cannot (initialise|use) the tfjs backend/,
        );
      }
      // tfjs now has "test-broken-async" as its backend name with no instance: its next op
      // would silently run on the best other backend. The adapters must still be honest.
      assert.equal(tf.getBackend(), "test-broken-async");
      const layer = LAYERS["grouped reflect perExpert supplied"];
      const prepared = await tfjsCpuAdapter.prepare(layer.spec, layer.weights);
      const out = await prepared.run(layer.input, layer.routingWeights);
      await prepared.dispose();
      assert.equal(tf.getBackend(), "cpu");
      assert.ok(
        compareWithTruth(out.data, await referenceOutput(layer), toleranceFor("cpu", 0)).pass,
      );
    } finally {
      tf.removeBackend("test-broken-sync");
      tf.removeBackend("test-broken-async");
      await activateBackend("cpu");
    }
  },
});

Deno.test({
  name: "tfjs-webgpu is unavailable, with a reason, when navigator.gpu is missing",
  ...sanitizers,
  async fn() {
    Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
    try {
      const availability = await tfjsWebGpuAdapter.availability();
      assert.deepEqual(availability, {
        available: false,
        reason: "no WebGPU adapter: navigator.gpu is missing (no WebGPU here; Deno needs " +
          "--unstable-webgpu)",
      });
    } finally {
      // drop the own property so the prototype's getter shows again
      delete (navigator as unknown as Record<string, unknown>).gpu;
    }
  },
});

Deno.test({
  name: "each layer runs on its own backend when another adapter switched it",
  ...sanitizers,
  async fn() {
    const layer = LAYERS["depthwise x2 replicate stride 2 dilation 2 softmax"];
    const truth = await referenceOutput(layer);
    const onCpu = await tfjsCpuAdapter.prepare(layer.spec, layer.weights);
    const onWasm = await tfjsWasmAdapter.prepare(layer.spec, layer.weights);
    try {
      assert.equal(tf.getBackend(), "wasm");
      const cpuOut = await onCpu.run(layer.input);
      assert.equal(tf.getBackend(), "cpu", "the cpu layer did not activate its backend");
      // interleaved: each run must activate its backend in the same turn as its ops
      const outputs = await Promise.all([
        onWasm.run(layer.input),
        onCpu.run(layer.input),
        onWasm.run(layer.input),
      ]);
      for (const out of [cpuOut, ...outputs]) {
        assert.ok(compareWithTruth(out.data, truth, toleranceFor("cpu", 0)).pass);
      }
    } finally {
      await onCpu.dispose();
      await onWasm.dispose();
    }
    assert.equal(tf.memory().numTensors, 0);
  },
});

Deno.test({
  name: "prepare and run reject bad inputs with the spec's checks, naming the field",
  ...sanitizers,
  async fn(t) {
    const { spec, weights, input, routingWeights } = LAYERS["grouped reflect perExpert supplied"];
    const withOptions = (options: Record<string, string>) =>
      tfjsCpuAdapter.prepareWith(spec, weights, options as TfjsPrepareOptions);
    const cases: [string, () => Promise<unknown>, RegExp | typeof Error][] = [
      [
        "weights",
        () => tfjsCpuAdapter.prepare(spec, { expertKernels: new Float32Array(3) }),
        TypeError,
      ],
      [
        "depthwise-folded on a grouped layer",
        () => withOptions({ formulation: "depthwise-folded" }),
        /needs groups == inChannels, got groups 2 and inChannels 6/,
      ],
      [
        "grouped",
        () => withOptions({ formulation: "grouped" }),
        /"grouped" is not expressible on tfjs: tfjs has no grouped convolution/,
      ],
      [
        "an unknown formulation",
        () => withOptions({ formulation: "im2col" }),
        /unknown formulation "im2col" \(formulations: batched-matmul, depthwise-folded, per-example, expert-sum\)/,
      ],
      [
        "an unknown kernel mixing",
        () => withOptions({ kernelMixing: "addn" }),
        /unknown kernelMixing "addn"/,
      ],
    ];
    const prepared = await tfjsCpuAdapter.prepare(spec, weights);
    cases.push(
      ["missing routing weights", () => prepared.run(input), TypeError],
      [
        "an input of other channels",
        () => prepared.run({ shape: [2, 5, 7, 9], data: new Float32Array(630) }, routingWeights),
        RangeError,
      ],
    );
    try {
      for (const [name, call, expected] of cases) {
        await t.step(name, async () => {
          await assert.rejects(call, expected);
          if (expected instanceof RegExp) await assert.rejects(call, RangeError);
        });
      }
    } finally {
      await prepared.dispose();
    }
    assert.equal(tf.memory().numTensors, 0);
  },
});

Deno.test("chooseFormulation picks the measured fastest formulation per backend", () => {
  const depthwise = CondConvSpec.parse({
    inChannels: 8,
    outChannels: 16,
    kernelSize: 5,
    groups: 8,
    padding: "same",
  });
  const pointwise = CondConvSpec.parse({ inChannels: 8, outChannels: 16, kernelSize: 1 });
  const strided = CondConvSpec.parse({ inChannels: 8, outChannels: 16, kernelSize: 1, stride: 2 });
  const general = CondConvSpec.parse({ inChannels: 8, outChannels: 16, kernelSize: 3, groups: 2 });
  assert.ok(isPointwise(pointwise));
  assert.ok(isPointwise(CondConvSpec.parse({ ...pointwise, padding: "same" })));
  assert.ok(!isPointwise(strided));
  assert.ok(!isPointwise(CondConvSpec.parse({ ...pointwise, padding: [0, 1] })));
  for (const backend of ["cpu", "wasm", "webgpu"]) {
    assert.equal(chooseFormulation(depthwise, backend), "depthwise-folded");
    assert.equal(chooseFormulation(pointwise, backend), "batched-matmul");
  }
  assert.equal(chooseFormulation(general, "cpu"), "per-example");
  assert.equal(chooseFormulation(strided, "wasm"), "per-example");
  assert.equal(chooseFormulation(general, "webgpu"), "batched-matmul");
});

Deno.test({
  name: "tfjs-webgpu runs fail on GPU errors that tfjs itself ignores",
  ignore: ignoreWebGpu,
  ...sanitizers,
  async fn() {
    await activateBackend("webgpu");
    // tfjs-webgpu's AddN binds all inputs and the output as storage buffers: 8 inputs exceed
    // WebGPU's default of 8 per stage, the pipeline is invalid and the output is stale.
    const terms = Array.from({ length: 8 }, (_, i) => tf.fill([1, 16], i + 1));
    const guard = GpuErrorGuard.open(tf.backend());
    assert.ok(guard, "the webgpu backend has no GPU device to guard");
    const sum = tf.addN(terms);
    try {
      await sum.data();
    } finally {
      tf.dispose([sum, ...terms]);
    }
    await assert.rejects(guard.close("tfjs:webgpu"), /Cannot trust the tfjs:webgpu output/);
    // and the guard stays quiet on a valid run
    const quiet = GpuErrorGuard.open(tf.backend())!;
    const ok = tf.tidy(() => tf.addN([tf.ones([1, 4]), tf.ones([1, 4])]));
    await ok.data();
    tf.dispose(ok);
    await quiet.close("tfjs:webgpu");
    assert.equal(tf.memory().numTensors, 0);
  },
});

Deno.test({
  name: "availability records versions, backend and the adapter facts",
  ...sanitizers,
  async fn() {
    const wasm = await tfjsWasmAdapter.availability();
    assert.ok(wasm.available);
    assert.equal(wasm.backend, "tfjs:wasm");
    assert.equal(wasm.info.tfjsVersion, tf.version_core);
    assert.equal(typeof wasm.info.simd, "boolean");
    // Deno: tfjs turns wasm threads off under Node compatibility
    assert.deepEqual([wasm.info.threads, wasm.info.multithreadSupported], [1, false]);
    assert.equal(wasm.info.kernelMixing, "matmul");
    const cpu = await tfjsCpuAdapter.availability();
    assert.ok(cpu.available);
    assert.equal(cpu.backend, "tfjs:cpu");
    assert.equal(cpu.info.threads, 1);
    assert.match(String(cpu.info.formulation), /per-example/);
    if (webgpu.available) {
      assert.equal(typeof webgpu.gpu?.description, "string");
      assert.equal(typeof webgpu.gpu?.software, "boolean");
      assert.equal(webgpu.info.cpuForward, false);
      assert.equal(webgpu.info.kernelMixing, "elementwise");
      assert.equal(webgpu.info.threads, 1);
    }
  },
});

/** `tfjsWasmAdapter.availability()` in a fresh Deno process after `configureTfjsWasm(config)`. */
async function wasmAvailabilityWith(config: Record<string, unknown>) {
  const code = `import { configureTfjsWasm, tfjsWasmAdapter } from "./impls/tfjs_wasm.ts";
    configureTfjsWasm(${JSON.stringify(config)});
    console.log(JSON.stringify(await tfjsWasmAdapter.availability()));`;
  const child = new Deno.Command("deno", {
    args: ["run", "--allow-read=.", "--allow-env", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const { code: status, stdout, stderr } = await child.output();
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  assert.equal(status, 0, new TextDecoder().decode(stderr));
  return JSON.parse(lines[lines.length - 1]);
}

Deno.test({
  name: "tfjs-wasm loads its .wasm files from the folder configureTfjsWasm names",
  ...sanitizers,
  async fn() {
    // what a page serving the package's dist/ folder would name
    const folder = new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href;
    const perFile = Object.fromEntries(TFJS_WASM_BINARIES.map((name) => [name, folder + name]));
    for (const wasmPaths of [folder, perFile]) {
      const configured = await wasmAvailabilityWith({ wasmPaths, threads: 1 });
      assert.equal(configured.available, true, configured.reason);
      assert.deepEqual(configured.info.wasmPaths, wasmPaths);
      assert.deepEqual([configured.info.threads, configured.info.threadsAsked], [1, 1]);
    }
    const nowhere = await wasmAvailabilityWith({ wasmPaths: "file:///nonexistent/tfjs/" });
    assert.equal(nowhere.available, false);
    assert.match(
      nowhere.reason,
      /Cannot initialise the tfjs backend "wasm".*looked for at "file:\/\/\/nonexistent\/tfjs\/"/,
    );
  },
});

Deno.test({
  name: "tfjs-wasm is unavailable, with the reason, when asked for threads Deno cannot give",
  ...sanitizers,
  async fn() {
    assert.deepEqual(await wasmAvailabilityWith({ threads: 2 }), {
      available: false,
      reason: "cannot use 2 threads: tfjs disables wasm threads when it detects Node.js " +
        "(Deno included)",
    });
  },
});

Deno.test({
  name: "configureTfjsWasm rejects bad settings, naming the field, and comes too late once set up",
  ...sanitizers,
  async fn() {
    assert.throws(() => configureTfjsWasm({ threads: 0 }), RangeError, "threads must be a whole");
    assert.throws(() => configureTfjsWasm({ threads: 1.5 }), RangeError, "got 1.5");
    assert.throws(
      () => configureTfjsWasm({ wasmPaths: "/wasm" }),
      TypeError,
      'wasmPaths must be a folder URL ending in "/", got "/wasm"',
    );
    assert.throws(
      () =>
        configureTfjsWasm({
          wasmPaths: { "tfjs-backend-wasm.wasm": "/a.wasm" } as never,
        }),
      TypeError,
      'missing: "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"',
    );
    assert.ok((await tfjsWasmAdapter.availability()).available);
    assert.throws(
      () => configureTfjsWasm({ threads: 1 }),
      Error,
      "Cannot configure tfjs-wasm: its backend is already set up",
    );
  },
});

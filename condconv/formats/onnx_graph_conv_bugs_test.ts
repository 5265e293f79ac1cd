import assert from "node:assert/strict";
import {
  applyConvWorkaround,
  avoidConvBug,
  type ConvNode,
  ortWebgpuConvBug,
} from "./onnx_graph_conv_bugs.ts";

/** A 3x3 Conv, pads 1, on a 5x5 input; `over` changes any field. */
function node(over: Partial<ConvNode>): ConvNode {
  return {
    batch: 1,
    group: 1,
    channelsPerGroup: 1,
    outChannelsPerGroup: 1,
    height: 5,
    width: 5,
    kernelHeight: 3,
    kernelWidth: 3,
    strideHeight: 1,
    strideWidth: 1,
    dilationHeight: 1,
    dilationWidth: 1,
    pads: [1, 1, 1, 1],
    ...over,
  };
}

Deno.test("conv bugs: a grouped vector straddling two groups", () => {
  // 5 outputs per group: wrong for 2 groups (10 channels: vec2), right for 3 (15: scalar)
  assert.equal(
    ortWebgpuConvBug(node({ group: 2, outChannelsPerGroup: 5 })),
    "grouped-vector-straddles-groups",
  );
  assert.equal(ortWebgpuConvBug(node({ group: 3, outChannelsPerGroup: 5 })), undefined);
  assert.equal(ortWebgpuConvBug(node({ group: 2, outChannelsPerGroup: 3 })), undefined);
  assert.equal(ortWebgpuConvBug(node({ group: 2, outChannelsPerGroup: 8 })), undefined);
  assert.equal(
    ortWebgpuConvBug(node({ group: 2, outChannelsPerGroup: 6 })),
    "grouped-vector-straddles-groups",
  );
});

Deno.test("conv bugs: vec3 input reads of the ungrouped program", () => {
  for (const c of [6, 9, 15, 18]) {
    assert.equal(
      ortWebgpuConvBug(node({ channelsPerGroup: c, outChannelsPerGroup: 4 })),
      "conv2dmm-vec3-input",
      `C = ${c}`,
    );
  }
  for (const c of [3, 4, 5, 12]) {
    assert.equal(
      ortWebgpuConvBug(node({ channelsPerGroup: c, outChannelsPerGroup: 4 })),
      undefined,
    );
  }
  assert.equal(ortWebgpuConvBug(node({ channelsPerGroup: 6, outChannelsPerGroup: 5 })), undefined);
});

Deno.test("conv bugs: MatMul shortcuts ignore end pads", () => {
  const whole = node({ height: 2, width: 2, kernelHeight: 2, kernelWidth: 2, pads: [0, 0, 1, 1] });
  assert.equal(ortWebgpuConvBug(whole), "matmul-shortcut-ignores-end-pads");
  assert.equal(ortWebgpuConvBug({ ...whole, pads: [0, 0, 0, 0] }), undefined);
  const oneByOne = node({ kernelHeight: 1, kernelWidth: 1, pads: [0, 0, 1, 0] });
  assert.equal(ortWebgpuConvBug(oneByOne), "matmul-shortcut-ignores-end-pads");
  // an output that reads only padding is zero either way
  assert.equal(
    ortWebgpuConvBug(
      node({
        group: 2,
        outChannelsPerGroup: 5,
        height: 1,
        width: 1,
        pads: [3, 3, 3, 3],
        strideHeight: 4,
        strideWidth: 4,
      }),
    ),
    undefined,
  );
});

Deno.test("conv bugs: every workaround leaves a node without a bug", () => {
  const nodes = [
    node({ group: 4, outChannelsPerGroup: 7, channelsPerGroup: 2 }),
    node({ channelsPerGroup: 9, outChannelsPerGroup: 8 }),
    node({ height: 3, width: 3, channelsPerGroup: 6, outChannelsPerGroup: 4, pads: [0, 0, 1, 1] }),
  ];
  for (const n of nodes) {
    const fix = avoidConvBug(n);
    assert.ok(fix, JSON.stringify(n));
    assert.equal(ortWebgpuConvBug(applyConvWorkaround(n, fix)), undefined, JSON.stringify(fix));
  }
  assert.equal(avoidConvBug(node({})), undefined);
});

#!/usr/bin/python3
"""One CondConv-EfficientNet block in PyTorch float64, written as a safetensors file.

  /usr/bin/python3 scripts/condconv_block.py --out FILE [--dw-kernel 3|5] [--seed N]

The block of CondConv-EfficientNet (timm's CondConvResidual, the official TensorFlow
MBConvBlock with condconv), without batch norm and squeeze-excitation, which do not touch
the routing:

  r = sigmoid(routing_fn(avgpool(x)))        ONE routing, from the block input, shared by:
  h = swish(conv_pw(x, r))                   expand 1x1, C -> C*expand, per-expert bias
  h = swish(conv_dw(h, r))                   depthwise k x k, stride 2, TensorFlow "same"
                                             padding (asymmetric on an even input), per-expert bias
  y = conv_pwl(h, r)                         project 1x1, -> O, no bias

Each layer is timm's CondConv2d forward (the routing passed in, kernels mixed by a matmul,
one grouped convolution over the batch), written here in float64 and again in float32.

The file holds, in the timm layout (condconv/formats/weight_layouts.ts): routing_fn.weight (E, C),
routing_fn.bias (E), conv_pw.weight/bias, conv_dw.weight/bias, conv_pwl.weight; input
(B, C, H, W) F32; routing (B, E) F64 and output (B, O, oh, ow) F64, PyTorch's float64 results;
and __metadata__: "block" (JSON: the activation and each layer's prefix and CondConvSpec,
routing "supplied") and "torchFloat32MaxAbsErr" (the float32 block's max abs error against
the float64 one).
"""

import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_weights  # noqa: E402  (write_safetensors)
import make_goldens  # noqa: E402  (TensorFlow "same" padding)

BATCH, IN_CHANNELS, HEIGHT, WIDTH = 2, 4, 10, 10
EXPAND_RATIO, OUT_CHANNELS, EXPERTS = 4, 6, 3


def swish(x):
    return x * torch.sigmoid(x)


def timm_condconv(x, routing, weight, bias, spec):
    """timm CondConv2d.forward, padding applied first (conv2d_same does the same for "same")."""
    b, c, h, w = x.shape
    o, groups = spec["outChannels"], spec.get("groups", 1)
    k = spec["kernelSize"]
    stride = spec.get("stride", 1)
    mixed = torch.matmul(routing, weight).view(b * o, c // groups, k, k)
    mixed_bias = torch.matmul(routing, bias).view(b * o) if bias is not None else None
    if spec.get("padding") == "same":
        top, bottom = make_goldens.same_padding(h, k, stride, 1)
        left, right = make_goldens.same_padding(w, k, stride, 1)
        x = F.pad(x, (left, right, top, bottom))
    out = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]), mixed, mixed_bias, stride=stride, groups=groups * b)
    return out.permute([1, 0, 2, 3]).view(b, o, out.shape[-2], out.shape[-1])


def block_specs(dw_kernel):
    mid = IN_CHANNELS * EXPAND_RATIO
    supplied = {"kind": "supplied"}
    return [
        {
            "prefix": "conv_pw.",
            "spec": {
                "inChannels": IN_CHANNELS,
                "outChannels": mid,
                "kernelSize": 1,
                "bias": "perExpert",
                "numExperts": EXPERTS,
                "routing": supplied,
                "dropoutRate": 0,
            },
        },
        {
            "prefix": "conv_dw.",
            "spec": {
                "inChannels": mid,
                "outChannels": mid,
                "kernelSize": dw_kernel,
                "stride": 2,
                "padding": "same",
                "groups": mid,
                "bias": "perExpert",
                "numExperts": EXPERTS,
                "routing": supplied,
                "dropoutRate": 0,
            },
        },
        {
            "prefix": "conv_pwl.",
            "spec": {
                "inChannels": mid,
                "outChannels": OUT_CHANNELS,
                "kernelSize": 1,
                "bias": "none",
                "numExperts": EXPERTS,
                "routing": supplied,
                "dropoutRate": 0,
            },
        },
    ]


def run_block(tensors, layers, dtype):
    t = {k: v.to(dtype) for k, v in tensors.items()}
    x = t["input"]
    routing = torch.sigmoid(x.mean(dim=(2, 3)) @ t["routing_fn.weight"].T + t["routing_fn.bias"])
    h = x
    for i, layer in enumerate(layers):
        p = layer["prefix"]
        h = timm_condconv(h, routing, t[p + "weight"], t.get(p + "bias"), layer["spec"])
        if i < len(layers) - 1:
            h = swish(h)
    return h, routing


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dw-kernel", type=int, default=5, choices=(3, 5))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(args.seed)

    def uniform(shape, scale):
        return ((torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * scale).float()

    layers = block_specs(args.dw_kernel)
    tensors = {
        "input": uniform((BATCH, IN_CHANNELS, HEIGHT, WIDTH), 1.0),
        "routing_fn.weight": uniform((EXPERTS, IN_CHANNELS), 1.0),
        "routing_fn.bias": uniform((EXPERTS,), 0.5),
    }
    for layer in layers:
        spec, p = layer["spec"], layer["prefix"]
        per_group = spec["inChannels"] // spec.get("groups", 1)
        fan_in = per_group * spec["kernelSize"] ** 2
        tensors[p + "weight"] = uniform((EXPERTS, spec["outChannels"] * fan_in), fan_in**-0.5)
        if spec["bias"] == "perExpert":
            tensors[p + "bias"] = uniform((EXPERTS, spec["outChannels"]), 0.5)
    with torch.no_grad():
        truth, routing = run_block(tensors, layers, torch.float64)
        single, _ = run_block(tensors, layers, torch.float32)
    err = float((single.double() - truth).abs().max())
    stored = {k: v.numpy() for k, v in tensors.items()}
    stored["routing"] = routing.numpy()
    stored["output"] = truth.numpy()
    metadata = {
        "block": json.dumps({"activation": "swish", "layers": layers}, separators=(",", ":")),
        "torchFloat32MaxAbsErr": repr(err),
        "torch": torch.__version__,
        "generator": "scripts/condconv_block.py",
    }
    export_weights.write_safetensors(args.out, stored, metadata)
    print(f"wrote {args.out}: output {list(truth.shape)}, torch float32 max abs err {err:.2e}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Train tiny CondConv layers for a few SGD steps, one per weight layout, for the round-trip test.

  /usr/bin/python3 scripts/train_tiny_condconv.py --out-dir DIR

For each trainee below, writes DIR/<name>/:
  state_dict.pt        torch.save of the trained module's state_dict (what a user has)
  spec.json            the layer's CondConvSpec
  check_input.pt       a float32 input (B, C, H, W) for scripts/export_weights.py --check-input
  check_routing.pt     routing weights (B, E), only for supplied routing
  native.safetensors   "output": the trained module's OWN forward, in float64, on that input

and prints a JSON list describing them (name, layout, paths, --prefix) on stdout.

The trainees, each computing CondConv its own native way:
  reference            the user's module (../shared/reference/condconv_seed.py) itself
  timm                 a port of timm's CondConv2d forward (matmul routing, one grouped conv
                       over the batch) inside a block with its nn.Linear routing_fn
  tensorflow           the official TensorFlow CondConv2D's math: kernels (kh, kw, C, O)
                       flattened per expert, per-expert bias, a Dense routing_fn (kernel (C, E))
  tensorflow-depthwise DepthwiseCondConv2D's math: kernels (kh, kw, C, M), TensorFlow "same"
                       padding (asymmetric here), routing computed by the block (supplied)

native.safetensors lets the test check that export_weights.py's layout conversion agrees with
each trainee's own computation, not only with itself.
"""

import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_weights  # noqa: E402  (write_safetensors)
import make_goldens  # noqa: E402  (the user's module loader)

STEPS = 5
LEARNING_RATE = 0.05


def tf_same_pad(x, kernel, stride):
    """TensorFlow's "SAME": out = ceil(in / stride), the smaller half of the padding first."""
    pads = []
    for size, k, s in ((x.shape[3], kernel[1], stride), (x.shape[2], kernel[0], stride)):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class TimmCondConv(nn.Module):
    """timm's CondConv2d (weight (E, O*C/g*kh*kw), bias (E, O)) plus its block's routing_fn."""

    def __init__(self, c, o, k, stride, padding, groups, experts):
        super().__init__()
        self.c, self.o, self.k, self.stride, self.padding, self.groups = c, o, k, stride, padding, groups
        self.weight = nn.Parameter(torch.randn(experts, o * (c // groups) * k * k) * 0.3)
        self.bias = nn.Parameter(torch.randn(experts, o) * 0.1)
        self.routing_fn = nn.Linear(c, experts)

    def forward(self, x):
        routing = torch.sigmoid(self.routing_fn(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        b, c, h, w = x.shape
        weight = torch.matmul(routing, self.weight).view(b * self.o, c // self.groups, self.k, self.k)
        bias = torch.matmul(routing, self.bias).view(b * self.o)
        out = F.conv2d(
            x.reshape(1, b * c, h, w), weight, bias, stride=self.stride, padding=self.padding, groups=self.groups * b
        )
        return out.permute([1, 0, 2, 3]).view(b, self.o, out.shape[-2], out.shape[-1])


class TfCondConv(nn.Module):
    """TensorFlow's CondConv2D math, padding "valid", with the block's Dense routing."""

    def __init__(self, c, o, kernel, experts):
        super().__init__()
        self.c, self.o, self.kernel = c, o, kernel
        self.condconv_kernel = nn.Parameter(torch.randn(experts, kernel[0] * kernel[1] * c * o) * 0.3)
        self.condconv_bias = nn.Parameter(torch.randn(experts, o) * 0.1)
        # a Keras Dense: kernel (in, out)
        self.routing_kernel = nn.Parameter(torch.randn(c, experts) * 0.5)
        self.routing_bias = nn.Parameter(torch.zeros(experts))

    def state_for_export(self):
        return {
            "condconv_kernel": self.condconv_kernel,
            "condconv_bias": self.condconv_bias,
            "routing_fn/kernel": self.routing_kernel,
            "routing_fn/bias": self.routing_bias,
        }

    def forward(self, x):
        routing = torch.sigmoid(x.mean(dim=(2, 3)) @ self.routing_kernel + self.routing_bias)
        kh, kw = self.kernel
        outputs = []
        for xb, rb in zip(x, routing):
            k = (rb @ self.condconv_kernel).view(kh, kw, self.c, self.o)  # TF's HWIO
            y = F.conv2d(xb[None], k.permute(3, 2, 0, 1))
            outputs.append(y + (rb @ self.condconv_bias)[None, :, None, None])
        return torch.cat(outputs)


class TfDepthwiseCondConv(nn.Module):
    """DepthwiseCondConv2D math with "same" padding; the routing comes from the block."""

    def __init__(self, c, multiplier, k, stride, experts):
        super().__init__()
        self.c, self.m, self.k, self.stride = c, multiplier, k, stride
        self.layer = nn.Module()
        self.layer.depthwise_condconv_kernel = nn.Parameter(torch.randn(experts, k * k * c * multiplier) * 0.3)
        self.layer.condconv_bias = nn.Parameter(torch.randn(experts, c * multiplier) * 0.1)
        self.routing = nn.Linear(c, experts)

    def forward(self, x, routing=None):
        if routing is None:
            routing = torch.sigmoid(self.routing(x.mean(dim=(2, 3))))
        outputs = []
        for xb, rb in zip(x, routing):
            k = (rb @ self.layer.depthwise_condconv_kernel).view(self.k, self.k, self.c, self.m)
            k = k.permute(2, 3, 0, 1).reshape(self.c * self.m, 1, self.k, self.k)  # channel c*M + m
            y = F.conv2d(tf_same_pad(xb[None], (self.k, self.k), self.stride), k, stride=self.stride, groups=self.c)
            outputs.append(y + (rb @ self.layer.condconv_bias)[None, :, None, None])
        return torch.cat(outputs)


def make_spec(in_channels, out_channels, kernel_size, experts, **fields):
    """A spec dict: per-expert bias, sigmoid routing and no dropout unless `fields` say otherwise."""
    return {
        "inChannels": in_channels,
        "outChannels": out_channels,
        "kernelSize": kernel_size,
        "numExperts": experts,
        "bias": "perExpert",
        "routing": {"kind": "sigmoid"},
        "dropoutRate": 0,
        **fields,
    }


def trainees():
    reference = make_goldens.load_reference_module()
    return [
        {
            "name": "reference",
            "layout": "reference",
            "module": reference.CondConv2D(4, 6, 3, padding=2, dilation=2, num_experts=3, dropout_rate=0.2),
            "spec": make_spec(4, 6, 3, 3, padding=2, dilation=2, bias="shared", dropoutRate=0.2),
            "input": (2, 4, 9, 9),
        },
        {
            "name": "timm",
            "layout": "timm",
            "module": TimmCondConv(4, 8, 3, stride=2, padding=1, groups=2, experts=4),
            "spec": make_spec(4, 8, 3, 4, stride=2, padding=1, groups=2),
            "input": (3, 4, 11, 11),
        },
        {
            "name": "tensorflow",
            "layout": "tensorflow",
            "module": TfCondConv(3, 5, (3, 2), experts=3),
            "spec": make_spec(3, 5, [3, 2], 3, padding="valid"),
            "input": (2, 3, 7, 8),
        },
        {
            "name": "tensorflow-depthwise",
            "layout": "tensorflow",
            "prefix": "layer.",
            "module": TfDepthwiseCondConv(4, 2, 5, stride=2, experts=3),
            "spec": make_spec(4, 8, 5, 3, stride=2, padding="same", groups=4, routing={"kind": "supplied"}),
            "input": (2, 4, 10, 10),
        },
    ]


def train(module, input_shape, generator):
    """A few SGD steps towards a random target: enough to move every parameter."""
    x = torch.rand(input_shape, generator=generator) * 2 - 1
    with torch.no_grad():
        target = torch.randn(module(x).shape, generator=generator)
    optimiser = torch.optim.SGD(module.parameters(), lr=LEARNING_RATE)
    module.train()
    for _ in range(STEPS):
        optimiser.zero_grad()
        loss = F.mse_loss(module(x), target)
        loss.backward()
        optimiser.step()
    module.eval()
    return float(loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    listing = []
    for trainee in trainees():
        module, spec = trainee["module"], trainee["spec"]
        directory = os.path.join(args.out_dir, trainee["name"])
        os.makedirs(directory, exist_ok=True)
        loss = train(module, trainee["input"], generator)
        state = module.state_for_export() if hasattr(module, "state_for_export") else module.state_dict()
        state = {k: v.detach().clone() for k, v in state.items()}
        paths = {
            "stateDict": os.path.join(directory, "state_dict.pt"),
            "spec": os.path.join(directory, "spec.json"),
            "checkInput": os.path.join(directory, "check_input.pt"),
            "native": os.path.join(directory, "native.safetensors"),
        }
        torch.save(state, paths["stateDict"])
        with open(paths["spec"], "w") as f:
            json.dump(spec, f)
        x = (torch.rand(trainee["input"], generator=generator) * 2 - 1).float()
        torch.save(x, paths["checkInput"])
        routing = None
        if spec["routing"]["kind"] == "supplied":
            routing = torch.rand((x.shape[0], spec["numExperts"]), generator=generator)
            paths["checkRouting"] = os.path.join(directory, "check_routing.pt")
            torch.save(routing, paths["checkRouting"])
        with torch.no_grad():
            wide = module.double()
            output = wide(x.double(), routing.double()) if routing is not None else wide(x.double())
        export_weights.write_safetensors(paths["native"], {"output": output.numpy()})
        listing.append(
            {"name": trainee["name"], "layout": trainee["layout"], "prefix": trainee.get("prefix", ""), "loss": loss, **paths}
        )
    print(json.dumps(listing))


if __name__ == "__main__":
    main()

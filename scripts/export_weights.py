#!/usr/bin/python3
"""Export a trained CondConv layer to a safetensors file that condconv-bench can check and time.

  /usr/bin/python3 scripts/export_weights.py STATE_DICT --spec SPEC --layout LAYOUT --out FILE
      [--prefix PREFIX] [--routing-prefix PREFIX] [--name NAME]
      [--check-shape B,H,W] [--check-input X.pt] [--check-routing R.pt] [--seed N] [--no-check]

STATE_DICT   a file saved with torch.save: a state_dict, a whole nn.Module, or a dict with a
             "state_dict" entry (loaded with torch.load: pickle is fine here, at export time;
             the file this script writes needs none to read); or a numpy .npz of named arrays
             (e.g. variables read from a TensorFlow checkpoint).
--spec       the layer's CondConvSpec (condconv/spec.ts) as JSON, inline or a file path:
             everything the tensors do not say (stride, padding, dilation, paddingMode,
             groups, bias, numExperts, routing).
--layout     how the tensors are named and shaped (E experts, O/C channels, g groups):
               reference   the user's module (condconv_seed.py): weight (E, O, C/g, kh, kw),
                           bias (O), _routing_fn.fc.weight (E, C), _routing_fn.fc.bias (E)
               timm        timm's CondConv2d: weight (E, O*C/g*kh*kw), bias (E, O); the
                           block's routing_fn.weight (E, C) / routing_fn.bias (E) when the
                           spec's routing is computed ("sigmoid")
               tensorflow  the official CondConv2D / DepthwiseCondConv2D: condconv_kernel
                           (E, kh*kw*C*O) or depthwise_condconv_kernel (E, kh*kw*C*M),
                           condconv_bias (E, O); the block's Dense routing_fn/kernel (C, E)
                           and routing_fn/bias (E) when the routing is computed
--prefix     take the tensors whose names start with PREFIX (e.g. "blocks.1.0.conv_pw.")
             and drop the prefix; every tensor under it must belong to the layer
--routing-prefix  where the block's routing layer lives, for timm and tensorflow (e.g.
             "blocks.1.0."); default: --prefix
--name       the layer's id in reports (default: the output file name)

Check tensors (unless --no-check): a float32 input (seeded uniform on [-1, 1) of shape
(B, C, H, W), default 2,16,16, or --check-input), supplied routing weights when the spec's
routing is "supplied" (seeded uniform on [0, 1), or --check-routing), and PyTorch's float64
output, stored as F64 under check.output. For the reference layout the output is the user's
module itself (../shared/reference/condconv_seed.py, through scripts/make_goldens.py's
run_oracle, padding-attribute defect patched), cross-checked against the vectorised
reference; where the module cannot run the case (asymmetric "same" padding) and for the timm
and tensorflow layouts it is the vectorised reference condconv() of scripts/make_goldens.py
after the layout is converted. The same condconv() in float32 gives PyTorch's own float32
error, stored as __metadata__ "torchFloat32MaxAbsErr" so condconv/tolerance.ts applies unchanged.

Weights are stored as F32 (the adapters run in float32); the check output is computed from
those float32 values, so the rounding of float64 weights is not counted as an adapter's error.

Exit status 0 on success, 2 on a bad argument or a state_dict that does not fit the layout.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ in the working tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens  # noqa: E402  (the vectorised reference and the user's module loader)

LAYOUTS = ("reference", "timm", "tensorflow")
SPEC_KEYS = {
    "inChannels",
    "outChannels",
    "kernelSize",
    "stride",
    "padding",
    "dilation",
    "paddingMode",
    "groups",
    "bias",
    "numExperts",
    "routing",
    "dropoutRate",
}
SAFETENSORS_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<f8"): "F64"}


class ExportError(Exception):
    """A bad argument or a state_dict that does not fit: printed without a trace, exit 2."""


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: float32/float64 numpy array} and string metadata as a safetensors file.

    8-byte little-endian header length, a JSON header padded with spaces to a multiple of 8,
    then every tensor's little-endian bytes in order.
    """
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    blobs = []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<")
        if dtype not in SAFETENSORS_DTYPES:
            raise ExportError(f'Cannot write tensor "{name}": dtype {array.dtype} (F32 or F64 only)')
        blob = array.astype(dtype).tobytes()
        header[name] = {
            "dtype": SAFETENSORS_DTYPES[dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads a safetensors file of F32/F64 tensors: ({name: numpy array}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    metadata = header.pop("__metadata__", {})
    body = data[8 + length :]
    dtypes = {"F32": "<f4", "F64": "<f8"}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return tensors, metadata


def parse_spec(text):
    """The spec JSON (inline or a file) with the suite's defaults filled in."""
    if not text.lstrip().startswith("{"):
        try:
            with open(text) as f:
                text = f.read()
        except OSError as error:
            raise ExportError(f'Cannot read --spec "{text}": {error.strerror}') from None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise ExportError(f"Cannot parse --spec: invalid JSON: {error}") from None
    if not isinstance(spec, dict):
        raise ExportError("Cannot parse --spec: expected a JSON object")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise ExportError(f"Cannot parse --spec: unknown keys {unknown} (known: {sorted(SPEC_KEYS)})")
    for key in ("inChannels", "outChannels", "kernelSize"):
        if key not in spec:
            raise ExportError(f'Cannot parse --spec: "{key}" is required')
    return {**make_goldens.SPEC_DEFAULTS, **spec}


def load_state(path):
    """{name: float numpy array} from a torch.save file or a numpy .npz."""
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in npz.files}
    try:
        obj = torch.load(path, map_location="cpu")
    except (OSError, RuntimeError) as error:
        raise ExportError(f'Cannot load state_dict "{path}": {error}') from None
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ExportError(f'Cannot load state_dict "{path}": found {type(obj).__name__}, expected a dict of tensors')
    state = {}
    for name, value in obj.items():
        if isinstance(value, torch.Tensor):
            state[name] = value.detach().cpu().numpy()
        elif isinstance(value, np.ndarray):
            state[name] = value
    return state


def layout_names(layout, spec):
    """The layer's tensor names and the block routing's, for this layout and spec."""
    routed = spec["routing"]["kind"] != "supplied"
    if layout == "reference":
        layer = ["weight"] + (["bias"] if spec["bias"] == "shared" else [])
        return layer + ["_routing_fn.fc.weight", "_routing_fn.fc.bias"], []
    if layout == "timm":
        layer = ["weight"] + (["bias"] if spec["bias"] == "perExpert" else [])
        return layer, (["routing_fn.weight", "routing_fn.bias"] if routed else [])
    layer = ["condconv_bias"] if spec["bias"] == "perExpert" else []
    return layer, (["routing_fn/kernel", "routing_fn/bias"] if routed else [])


def select(state, layout, spec, prefix, routing_prefix):
    """The layout's tensors (names without prefixes), float32, checked against the spec."""
    layer_names, routing_names = layout_names(layout, spec)
    under = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if layout == "tensorflow":
        kernels = [n for n in ("condconv_kernel", "depthwise_condconv_kernel") if n in under]
        if len(kernels) != 1:
            raise ExportError(
                f'Cannot export layout "tensorflow": expected one of "{prefix}condconv_kernel" or '
                f'"{prefix}depthwise_condconv_kernel", found {[prefix + k for k in kernels] or "neither"}'
            )
        layer_names = kernels + layer_names
    if routing_prefix == prefix:
        layer_names = layer_names + routing_names
        routing_names = []
    if layout == "reference" and spec["bias"] == "perExpert":
        raise ExportError('Cannot export layout "reference": its bias is shared, spec.bias must be "shared" or "none"')
    if layout != "reference" and spec["bias"] == "shared":
        raise ExportError(f'Cannot export layout "{layout}": its bias is per expert, spec.bias must be "perExpert" or "none"')
    if layout == "reference" and spec["routing"]["kind"] != "sigmoid":
        raise ExportError('Cannot export layout "reference": the module routes with a sigmoid, spec.routing.kind must be "sigmoid"')
    if layout != "reference" and spec["routing"]["kind"] == "softmax":
        raise ExportError(f'Cannot export layout "{layout}": spec.routing.kind must be "sigmoid" or "supplied"')
    extra = sorted(set(under) - set(layer_names))
    if extra:
        raise ExportError(
            f'Cannot export layout "{layout}": tensors {[prefix + n for n in extra]} are not used by the layer '
            f"(it uses {[prefix + n for n in layer_names]}; pick the layer with --prefix)"
        )
    out = {}
    for name in layer_names:
        if name not in under:
            raise ExportError(f'Cannot export layout "{layout}": tensor "{prefix}{name}" is missing')
        out[name] = under[name]
    for name in routing_names:
        full = routing_prefix + name
        if full not in state:
            raise ExportError(f'Cannot export layout "{layout}": routing tensor "{full}" is missing (--routing-prefix)')
        out[name] = state[full]
    for name, value in out.items():
        if not np.issubdtype(value.dtype, np.floating):
            raise ExportError(f'Cannot export tensor "{name}": dtype {value.dtype} is not floating-point')
        out[name] = value.astype(np.float32)
    return out


def to_condconv_tensors(layout, spec, layer):
    """The layer's tensors in the suite's layout (condconv/spec.ts), shapes checked."""
    kh, kw = make_goldens.pair(spec["kernelSize"])
    e, o, c, g = spec["numExperts"], spec["outChannels"], spec["inChannels"], spec["groups"]
    if c % g or o % g:
        raise ExportError(f"Cannot export: groups {g} must divide inChannels {c} and outChannels {o}")

    def shaped(name, shape):
        value = layer[name]
        if list(value.shape) != list(shape):
            raise ExportError(
                f'Cannot export layout "{layout}": tensor "{name}" has shape {list(value.shape)} '
                f"but the spec (numExperts {e}, outChannels {o}, inChannels {c}, groups {g}, "
                f"kernelSize [{kh}, {kw}]) needs {list(shape)}"
            )
        return value

    t = {}
    if layout == "reference":
        t["expertKernels"] = shaped("weight", (e, o, c // g, kh, kw))
        if "bias" in layer:
            t["bias"] = shaped("bias", (o,))
        t["routingWeight"] = shaped("_routing_fn.fc.weight", (e, c))
        t["routingBias"] = shaped("_routing_fn.fc.bias", (e,))
    elif layout == "timm":
        t["expertKernels"] = shaped("weight", (e, o * (c // g) * kh * kw)).reshape(e, o, c // g, kh, kw)
        if "bias" in layer:
            t["bias"] = shaped("bias", (e, o))
        if "routing_fn.weight" in layer:
            t["routingWeight"] = shaped("routing_fn.weight", (e, c))
            t["routingBias"] = shaped("routing_fn.bias", (e,))
    else:
        depthwise = "depthwise_condconv_kernel" in layer or (g == c and g > 1)
        name = "depthwise_condconv_kernel" if "depthwise_condconv_kernel" in layer else "condconv_kernel"
        if depthwise:
            if g != c:
                raise ExportError(f"Cannot export a depthwise TensorFlow kernel: spec.groups must equal inChannels {c}")
            m = o // c
            k = shaped(name, (e, kh * kw * c * m)).reshape(e, kh, kw, c, m)
            t["expertKernels"] = k.transpose(0, 3, 4, 1, 2).reshape(e, c * m, 1, kh, kw)
        else:
            if g != 1:
                raise ExportError("Cannot export layout \"tensorflow\": spec.groups must be 1 or inChannels")
            k = shaped(name, (e, kh * kw * c * o)).reshape(e, kh, kw, c, o)
            t["expertKernels"] = k.transpose(0, 4, 3, 1, 2)
        if "condconv_bias" in layer:
            t["bias"] = shaped("condconv_bias", (e, o))
        if "routing_fn/kernel" in layer:
            t["routingWeight"] = shaped("routing_fn/kernel", (c, e)).T
            t["routingBias"] = shaped("routing_fn/bias", (e,))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}


def load_array(path, what):
    """A float32 numpy array from a torch.save'd tensor or a .npy file."""
    if path.endswith(".npy"):
        value = np.load(path, allow_pickle=False)
    else:
        value = torch.load(path, map_location="cpu")
        value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
    if not np.issubdtype(value.dtype, np.floating):
        raise ExportError(f'Cannot use {what} "{path}": dtype {value.dtype} is not floating-point')
    single = value.astype(np.float32)
    if value.dtype == np.float64 and not np.array_equal(single.astype(np.float64), value):
        print(f"note: {what} rounded to float32 (the adapters run in float32)", file=sys.stderr)
    return single


def check_tensors(spec, args):
    """The check input (B, C, H, W) and, for supplied routing, routing weights (B, E)."""
    generator = torch.Generator().manual_seed(args.seed)
    if args.check_input:
        x = load_array(args.check_input, "--check-input")
        if x.ndim != 4 or x.shape[1] != spec["inChannels"]:
            raise ExportError(
                f"Cannot use --check-input: shape {list(x.shape)}, expected (B, {spec['inChannels']}, H, W)"
            )
    else:
        try:
            b, h, w = (int(v) for v in args.check_shape.split(","))
        except ValueError:
            raise ExportError(f'Cannot parse --check-shape "{args.check_shape}": expected B,H,W') from None
        x = (torch.rand((b, spec["inChannels"], h, w), generator=generator, dtype=torch.float64) * 2 - 1)
        x = x.float().numpy()
    routing = None
    if spec["routing"]["kind"] == "supplied":
        if args.check_routing:
            routing = load_array(args.check_routing, "--check-routing")
        else:
            routing = torch.rand((x.shape[0], spec["numExperts"]), generator=generator).numpy()
        if list(routing.shape) != [x.shape[0], spec["numExperts"]]:
            raise ExportError(
                f"Cannot use the check routing: shape {list(routing.shape)}, expected "
                f"[{x.shape[0]}, {spec['numExperts']}]"
            )
    elif args.check_routing:
        raise ExportError("Cannot use --check-routing: the spec's routing is computed, not supplied")
    return x, routing


def compute_check(layout, spec, tensors, x, routing):
    """PyTorch's float64 output, its float32 error, and what computed the output."""
    case = {"spec": spec, "input": {"batch": x.shape[0], "height": x.shape[2], "width": x.shape[3]}}
    g = make_goldens.geometry(spec, x.shape[2], x.shape[3])
    span_h = (g["kh"] - 1) * g["dh"] + 1
    span_w = (g["kw"] - 1) * g["dw"] + 1
    if span_h > x.shape[2] + g["top"] + g["bottom"] or span_w > x.shape[3] + g["left"] + g["right"]:
        raise ExportError(
            f"Cannot compute the check output: the kernel is larger than the padded check input "
            f"{list(x.shape)}; pass a larger --check-shape"
        )
    full = dict(tensors, input=x)
    if routing is not None:
        full["suppliedRouting"] = routing
    with torch.no_grad():
        truth, _ = make_goldens.condconv(case, full, torch.float64)
        single, _ = make_goldens.condconv(case, full, torch.float32)
    truth = truth.numpy()
    computed_by = "the vectorised reference (scripts/make_goldens.py condconv), float64"
    if layout == "reference":
        module = make_goldens.load_reference_module()
        status, detail, output = make_goldens.run_oracle(module, case, full)
        if output is None:
            computed_by += f"; the user's module cannot run this layer: {detail}"
        else:
            diff = float((output - torch.from_numpy(truth)).abs().max())
            bound = make_goldens.ORACLE_REL_TOL * max(1.0, float(np.abs(truth).max()))
            if not diff <= bound:
                raise ExportError(
                    f"Cannot trust the check output: the user's module and the vectorised reference "
                    f"differ by {diff:.3e} (bound {bound:.3e})"
                )
            truth = output.numpy()
            computed_by = f"{detail} ({status}), float64; vectorised reference agrees to {diff:.1e}"
    err = float(np.abs(single.numpy().astype(np.float64) - truth).max()) if truth.size else 0.0
    return truth, err, computed_by


def export(args):
    if args.layout not in LAYOUTS:
        raise ExportError(f'Unknown --layout "{args.layout}": expected one of {", ".join(LAYOUTS)}')
    spec = parse_spec(args.spec)
    state = load_state(args.state_dict)
    routing_prefix = args.prefix if args.routing_prefix is None else args.routing_prefix
    layer = select(state, args.layout, spec, args.prefix, routing_prefix)
    tensors = to_condconv_tensors(args.layout, spec, layer)
    name = args.name or os.path.basename(args.out).removesuffix(".safetensors")
    metadata = {
        "layout": args.layout,
        "spec": json.dumps(spec, separators=(",", ":")),
        "name": name,
        "source": os.path.basename(args.state_dict) + (f" (prefix {args.prefix})" if args.prefix else ""),
        "exporter": "scripts/export_weights.py",
        "torch": torch.__version__,
    }
    stored = dict(layer)
    if not args.no_check:
        x, routing = check_tensors(spec, args)
        truth, err, computed_by = compute_check(args.layout, spec, tensors, x, routing)
        stored["check.input"] = x
        if routing is not None:
            stored["check.routing"] = routing
        stored["check.output"] = truth.astype(np.float64)
        metadata["torchFloat32MaxAbsErr"] = repr(err)
        metadata["checkOutput"] = computed_by
        metadata["checkOutputDtype"] = "F64"
    write_safetensors(args.out, stored, metadata)
    summary = f"wrote {args.out}: layout {args.layout}, {len(layer)} layer tensors"
    if not args.no_check:
        summary += f", check output {list(stored['check.output'].shape)}, torch float32 max abs err {err:.2e}"
    print(summary)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("state_dict")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--layout", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--routing-prefix", default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--check-shape", default="2,16,16")
    parser.add_argument("--check-input", default=None)
    parser.add_argument("--check-routing", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-check", action="store_true")
    args = parser.parse_args(argv)
    try:
        export(args)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

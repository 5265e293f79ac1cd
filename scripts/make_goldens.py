#!/usr/bin/python3
"""Golden fixtures for condconv-bench, from PyTorch.

For every case of fixtures/cases.json:
  1. build the input and weights from the case's seed, bit-identically to condconv/seeded.ts;
  2. run a vectorised CondConv (the whole spec) in float64: the ground truth;
  3. check it against the user's module (../shared/reference/condconv_seed.py) wherever that
     module can run, and stop with an error if they disagree;
  4. run the same vectorised CondConv in float32 and record its error against the truth;
  5. write fixtures/goldens/<id>.f64 (float64, little-endian, NCHW) and fixtures/manifest.json.

  /usr/bin/python3 scripts/make_goldens.py           regenerate the fixtures
  /usr/bin/python3 scripts/make_goldens.py --check   regenerate in memory and compare with the
                                                     committed fixtures (CI's reproducibility check)

The reference module's directory defaults to ../shared/reference beside the repository; set
CONDCONV_REFERENCE_DIR to use another.
"""

import argparse
import copy
import hashlib
import importlib.util
import json
import math
import os
import platform
import struct
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
CASES_PATH = os.path.join(FIXTURES, "cases.json")
MANIFEST_PATH = os.path.join(FIXTURES, "manifest.json")
SEEDED_ALGORITHM = "fmix32-counter-v1"
STREAMS = {
    "input": 1,
    "expertKernels": 2,
    "bias": 3,
    "routingWeight": 4,
    "routingBias": 5,
    "suppliedRouting": 6,
}
SPEC_DEFAULTS = {
    "stride": 1,
    "padding": 0,
    "dilation": 1,
    "paddingMode": "zeros",
    "groups": 1,
    "bias": "shared",
    "numExperts": 3,
    "routing": {"kind": "sigmoid"},
    "dropoutRate": 0.2,
}
DATA_DEFAULTS = {"input": "uniform", "inputScale": 1, "inputOffset": 0, "routingBiasShift": 0}
# Two float64 computations of the same layer (the user's module, one convolution per
# example, and the vectorised one) differ only by summation order.
ORACLE_REL_TOL = 1e-12
# A regeneration must reproduce the committed goldens to float64 round-off.
REPRODUCE_REL_TOL = 1e-11
# Relative errors are taken over elements at least this fraction of the largest magnitude
# (condconv/tolerance.ts uses the same definition).
REL_FLOOR = 1e-3
M32 = 0xFFFFFFFF


def fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    h = h ^ (h >> np.uint32(16))
    return h


def stream_key(seed, stream):
    mixed = (seed * 0x9E3779B1 + stream * 0x85EBCA77) & M32
    return int(fmix32(np.array([mixed], dtype=np.uint32))[0])


def seeded_uniform(seed, stream, length, scale=1.0, offset=0.0):
    """float32(u * scale + offset), u uniform on [-1, 1): condconv/seeded.ts, bit for bit."""
    with np.errstate(over="ignore"):
        i = np.arange(length, dtype=np.uint32)
        h = fmix32(i * np.uint32(0x9E3779B1) + np.uint32(stream_key(seed, stream)))
    u = (h >> np.uint32(8)).astype(np.float64) * 2.0**-23 - 1.0
    return (u * scale + offset).astype(np.float32)


def fan_in_scale(fan_in):
    return 2.0 ** -math.floor(math.log2(fan_in) / 2)


def pair(v):
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def with_defaults(case):
    case = copy.deepcopy(case)
    case["spec"] = {**SPEC_DEFAULTS, **case["spec"]}
    case["data"] = {**DATA_DEFAULTS, **case.get("data", {})}
    return case


def same_padding(size, kernel, stride, dilation):
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def geometry(spec, height, width):
    kh, kw = pair(spec["kernelSize"])
    sh, sw = pair(spec["stride"])
    dh, dw = pair(spec["dilation"])
    padding = spec["padding"]
    if padding == "same":
        top, bottom = same_padding(height, kh, sh, dh)
        left, right = same_padding(width, kw, sw, dw)
    elif padding == "valid":
        top = bottom = left = right = 0
    else:
        ph, pw = pair(padding)
        top, bottom, left, right = ph, ph, pw, pw
    return dict(kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, top=top, bottom=bottom, left=left, right=right)


def case_tensors(case):
    """The tensors of condconv/seeded.ts caseTensors(), in STREAMS order."""
    spec, data, seed = case["spec"], case["data"], case["seed"]
    b, h, w = case["input"]["batch"], case["input"]["height"], case["input"]["width"]
    c, o, e, groups = spec["inChannels"], spec["outChannels"], spec["numExperts"], spec["groups"]
    kh, kw = pair(spec["kernelSize"])
    tensors = {}
    if data["input"] == "zeros":
        tensors["input"] = np.zeros((b, c, h, w), dtype=np.float32)
    else:
        tensors["input"] = seeded_uniform(
            seed, STREAMS["input"], b * c * h * w, data["inputScale"], data["inputOffset"]
        ).reshape(b, c, h, w)
    kernel_shape = (e, o, c // groups, kh, kw)
    tensors["expertKernels"] = seeded_uniform(
        seed, STREAMS["expertKernels"], int(np.prod(kernel_shape)), fan_in_scale(c // groups * kh * kw)
    ).reshape(kernel_shape)
    if spec["bias"] != "none":
        shape = (o,) if spec["bias"] == "shared" else (e, o)
        tensors["bias"] = seeded_uniform(seed, STREAMS["bias"], int(np.prod(shape)), 0.5).reshape(shape)
    if spec["routing"]["kind"] != "supplied":
        tensors["routingWeight"] = seeded_uniform(
            seed, STREAMS["routingWeight"], e * c, 2 * fan_in_scale(c)
        ).reshape(e, c)
        tensors["routingBias"] = seeded_uniform(
            seed, STREAMS["routingBias"], e, 0.5, data["routingBiasShift"]
        )
    else:
        tensors["suppliedRouting"] = seeded_uniform(
            seed, STREAMS["suppliedRouting"], b * e, 0.5, 0.5
        ).reshape(b, e)
    return tensors


def tensors_sha256(tensors):
    digest = hashlib.sha256()
    for name in STREAMS:
        if name in tensors:
            digest.update(tensors[name].astype("<f4").tobytes())
    return digest.hexdigest()


TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def condconv(case, tensors, dtype):
    """The whole spec, vectorised over the batch: one grouped convolution with groups = B * g."""
    spec = case["spec"]
    g = geometry(spec, case["input"]["height"], case["input"]["width"])
    t = {k: torch.from_numpy(v).to(dtype) for k, v in tensors.items()}
    x = t["input"]
    b, c = x.shape[0], x.shape[1]
    e, o, groups = spec["numExperts"], spec["outChannels"], spec["groups"]
    routing = spec["routing"]
    if routing["kind"] == "supplied":
        r = t["suppliedRouting"]
    else:
        logits = x.mean(dim=(2, 3)) @ t["routingWeight"].T + t["routingBias"]
        if routing["kind"] == "sigmoid":
            r = torch.sigmoid(logits)
        else:
            r = torch.softmax(logits / routing["temperature"], dim=1)
    kernels = torch.einsum("be,eocij->bocij", r, t["expertKernels"])
    kernels = kernels.reshape(b * o, c // groups, g["kh"], g["kw"])
    if spec["bias"] == "none":
        bias = None
    elif spec["bias"] == "shared":
        bias = t["bias"].repeat(b)
    else:
        bias = (r @ t["bias"]).reshape(b * o)
    padded = F.pad(
        x, (g["left"], g["right"], g["top"], g["bottom"]), mode=TORCH_PAD_MODES[spec["paddingMode"]]
    )
    y = F.conv2d(
        padded.reshape(1, b * c, padded.shape[2], padded.shape[3]),
        kernels,
        bias,
        stride=(g["sh"], g["sw"]),
        dilation=(g["dh"], g["dw"]),
        groups=b * groups,
    )
    return y.reshape(b, o, y.shape[2], y.shape[3]), r


def load_reference_module():
    directory = os.environ.get("CONDCONV_REFERENCE_DIR") or os.path.join(
        os.path.dirname(ROOT), "shared", "reference"
    )
    path = os.path.join(directory, "condconv_seed.py")
    if not os.path.isfile(path):
        sys.exit(
            f"Cannot check the goldens against the user's module: {path} not found "
            "(set CONDCONV_REFERENCE_DIR to the folder holding condconv_seed.py)"
        )
    module_spec = importlib.util.spec_from_file_location("condconv_seed", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def run_oracle(reference, case, tensors):
    """Runs the user's CondConv2D in float64, or says why it cannot run this case."""
    spec = case["spec"]
    reasons = []
    if spec["bias"] == "perExpert":
        reasons.append("per-expert bias (the module's bias is shared)")
    if spec["routing"]["kind"] != "sigmoid":
        reasons.append(f"{spec['routing']['kind']} routing (the module has sigmoid only)")
    g = geometry(spec, case["input"]["height"], case["input"]["width"])
    if g["top"] != g["bottom"] or g["left"] != g["right"]:
        reasons.append("asymmetric TensorFlow 'same' padding (the module pads symmetrically)")
    if reasons:
        return "not-runnable", "; ".join(reasons), None

    module = reference.CondConv2D(
        spec["inChannels"],
        spec["outChannels"],
        pair(spec["kernelSize"]),
        stride=pair(spec["stride"]),
        padding=(g["top"], g["left"]),
        dilation=pair(spec["dilation"]),
        groups=spec["groups"],
        bias=spec["bias"] == "shared",
        padding_mode=spec["paddingMode"],
        num_experts=spec["numExperts"],
        dropout_rate=spec["dropoutRate"],
    ).double().eval()
    status, detail = "module", "the user's module, as handed over"
    if spec["paddingMode"] != "zeros":
        # The module reads `_padding_repeated_twice`, which PyTorch names
        # `_reversed_padding_repeated_twice`: give it the attribute it meant.
        module._padding_repeated_twice = module._reversed_padding_repeated_twice
        status = "module-patched"
        detail = "the user's module with its padding attribute fixed (_padding_repeated_twice)"
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(tensors["expertKernels"]).double())
        if spec["bias"] == "shared":
            module.bias.copy_(torch.from_numpy(tensors["bias"]).double())
        module._routing_fn.fc.weight.copy_(torch.from_numpy(tensors["routingWeight"]).double())
        module._routing_fn.fc.bias.copy_(torch.from_numpy(tensors["routingBias"]).double())
        output = module(torch.from_numpy(tensors["input"]).double())
    return status, detail, output


def error_stats(actual, truth):
    diff = np.abs(actual.astype(np.float64) - truth)
    magnitude = np.abs(truth)
    floor = REL_FLOOR * float(magnitude.max()) if magnitude.size else 0.0
    mask = magnitude >= max(floor, np.finfo(np.float64).tiny)
    rel = float((diff[mask] / magnitude[mask]).max()) if mask.any() else 0.0
    return {"maxAbsErr": float(diff.max()) if diff.size else 0.0, "maxRelErr": rel}


def canonical(value):
    """condconv/cases.ts canonicalJson(): JSON as text both languages write alike."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "d" + struct.pack(">d", float(value) + 0.0).hex()  # -0.0 as 0.0
    if isinstance(value, str):
        return f"s{len(value.encode())}:{value}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{canonical(k)}:{canonical(value[k])}" for k in sorted(value)) + "}"
    raise TypeError(f"Cannot write {type(value).__name__} as canonical JSON")


def fields_sha256(entry):
    """condconv/cases.ts manifestEntryDigest(): sha256 of every field but fieldsSha256."""
    fields = {k: v for k, v in json.loads(json.dumps(entry)).items() if k != "fieldsSha256"}
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def generate(case_entries, reference):
    """Every case's golden bytes and manifest entry, checked against the user's module."""
    entries, outputs = [], {}
    for raw in case_entries:
        case = with_defaults(raw)
        tensors = case_tensors(case)
        with torch.no_grad():
            truth, routing = condconv(case, tensors, torch.float64)
            single, _ = condconv(case, tensors, torch.float32)
        truth_np = truth.numpy()
        status, detail, oracle_out = run_oracle(reference, case, tensors)
        max_abs_diff = None
        if oracle_out is not None:
            max_abs_diff = float((oracle_out - truth).abs().max())
            bound = ORACLE_REL_TOL * max(1.0, float(truth.abs().max()))
            if not max_abs_diff <= bound:
                sys.exit(
                    f"Cannot trust case \"{case['id']}\": the user's module and the vectorised "
                    f"reference differ by {max_abs_diff:.3e} (bound {bound:.3e})"
                )
        golden = truth_np.astype("<f8").tobytes()
        outputs[case["id"]] = truth_np
        entries.append(
            {
                "id": case["id"],
                "case": raw,
                "file": f"goldens/{case['id']}.f64",
                "outputShape": list(truth_np.shape),
                "sha256": hashlib.sha256(golden).hexdigest(),
                "tensorsSha256": tensors_sha256(tensors),
                "routingWeights": [float(v) for v in routing.reshape(-1)],
                "torchFloat32": error_stats(single.numpy(), truth_np),
                "oracle": {"status": status, "detail": detail, "maxAbsDiff": max_abs_diff},
            }
        )
        entries[-1]["fieldsSha256"] = fields_sha256(entries[-1])
        print(
            f"{case['id']:<36} {status:<15} torch f32 max abs err "
            f"{entries[-1]['torchFloat32']['maxAbsErr']:.2e}",
            file=sys.stderr,
        )
    return entries, outputs


def manifest_for(entries):
    return {
        "format": 1,
        "seededAlgorithm": SEEDED_ALGORITHM,
        "generator": {
            "script": "scripts/make_goldens.py",
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "cases": entries,
    }


def write_atomically(path, data):
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write(entries, outputs):
    goldens = os.path.join(FIXTURES, "goldens")
    os.makedirs(goldens, exist_ok=True)
    wanted = set()
    for entry in entries:
        path = os.path.join(FIXTURES, entry["file"])
        wanted.add(os.path.basename(path))
        write_atomically(path, outputs[entry["id"]].astype("<f8").tobytes())
    for name in os.listdir(goldens):
        if name.endswith(".f64") and name not in wanted:
            os.remove(os.path.join(goldens, name))
    text = json.dumps(manifest_for(entries), indent=2) + "\n"
    write_atomically(MANIFEST_PATH, text.encode())


def check(entries, outputs):
    """Compares a regeneration with the committed fixtures; returns (passed, failed)."""
    with open(MANIFEST_PATH) as f:
        committed = {e["id"]: e for e in json.load(f)["cases"]}
    passed = failed = 0
    for entry in entries:
        case_id = entry["id"]
        old = committed.get(case_id)
        problem = None
        if old is None:
            problem = "not in the committed manifest"
        elif old.get("fieldsSha256") != fields_sha256(old):
            problem = "the committed manifest entry was edited after it was made (fieldsSha256)"
        elif old["case"] != entry["case"]:
            problem = "the committed case entry differs from cases.json"
        elif old["tensorsSha256"] != entry["tensorsSha256"]:
            problem = "seeded tensors differ from the committed checksum"
        elif old["outputShape"] != entry["outputShape"]:
            problem = f"output shape {entry['outputShape']} != committed {old['outputShape']}"
        else:
            with open(os.path.join(FIXTURES, old["file"]), "rb") as f:
                committed_out = np.frombuffer(f.read(), dtype="<f8")
            fresh = outputs[case_id].reshape(-1)
            if committed_out.size != fresh.size:
                problem = f"committed golden has {committed_out.size} values, expected {fresh.size}"
            else:
                diff = float(np.abs(committed_out - fresh).max())
                bound = REPRODUCE_REL_TOL * max(1.0, float(np.abs(committed_out).max()))
                if not diff <= bound:
                    problem = f"output differs by {diff:.3e} (bound {bound:.3e})"
        if problem:
            failed += 1
            print(f"FAIL golden {case_id}: {problem}")
        else:
            passed += 1
    for case_id in committed.keys() - {e["id"] for e in entries}:
        failed += 1
        print(f"FAIL golden {case_id}: in the committed manifest but not in cases.json")
    return passed, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare a regeneration with the committed fixtures")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    with open(CASES_PATH) as f:
        case_entries = json.load(f)["cases"]
    reference = load_reference_module()
    entries, outputs = generate(case_entries, reference)
    if args.check:
        passed, failed = check(entries, outputs)
        print(f"golden reproducibility: {passed} passed, {failed} failed")
        sys.exit(1 if failed else 0)
    write(entries, outputs)
    print(f"wrote {len(entries)} goldens and {os.path.relpath(MANIFEST_PATH, ROOT)}")


if __name__ == "__main__":
    main()

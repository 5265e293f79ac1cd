#!/usr/bin/python3
"""PyTorch CPU baseline for `deno task bench`.

Reads a JSON list of benchmark cases on stdin ({"id", "case", "batch"}, where "case" is an
entry of fixtures/cases.json), builds the same seeded tensors as the suite, and times, per
case, PyTorch's vectorised CondConv (float32, one grouped convolution with groups = B * g)
and a static convolution of the same shape, once per --threads count (repeatable: every case
at 1 thread, then every case at 2, ...). Writes one JSON object on stdout, one run per count.

  /usr/bin/python3 scripts/bench_torch.py --threads 1 --threads 2 --min-samples 8 \
      --budget-ms 400 < cases.json
"""

import argparse
import copy
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_goldens as goldens  # noqa: E402


def measure(fn, min_samples, budget_ns):
    fn()  # warm-up: allocator, oneDNN primitive cache
    fn()
    samples = []
    spent = 0
    while len(samples) < min_samples or spent < budget_ns:
        t0 = time.perf_counter_ns()
        fn()
        dt = time.perf_counter_ns() - t0
        samples.append(dt)
        spent += dt
        if len(samples) >= 100_000:
            break
    samples.sort()
    n = len(samples)
    return {
        "samplesNs": samples,
        "minNs": samples[0],
        "maxNs": samples[-1],
        "p50Ns": samples[int(0.5 * (n - 1))],
        "p99Ns": samples[int(0.99 * (n - 1))],
        "avgNs": sum(samples) / n,
        "count": n,
    }


def static_conv(case, tensors):
    spec = case["spec"]
    g = goldens.geometry(spec, case["input"]["height"], case["input"]["width"])
    x = torch.from_numpy(tensors["input"])
    kernel = torch.from_numpy(tensors["expertKernels"][0].copy())
    bias = None
    if spec["bias"] == "shared":
        bias = torch.from_numpy(tensors["bias"])
    elif spec["bias"] == "perExpert":
        bias = torch.from_numpy(tensors["bias"][0].copy())
    mode = goldens.TORCH_PAD_MODES[spec["paddingMode"]]

    def run():
        padded = F.pad(x, (g["left"], g["right"], g["top"], g["bottom"]), mode=mode)
        return F.conv2d(padded, kernel, bias, (g["sh"], g["sw"]), 0, (g["dh"], g["dw"]), spec["groups"])

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, action="append", required=True)
    parser.add_argument("--min-samples", type=int, default=8)
    parser.add_argument("--budget-ms", type=float, default=400)
    args = parser.parse_args()
    for threads in args.threads:
        if threads < 1:
            parser.error(f"--threads must be at least 1, got {threads}")
    items = json.load(sys.stdin)
    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        results = []
        for item in items:
            raw = copy.deepcopy(item["case"])
            raw["input"]["batch"] = item["batch"]
            case = goldens.with_defaults(raw)
            tensors = goldens.case_tensors(case)
            with torch.no_grad():
                condconv = measure(
                    lambda: goldens.condconv(case, tensors, torch.float32), args.min_samples, args.budget_ms * 1e6
                )
                static = measure(static_conv(case, tensors), args.min_samples, args.budget_ms * 1e6)
            results.append({"id": item["id"], "condconv": condconv, "static": static})
        # the count torch really uses, which may differ from the one asked for
        runs.append({"threads": torch.get_num_threads(), "results": results})
    json.dump(
        {
            "torch": torch.__version__,
            "mkldnn": torch.backends.mkldnn.is_available(),
            "runs": runs,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()

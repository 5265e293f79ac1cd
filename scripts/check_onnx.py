#!/usr/bin/env python3
"""Checks ONNX models with the ONNX checker, strict shape inference included.

Usage: /usr/bin/python3 scripts/check_onnx.py MODEL.onnx [MODEL.onnx ...]

Runs ``onnx.checker.check_model(path, full_check=True)`` on every path and prints one line per
model. Exit status: 0 when every model passes, 1 when any fails, 2 on bad usage or when the
``onnx`` package is missing (Debian: ``apt-get install python3-onnx``).
"""

import sys


def main(paths: list[str]) -> int:
    if not paths:
        print("usage: check_onnx.py MODEL.onnx [MODEL.onnx ...]", file=sys.stderr)
        return 2
    try:
        import onnx
    except ImportError as error:
        print(f"error: Cannot check models: the onnx package is missing: {error}", file=sys.stderr)
        return 2
    failed = 0
    for path in paths:
        try:
            onnx.checker.check_model(path, full_check=True)
        except Exception as error:  # the checker raises several exception types
            failed += 1
            print(f"FAIL {path}: {type(error).__name__}: {error}")
        else:
            print(f"ok   {path} (onnx {onnx.__version__})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

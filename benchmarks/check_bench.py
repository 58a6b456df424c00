"""Wall time of `parity check` (the API, end to end) on a 1x16x64x64 float32 input with a 16x16x3x3 kernel.

    python benchmarks/check_bench.py [--repeats N]

Cases: a match (no search), one change found among the singles, a pair found after the singles fail, and
an unexplained Y (the whole search: every single and pair). Prints the best of N runs per case.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from parity.core import convert
from parity.porting import diagnose
from parity.reference import conv as reference
from parity.porting import reading as rd
from parity.porting.checking import check


def _conv(x, w, pads, strides=(1, 1), dilations=(1, 1)):
    value, _, _ = reference.conv(x.astype(np.float64), w.astype(np.float64), strides, pads, dilations)
    return value.astype(np.float32)


def cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, dict]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 64, 64)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    same = ((1, 1), (1, 1))
    return [
        ("match (SAME)", x, w, _conv(x, w, same), dict(padding="SAME")),
        ("single: flip", x, w, _conv(x, convert.flip(w), same), dict(padding="SAME")),
        ("pair: flip + padding (0, 2)", x, w, _conv(x, convert.flip(w), ((0, 2), (0, 2))), dict(padding="SAME")),
        ("nothing explains (random Y)", x, w, rng.standard_normal((1, 16, 64, 64)).astype(np.float32),
         dict(padding="SAME")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    print(f"# parity check, 1x16x64x64 f32, 16x16x3x3 kernel, best of {repeats}; {os.cpu_count()} CPUs")
    print(f"{'case':32} {'seconds':>8} {'readings':>9} {'references':>11}  first explanation")
    for name, x, w, y, conventions in cases():
        best, result = float("inf"), None
        for _ in range(repeats):
            started = time.perf_counter()
            result = check(x, w, y, **conventions)
            best = min(best, time.perf_counter() - started)
        references = diagnose.search(rd.stated(2, **conventions), x, w, y).references if result.searched else 0
        first = ", ".join(result.explanations[0].changes) if result.explanations else "-"
        print(f"{name:32} {best:8.2f} {result.searched:9d} {references:11d}  {first}")


if __name__ == "__main__":
    main()

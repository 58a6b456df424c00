"""The reference against torch's float64 conv2d, measured paired (interleaved, medians), the figures
``parity bench`` prints: 1x8x16x16, 4x32x32x32, 16x64x64x64 inputs, 3x3 kernel, SAME padding.

    python benchmarks/reference_bench.py [--repeats N] [--sizes small,medium,large] [--against DIR]

Per size: torch ``conv2d`` in float64, ``parity.reference.conv.reference`` for a float32 case (value and
bound scale) and for a float64 case (the error-free path), each call timed in turn, round after round;
the median of each and its ratio to torch's median. ``--against DIR`` also times ``parity_base``, a copy
of the package importable from DIR (for before/after figures in one run).
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from typing import Callable

import numpy as np

from parity.core.inputs import generate
from parity.reference.conv import reference
from parity.core.spec import ConvSpec

SIZES = {"small": dict(batch=1, in_channels=8, spatial=(16, 16), out_channels=8),
         "medium": dict(batch=4, in_channels=32, spatial=(32, 32), out_channels=32),
         "large": dict(batch=16, in_channels=64, spatial=(64, 64), out_channels=64)}
ROUNDS = {"small": 200, "medium": 20, "large": 3}


def interleaved(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each call, timed A B C A B C ... after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(rounds + 1):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def calls_for(label: str, base) -> dict[str, Callable[[], object]]:
    import torch

    plain = ConvSpec(kernel=3, padding="SAME", dtype="float32", **SIZES[label])
    exact = ConvSpec(kernel=3, padding="SAME", dtype="float64", **SIZES[label])
    x, w = generate(exact)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    calls = {"torch f64": lambda: torch.nn.functional.conv2d(xt, wt, padding=1),
             "ref f32 case": lambda: reference(plain, x, w), "ref f64 exact": lambda: reference(exact, x, w)}
    if base is not None:
        calls["base f32 case"] = lambda: base.reference(plain, x, w)
        calls["base f64 exact"] = lambda: base.reference(exact, x, w)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=0, help="rounds per size (default: 200/20/3)")
    parser.add_argument("--sizes", default="small,medium,large")
    parser.add_argument("--against", default=None)
    args = parser.parse_args()
    base = None
    if args.against:
        sys.path.insert(0, args.against)
        base = importlib.import_module("parity_base.reference")
    print(f"# medians of interleaved rounds; {os.cpu_count()} CPUs; ratios to torch f64 conv2d")
    for label in args.sizes.split(","):
        medians = interleaved(calls_for(label, base), args.repeats or ROUNDS[label])
        torch_time = medians.pop("torch f64")
        figures = "  ".join(f"{name} {t * 1e3:.3f} ms ({t / torch_time:.2f}x)" for name, t in medians.items())
        print(f"{label:7} torch f64 {torch_time * 1e3:.3f} ms  {figures}", flush=True)


if __name__ == "__main__":
    main()

"""``parity bench``: performance figures measured in one run, printed as ratios.

1. The reference against torch's float64 conv on small, medium and large 2-D cases (both the plain
   float64 path used for 16/32-bit cases and the error-free path used for float64 cases).
2. ``parity run`` against a hand loop doing the same work: inputs, reference and the raw adapter calls.
Times are the best of ``repeats`` runs with ``time.perf_counter``.
"""
from __future__ import annotations

import time
from typing import Callable, Iterable

import numpy as np

from parity import adapters, runner
from parity.inputs import cotangent, generate
from parity.reference import reference
from parity.registry import Case
from parity.spec import ConvSpec

SIZES = {"small": dict(batch=1, in_channels=8, spatial=(16, 16), out_channels=8),
         "medium": dict(batch=4, in_channels=32, spatial=(32, 32), out_channels=32),
         "large": dict(batch=16, in_channels=64, spatial=(64, 64), out_channels=64)}


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def reference_vs_torch(repeats: int = 3) -> list[str]:
    import torch

    lines = [f"{'case':<8}{'shape':<22}{'torch f64':>11}{'ref (f32 case)':>16}{'ratio':>7}"
             f"{'ref (f64 exact)':>17}{'ratio':>7}"]
    for label, size in SIZES.items():
        spec = ConvSpec(kernel=3, padding="SAME", dtype="float32", **size)
        exact = ConvSpec(kernel=3, padding="SAME", dtype="float64", **size)
        x, w = generate(exact)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        t_torch = best_of(lambda: torch.nn.functional.conv2d(xt, wt, padding=1), repeats)
        t_plain = best_of(lambda: reference(spec, x, w), repeats)
        t_exact = best_of(lambda: reference(exact, x, w), max(1, repeats - 2))
        shape = "x".join(map(str, spec.input_shape))
        lines.append(f"{label:<8}{shape:<22}{t_torch:>10.4f}s{t_plain:>15.4f}s{t_plain / t_torch:>6.2f}x"
                     f"{t_exact:>16.4f}s{t_exact / t_torch:>6.2f}x")
    return lines


def run_vs_hand_loop(cases: list[Case], backends: list[str]) -> list[str]:
    """Wall time of ``runner.run`` against the bare work it does (measured back to back)."""
    start = time.perf_counter()
    for _ in runner.run(cases, backends):
        pass
    t_run = time.perf_counter() - start
    t_inputs, t_ref, t_calls = _hand_loop(cases, [adapters.get(b) for b in backends])
    bare = t_inputs + t_ref + t_calls
    return [f"parity run: {t_run:.2f}s for {len(cases)} cases x {len(backends)} backends",
            f"hand loop:  {bare:.2f}s (inputs {t_inputs:.2f}s, reference {t_ref:.2f}s, "
            f"framework calls {t_calls:.2f}s)",
            f"ratio run / hand loop: {t_run / bare:.2f}x; run / framework calls alone: {t_run / t_calls:.2f}x"]


def _hand_loop(cases: Iterable[Case], chosen: list) -> tuple[float, float, float]:
    t_inputs = t_ref = t_calls = 0.0
    for case in cases:
        t0 = time.perf_counter()
        x, w = generate(case.spec)
        dy = cotangent(case.spec)
        t1 = time.perf_counter()
        reference(case.spec, x, w, dy)
        t2 = time.perf_counter()
        t_inputs, t_ref = t_inputs + t1 - t0, t_ref + t2 - t1
        for adapter in chosen:
            if adapter.available() is None and adapter.supports(case.spec) is None:
                t3 = time.perf_counter()
                try:
                    np.asarray(adapter.run(case.spec, x, w, dy))
                except Exception:  # errors are the runner's business; the hand loop only times calls
                    pass
                t_calls += time.perf_counter() - t3
    return t_inputs, t_ref, t_calls

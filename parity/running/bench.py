"""``parity bench``: performance figures measured in one run, printed as ratios.

1. The reference against torch's float64 conv on small, medium and large 2-D cases (both the plain
   float64 path used for 16/32-bit cases and the error-free path used for float64 cases).
2. ``parity run`` against a hand loop doing the same work: inputs, reference and the raw adapter calls; and
   the least the run can take, the hand loop plus its accumulation probes' framework calls.
3. ``parity list`` start-up time and the framework modules it imports (goal: none).
4. The regression suite under ``pytest -n 0`` and ``-n 2`` (:mod:`parity.running.bench_suite`).
5. Peak memory of the reference on a large 3-D case, against the size of its operands.
6. The main job: ``parity run`` of the tier on the backends in a fresh process, wall time and peak RSS.
Times are the best of ``repeats`` runs with ``time.perf_counter``; 3 to 6 run in fresh processes. Each
measurement returns its detail lines and its :class:`Figure` rows; :func:`table` prints the rows as the
README's performance table, so that every figure of it comes from one run.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from parity import adapters
from parity.running import runner
from parity.core.inputs import cotangent, generate
from parity.reference.conv import CHUNK_BYTES, reference
from parity.running.registry import Case
from parity.core.spec import ConvSpec

SIZES = {"small": dict(batch=1, in_channels=8, spatial=(16, 16), out_channels=8),
         "medium": dict(batch=4, in_channels=32, spatial=(32, 32), out_channels=32),
         "large": dict(batch=16, in_channels=64, spatial=(64, 64), out_channels=64)}


# Goals of the performance issue: the exact path's ratio to torch per size, and the main job's wall time
# and peak RSS; the other goals are written where their figures are made.
EXACT_GOALS = {"small": 8.0, "medium": 8.0, "large": 4.0}
MAIN_JOB_SECONDS, MAIN_JOB_MIB = 2 * 144.0, 1024.0  # within 2x of the 872-case, 10-backend job; 1 GB


@dataclass(frozen=True)
class Figure:
    """One row of the performance table: what was measured, the figure, the goal ('' for none) and whether
    the figure meets it (None without a goal)."""

    what: str
    measured: str
    goal: str = ""
    met: bool | None = None


Measured = tuple[list[str], list[Figure]]


def _at_most(what: str, value: float, limit: float, unit: str = "x", digits: int = 2) -> Figure:
    return Figure(what, f"{value:.{digits}f}{unit}", f"≤ {limit:g}{unit}", value <= limit)


def table(figures: list[Figure]) -> list[str]:
    """The figures as a markdown table (the README's performance table)."""
    mark = {True: "yes", False: "**no**", None: ""}
    return ["| figure | measured | goal | met |", "| --- | --- | --- | --- |",
            *(f"| {f.what} | {f.measured} | {f.goal} | {mark[f.met]} |" for f in figures)]


def best_of(fn: Callable[[], object], repeats: int, budget: float = 0.25) -> float:
    """The shortest of at least ``repeats`` timed calls, and of as many as fit ``budget`` seconds (up to
    1000), after one untimed call (first-call costs, and the previous block's BLAS threads still spinning,
    land there). A call of microseconds varies by several times from one call to the next here: the
    minimum of many is what it costs."""
    fn()
    times: list[float] = []
    while len(times) < repeats or (sum(times) < budget and len(times) < 1000):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fastest(calls: list[Callable[[], object]], repeats: int, rounds: int = 3) -> list[float]:
    """The shortest time of each of ``calls``: ``rounds`` rounds in which each call has a block of
    :func:`best_of` in turn, so that every call meets the same spells of a drifting machine (one block per
    call had read torch's small conv at 0.1 ms, 8 times its usual, while the reference's block ran at full
    speed). Calls are not alternated one by one: torch's threads then wake from sleep on every call and
    OpenBLAS' still spin beside them (its 13 µs small conv read 0.2 to 1.4 ms that way)."""
    times = [[best_of(call, repeats) for call in calls] for _ in range(rounds)]
    return [min(column) for column in zip(*times)]


def reference_vs_torch(repeats: int = 3) -> Measured:
    import torch

    lines = [f"{'case':<8}{'shape':<20}{'torch f64':>11}{'one GEMM':>11}{'ratio':>9}{'ref (f32 case)':>16}"
             f"{'ratio':>9}{'ref (f64 exact)':>17}{'ratio':>9}"]
    figures = []
    for label, size in SIZES.items():
        spec = ConvSpec(kernel=3, padding="SAME", dtype="float32", **size)
        exact = ConvSpec(kernel=3, padding="SAME", dtype="float64", **size)
        x, w = generate(exact)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        # the product every float64 conv does: (O, C * taps) @ (C * taps, positions), gathered beforehand
        weights, columns = w.reshape(w.shape[0], -1), np.ones((w[0].size, math.prod(spec.output_shape) // w.shape[0]))
        t_torch, t_gemm, t_plain, t_exact = fastest(
            [lambda: torch.nn.functional.conv2d(xt, wt, padding=1), lambda: weights @ columns,
             lambda: reference(spec, x, w), lambda: reference(exact, x, w)], repeats)
        shape = "x".join(map(str, spec.input_shape))
        lines.append(f"{label:<8}{shape:<20} {t_torch:>9.4f}s {t_gemm:>9.4f}s {t_gemm / t_torch:>7.2f}x"
                     f" {t_plain:>14.4f}s {t_plain / t_torch:>7.2f}x {t_exact:>15.4f}s {t_exact / t_torch:>7.2f}x")
        figures += [Figure(f"numpy float64 GEMM of the conv's size alone (no gather) vs torch float64 conv2d, {shape}",
                           f"{t_gemm / t_torch:.2f}x"),
                    _at_most(f"reference (16/32-bit case) vs torch float64 conv2d, {shape}", t_plain / t_torch, 1.0),
                    _at_most(f"exact float64 path vs torch float64 conv2d, {shape}", t_exact / t_torch,
                             EXACT_GOALS[label])]
    return lines, figures


def run_vs_hand_loop(cases: list[Case], backends: list[str]) -> Measured:
    """Wall time of ``runner.run`` against the bare work it does (measured back to back, both after a
    warm-up pass over the cases, so that neither pays framework imports or first-call costs), and the least
    the run can take while it probes accumulations on every run: the hand loop plus the probes' framework
    calls."""
    _hand_loop(cases, [adapters.get(b) for b in backends])
    with _timed_calls() as spent:
        start = time.perf_counter()
        for _ in runner.run(cases, backends):
            pass
        t_run = time.perf_counter() - start
    t_inputs, t_ref, t_calls = _hand_loop(cases, [adapters.get(b) for b in backends])
    bare, (probes, count) = t_inputs + t_ref + t_calls, spent["probes"]
    least = least_run(bare, probes, t_calls)
    what = f"`parity run` ({len(cases)} cases x {', '.join(backends)})"
    how = f"the hand loop plus the run's accumulation probes ({count} framework calls on canary data, {probes:.2f} s)"
    return ([f"parity run: {t_run:.2f}s for {len(cases)} cases x {len(backends)} backends (framework calls: the "
             f"cases' {spent['cases'][0]:.2f}s, accumulation probes {probes:.2f}s in {count} calls)",
             f"hand loop:  {bare:.2f}s (inputs {t_inputs:.2f}s, reference {t_ref:.2f}s, "
             f"framework calls {t_calls:.2f}s)",
             f"ratio run / hand loop: {t_run / bare:.2f}x; run / framework calls alone: {t_run / t_calls:.2f}x; "
             f"least possible (hand loop + probes): {least[0]:.2f}x and {least[1]:.2f}x"],
            [_at_most(f"{what} vs a hand loop of the same inputs, reference and framework calls", t_run / bare, 1.15),
             Figure(f"least {what} can take vs the hand loop: {how}", f"{least[0]:.2f}x"),
             _at_most(f"{what} vs the framework calls alone", t_run / t_calls, 1.5),
             Figure(f"least {what} can take vs the framework calls alone: {how}", f"{least[1]:.2f}x")])


def least_run(bare: float, probes: float, calls: float) -> tuple[float, float]:
    """The least a run can take over the hand loop (``bare`` seconds, of which ``calls`` in framework calls)
    and over those calls, when it must also make the probes' calls (``probes`` seconds)."""
    return (bare + probes) / bare, (bare + probes) / calls


@contextmanager
def _timed_calls() -> Iterator[dict[str, list]]:
    """The runner's framework calls (``runner.call``) and the accumulation probes' (``accumulation.call``,
    on canary data) timed apart: [seconds, calls] of each."""
    from parity.running import accumulation

    spent: dict[str, list] = {"cases": [0.0, 0], "probes": [0.0, 0]}
    plain = {"cases": (runner, runner.call), "probes": (accumulation, accumulation.call)}

    def timer(kind: str, call: Callable[..., object]) -> Callable[..., object]:
        def timed(*args: object) -> object:
            start = time.perf_counter()
            try:
                return call(*args)
            finally:
                spent[kind][0] += time.perf_counter() - start
                spent[kind][1] += 1
        return timed

    for kind, (module, call) in plain.items():
        module.call = timer(kind, call)
    try:
        yield spent
    finally:
        for module, call in plain.values():
            module.call = call


def _hand_loop(cases: Iterable[Case], chosen: list) -> tuple[float, float, float]:
    t_inputs = t_ref = t_calls = 0.0
    for case in cases:
        t0 = time.perf_counter()
        x, w = generate(case.spec)
        dy = cotangent(case.spec)
        operands = [a for a in (x, w, dy) if a is not None]  # as the runner passes them: dy for gradients only
        t1 = time.perf_counter()
        reference(case.spec, x, w, dy)
        t2 = time.perf_counter()
        t_inputs, t_ref = t_inputs + t1 - t0, t_ref + t2 - t1
        for adapter in chosen:
            if adapter.available() is None and adapter.supports(case.spec) is None:
                t3 = time.perf_counter()
                try:
                    np.asarray(adapter.run(case.spec, *operands))
                except Exception:  # errors are the runner's business; the hand loop only times calls
                    pass
                t_calls += time.perf_counter() - t3
    return t_inputs, t_ref, t_calls


_FRAMEWORKS = ("torch", "tensorflow", "jax", "keras", "onnxruntime", "pytensor")
_LIST_PROBE = ("import sys; from parity.cli.main import main; main(['list']); "
               f"print(sorted(m for m in sys.modules if m.split('.')[0] in {_FRAMEWORKS!r}), file=sys.stderr)")


def list_startup(repeats: int = 3) -> Measured:
    times, imported = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _LIST_PROBE], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        imported = done.stderr.strip().splitlines()[-1]
    figure = _at_most("`parity list` start-up (fresh process)", min(times), 0.25, " s", 3)
    if imported != "[]":
        figure = Figure(figure.what, f"{figure.measured}, imports {imported}", figure.goal + ", no framework", False)
    return [f"parity list: {min(times):.2f}s (best of {repeats}, fresh process); framework modules imported: "
            f"{imported}"], [figure]


# VmHWM (peak RSS of this process image), not ru_maxrss: the latter starts from the parent's size when
# the parent is large (a process that already imported a framework) and would hide the reference's peak.
_MEMORY_PROBE = """
import json, sys
from parity.core.spec import ConvSpec
from parity.core.inputs import generate
from parity.reference.conv import reference
def peak():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
spec = ConvSpec(**json.loads(sys.argv[1]))
x, w = generate(spec)
before = peak()
reference(spec, x, w)
print(before, peak())
"""


def peak_memory() -> Measured:
    spec = ConvSpec(spatial=(48, 48, 48), kernel=3, in_channels=16, out_channels=16, batch=2, padding="SAME")
    done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, json.dumps(spec.as_dict())], capture_output=True,
                          text=True, check=True)
    before, after = (int(v) / 1024 for v in done.stdout.split())
    operands = 8 * (math.prod(spec.input_shape) + math.prod(spec.output_shape)) / 2**20
    return ([f"peak memory, reference of {spec.slug()}: {after:.0f} MiB peak RSS ({after - before:.0f} MiB "
             f"over the inputs), float64 input + output {operands:.0f} MiB, chunk budget "
             f"{CHUNK_BYTES >> 20} MiB"],
            [Figure(f"reference of {spec.slug()}: peak RSS over its inputs (float64 input + output: {operands:.0f} "
                    f"MiB)", f"{after - before:.0f} MiB")])


def main_job(tier: str, backends: list[str], keyword: str | None = None) -> Measured:
    """``parity run`` of the tier (cases matching ``keyword``, if given) in a fresh process: wall time and
    peak RSS (that child's own, by wait4)."""
    command = [sys.executable, "-m", "parity.cli", "run", "--tier", tier, "--backends", ",".join(backends),
               *(["-k", keyword] if keyword else [])]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds, mib = time.perf_counter() - start, usage.ru_maxrss / 1024
    child.returncode = os.waitstatus_to_exitcode(status)
    selection = f" -k {keyword!r}" if keyword else ""
    what = (f"main job: `parity run --tier {tier}{selection}` on {', '.join(backends)}, fresh process "
            f"(exit {child.returncode})")
    return ([f"{what}: {seconds:.1f}s wall, peak RSS {mib:.0f} MiB"],
            [_at_most(f"{what}, wall time", seconds, MAIN_JOB_SECONDS, " s", 1),
             _at_most(f"{what}, peak RSS", mib, MAIN_JOB_MIB, " MiB", 0)])

"""``parity bench``'s regression-suite rows: ``pytest -n 0`` against ``-n 2`` (pytest-xdist), and an estimate
of the best that 2 workers could do."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

from parity.running import WORKER_THREADS
from parity.running.bench import Figure, Measured

# parity/running/bench_suite.py -> the checkout's root, where the regression suite lives in a source checkout
SUITE = Path(__file__).resolve().parents[2] / "tests" / "test_regression.py"


def pytest_workers(tier: str, backends: list[str], keyword: str | None = None, rounds: int = 2,
                   first: str | None = None) -> Measured:
    """The regression suite with -n 0 and -n 2, alternated ``rounds`` times, the shortest wall time of each
    (source checkouts only), with ``keyword`` as pytest's -k (pytest matches it without regard to case and
    also against the backend and test names in the ids, so it may select more than parity's -k): one run of
    each had read the ratio as 1.18x where paired medians of four gave 1.27x. With ``first`` (a case id),
    also :func:`best_estimate`."""
    if not SUITE.exists():
        return [f"pytest regression suite: skipped, {SUITE} is not here (run from a source checkout)"], []
    timings: dict[str, float] = {}
    codes: dict[str, int] = {}
    for workers in ("0", "2") * rounds:
        seconds, code = _suite(tier, backends, workers, keyword)
        timings[workers] = min(timings.get(workers, math.inf), seconds)
        codes[workers] = codes.get(workers) or code
    exits = "" if set(codes.values()) == {0} else f"; pytest exit codes -n 0: {codes['0']}, -n 2: {codes['2']}"
    speedup = timings["0"] / timings["2"]
    selection = f" -k {keyword!r}" if keyword else ""
    lines = [f"pytest regression suite, tier {tier}{selection}: -n 0 {timings['0']:.1f}s, -n 2 {timings['2']:.1f}s "
             f"(best of {rounds} each, alternated; speed-up -n 0 / -n 2: {speedup:.2f}x){exits}"]
    figures = [Figure(f"regression suite, tier {tier}{selection}: `pytest -n 0` / `pytest -n 2` wall time, best of "
                      f"{rounds} ({timings['0']:.1f} s / {timings['2']:.1f} s){exits}", f"{speedup:.2f}x", "≥ 1.6x",
                      speedup >= 1.6 and not exits)]
    if first:
        more_lines, more_figures = best_estimate(tier, backends, keyword, rounds, first, timings["0"])
        lines, figures = lines + more_lines, figures + more_figures
    return lines, figures


def best_estimate(tier: str, backends: list[str], keyword: str | None, rounds: int, first: str,
                  t0: float) -> Measured:
    """What -n 2 could take at best: each worker first pays what a one-thread session of the case ``first``
    alone takes (start-up, collection, imports, first calls: F1), then the two share the rest of a one-thread
    -n 0 run (T1, the workers' thread settings) perfectly, with no cost of xdist's own: F1 + (T1 - F1) / 2,
    against ``t0``. F1 also holds that case's few items, so the estimate errs low by their share."""
    one = [_suite(tier, backends, "0", first, threads=1) for _ in range(rounds)]
    whole = [_suite(tier, backends, "0", keyword, threads=1) for _ in range(rounds)]
    odd = [code for _, code in one if code not in (0, 1)]  # such a session ran no test
    if odd:
        return [f"best -n 2 estimate: not measured, the session of {first} alone exited {odd[0]} (no test ran)"], []
    f1, t1 = min(s for s, _ in one), min(s for s, _ in whole)
    best = f1 + (t1 - f1) / 2
    return ([f"one-thread -n 0: {t1:.1f}s; one-thread session of {first} alone: {f1:.1f}s (best of {rounds}); best "
             f"-n 2 estimate F1 + (T1 - F1) / 2 = {best:.1f}s, a speed-up of {t0 / best:.2f}x"],
            [Figure(f"best `pytest -n 2` speed-up estimated: each worker first pays a one-case session ({f1:.1f} s: "
                    f"start-up, collection, imports, first calls), then the two share a one-thread -n 0 run "
                    f"({t1:.1f} s) perfectly, xdist costing nothing", f"{t0 / best:.2f}x")])


def _suite(tier: str, backends: list[str], workers: str, keyword: str | None,
           threads: int | None = None) -> tuple[float, int]:
    """(wall time, exit code) of the regression suite under ``pytest -n workers [-k keyword]``; ``threads``
    sets the thread variables an xdist worker sets (unless the user set them)."""
    env = os.environ | {name: os.environ.get(name, str(threads)) for name in WORKER_THREADS} if threads else None
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SUITE),
                           f"--parity-tier={tier}", f"--parity-backends={','.join(backends)}", "-n", workers,
                           *(["-k", keyword] if keyword else [])],
                          capture_output=True, check=False, cwd=SUITE.parent.parent, env=env)
    return time.perf_counter() - start, done.returncode

"""``parity run``, ``parity bench`` and ``parity fuzz`` (see :mod:`parity.cli.main`).

``run`` checks its output paths and backends before any work. A SIGINT (SIGTERM) stops it between results:
it prints the table of what finished, writes the reports marked ``"partial": true`` and exits 130 (143).
A run in which every comparison was skipped compared nothing: exit 2 with the reason, unless ``--dry-run``
asked only for the plan.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, TextIO

from parity.cli.common import backends as parse_backends
from parity.cli.common import one_line, print_lines, require_available, seconds
from parity.cli.report import against_baseline, check_outputs, exit_code, output_options, summary, write_reports
from parity.running import ISOLATE_TIMEOUT
from parity.running.registry import Case

if TYPE_CHECKING:
    from parity.running.result import Result


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run. A KeyboardInterrupt, so that no backend's ``except Exception`` eats it."""

    def __init__(self, code: int) -> None:
        super().__init__(f"stopped by signal {code - 128}")
        self.code = code




def run_options(running: argparse.ArgumentParser) -> None:
    running.add_argument("--json", metavar="PATH", help="write every result to this JSON file")
    output_options(running)
    running.add_argument("--isolate", action="store_true",
                         help="run each backend in its own worker process (hangs and crashes become errors)")
    running.add_argument("--timeout", type=seconds, default=None, metavar="S",
                         help=f"per-case timeout of an isolated backend (with --isolate), seconds (default: {ISOLATE_TIMEOUT:g})")
    running.add_argument("--dry-run", action="store_true",
                         help="list which backend would run or skip each case, run nothing, exit 0")


def _check_options(args: argparse.Namespace) -> None:
    """``ValueError`` for options that would do nothing: --timeout without --isolate, reports with --dry-run."""
    if args.timeout is not None and not args.isolate:
        raise ValueError(f"--timeout must come with --isolate (it bounds an isolated backend's case), got "
                         f"--timeout {args.timeout:g} alone")
    given = [f"{flag} {value}" for flag, value in (("--json", args.json), ("--html", args.html),
                                                   ("--save-baseline", args.save_baseline), ("--baseline", args.baseline),
                                                   ("--by", args.by), ("--matrix", args.matrix))
             if value is not None] + (["--full"] if args.full else [])
    if args.dry_run and given:
        raise ValueError(f"--dry-run must come without reports, baselines or table options (it compares nothing), "
                         f"got {given[0]}")


def run(cases: list[Case], args: argparse.Namespace) -> int:
    from parity.running import environment

    backends = parse_backends(args.backends)
    _check_options(args)
    from parity.adapters.legacy import recordings

    saved = check_outputs(args, {}, recordings.folder())
    if saved is not None:
        from parity.report import baseline

        baseline.check_comparable(saved, args.tier, "--baseline")
        if args.backends is None:
            from parity import adapters

            backends = baseline.with_saved_backends(saved, backends, adapters.names())
    if args.dry_run:
        return _dry_run(cases, backends)
    for name, reason in require_available(backends).items():
        print(f"parity: note: {name} cannot run here and compares nothing: {reason}", file=sys.stderr)
    started = time.perf_counter()
    isolate = (args.timeout or ISOLATE_TIMEOUT) if args.isolate else None
    ran, stopped = _collect(cases, backends, isolate)
    elapsed = time.perf_counter() - started
    results = ran + unreadable_recordings(args.keyword)
    done = len({r.case for r in ran})
    insensitive, known = (sum(r.status == status for r in results) for status in ("insensitive", "known"))
    print_lines(summary(results, args) + [  # cases as `parity report` counts them: unreadable recordings too
        f"{len({r.case for r in results})} cases x {len(backends)} backends, {len(results)} comparisons in {elapsed:.1f} s"
        + (f"; {insensitive} insensitive (could not have failed)" if insensitive else "")
        + (f"; {known} known deviations (declared by their backends)" if known else "")])
    meta = {"tier": args.tier, "backends": backends, "keyword": args.keyword, "partial": stopped is not None,
            "environment": environment.describe(backends, isolate)}
    drifted, drift = against_baseline(saved, results, meta) if saved is not None else (False, [])
    write_reports(args, results, meta, drift)
    print_lines(drift)
    if stopped is not None:
        code, why = stopped
        print(f"parity: {why}; the table and reports hold the {done} of {len(cases)} cases finished before "
              "(\"partial\": true)", file=sys.stderr)
        return code
    return exit_code(results, drifted)


def _collect(cases: list[Case], backends: list[str],
             isolate: float | None) -> tuple[list["Result"], tuple[int, str] | None]:
    """Every result, or those finished before a SIGINT/SIGTERM (or a bug of parity's), with the exit code
    and what stopped the run."""
    from parity.running import runner

    results: list[Result] = []
    try:
        with _stop_on_signals():
            for result in runner.run(cases, backends, progress=_progress_bar(len(cases), sys.stderr),
                                     isolate=isolate):
                results.append(result)
    except Stopped as stop:
        return results, (stop.code, "interrupted")
    except KeyboardInterrupt:
        return results, (130, "interrupted")
    except Exception as error:  # a bug of parity's: what finished is still reported
        if os.environ.get("PARITY_DEBUG"):
            raise
        return results, (1, f"error: internal error, {type(error).__name__}: {one_line(error)[:300]}")
    finally:
        _clear_progress(sys.stderr)
    return results, None


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, frame: object) -> None:
        raise Stopped(128 + number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _dry_run(cases: list[Case], backends: list[str]) -> int:
    counts: Counter[str] = Counter()
    lines = []
    for case in cases:
        for backend in backends:
            status, reason = _plan(case, backend)
            counts[status] += 1
            lines.append(f"{case.id}  {backend}  {status}{': ' + reason if reason else ''}")
    lines.append(f"dry run: {len(cases)} cases x {len(backends)} backends against the reference: "
                 f"{counts['run']} would run, {counts['skip']} would skip, {counts['error']} would be errors")
    print_lines(lines)
    return 0


def _plan(case: Case, backend: str) -> tuple[str, str]:
    """What running ``case`` on ``backend`` would do: ("run", ""), ("skip", why) or ("error", why)."""
    from parity import adapters
    from parity.adapters.base import checked_reason
    from parity.core import limits

    try:
        adapter = adapters.get(backend)
        reason = (limits.memory_refusal(case.spec) or checked_reason(adapter.available(), "available()")
                  or checked_reason(adapter.supports(case.spec), "supports(spec)"))
    except (Exception, SystemExit) as error:
        return "error", f"{type(error).__name__}: {one_line(error)[:200]}"
    return ("skip", one_line(reason)) if reason else ("run", "")


def unreadable_recordings(keyword: str | None) -> list["Result"]:
    """An ``error`` result for each recording that cannot be read (whose id matches ``keyword``)."""
    from parity.adapters.legacy import recordings as recorded

    where = recorded.folder()
    if where is None:
        return []
    from parity.core.keyword import matcher
    from parity.running.result import REFERENCE, Result

    match = matcher(keyword) if keyword else (lambda _: True)
    return [Result(recorded.case_id(bad.path), None, "recorded", REFERENCE, "error",
                   f"unreadable recording: {bad.reason}") for bad in recorded.scan(where)[1]
            if match(recorded.case_id(bad.path))]


def bench(cases: list[Case], args: argparse.Namespace) -> int:
    from parity import adapters
    from parity.running import bench, bench_suite

    backends = parse_backends(args.backends)
    unable = require_available(backends)
    for name, reason in unable.items():
        print(f"parity: note: {name} cannot run here and is left out of the timings: {reason}", file=sys.stderr)
    backends = [name for name in backends if name not in unable]
    sections = [(f"main job, tier {args.tier}", lambda: bench.main_job(args.tier, backends, args.keyword))]
    if "torch" in adapters.installed():
        sections.append(("reference vs torch float64 conv2d (k=3, SAME), best of runs",
                         lambda: bench.reference_vs_torch(args.repeats)))
    else:
        print_lines(["# reference vs torch: skipped, torch is not installed"])
    sections += [(f"parity run vs hand loop, tier {args.tier}, backends {','.join(backends)}",
                  lambda: bench.run_vs_hand_loop(cases, backends)),
                 ("start-up", lambda: bench.list_startup(args.repeats)),
                 ("pytest-xdist", lambda: bench_suite.pytest_workers(args.tier, backends, args.keyword,
                                                                   first=cases[0].id if cases else None)),
                 ("memory", bench.peak_memory)]
    figures = []
    for title, measure in sections:
        lines, found = measure()
        print_lines([f"# {title}", *lines])
        figures += found
    print_lines(["# the performance table (README), every figure from this run", *bench.table(figures)])
    return 0


def fuzz(args: argparse.Namespace) -> int:
    from parity.running import fuzz

    backends = parse_backends(args.backends)
    for name, reason in require_available(backends).items():  # every backend must run: fuzz judges each one
        raise ValueError(f"--backends must name backends that can run here, got {name}: {reason}")
    started = time.perf_counter()
    outcome = fuzz.fuzz(args.examples, backends, args.seed)
    elapsed = time.perf_counter() - started
    print_lines([f"{outcome.tried} specs on {','.join(backends)} in {elapsed:.0f} s"])
    idle = [name for name in backends if not outcome.compared.get(name)]
    if outcome.minimal is None and idle:
        why = "; ".join(f"{name}: {one_line(outcome.skipped.get(name, 'no comparison'))[:200]}" for name in idle)
        print(f"parity: error: a fuzz run must compare at least one output of every backend, got none that could "
              f"have failed in {outcome.tried} specs from {why}", file=sys.stderr)
        return 2
    if outcome.minimal is None:
        print_lines(["no failure found"])
        return 0
    print_lines([f"minimal failing spec: {outcome.minimal!r}", outcome.problem])
    if args.save:
        from parity.cases import regressions

        try:
            saved = regressions.save(outcome.minimal)
        except OSError as error:
            raise ValueError(f"--save must be able to write {regressions.SAVED}, got: "
                             f"{error.strerror or error}") from None
        print_lines([f"{'saved to' if saved else 'already in'} {regressions.SAVED} as {outcome.minimal.slug()}"])
    return 1


def _progress_bar(total: int, stream: TextIO):
    if not stream.isatty():
        return None

    def show(index: int, case: Case) -> None:
        done = int(30 * index / total)
        stream.write(f"\r[{'#' * done}{'.' * (30 - done)}] {index}/{total} {case.id[:60]:<60}")
        stream.flush()

    return show


def _clear_progress(stream: TextIO) -> None:
    if stream.isatty():
        stream.write("\r" + " " * 110 + "\r")
        stream.flush()

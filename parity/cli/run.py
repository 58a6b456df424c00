"""``parity run``, ``parity bench`` and ``parity fuzz`` (see :mod:`parity.cli.main`).

``run`` checks its output paths and backends before any work. A SIGINT (SIGTERM) stops it between results:
it prints the table of what finished, writes the reports marked ``"partial": true`` and exits 130 (143).
A run in which every comparison was skipped compared nothing: exit 2 with the reason, unless ``--dry-run``
asked only for the plan.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, TextIO

from parity.core import files
from parity.cli.common import backends as parse_backends
from parity.cli.common import one_line, print_lines, require_available, seconds
from parity.running.registry import Case

if TYPE_CHECKING:
    from parity.running.runner import Result

_GROUPABLE = ("dtype", "distribution", "layout", "groups", "padding")
_SHOWN = 20  # failures printed; the rest are in --json
_ROWS = 30  # table rows printed without --full


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM during a run. A KeyboardInterrupt, so that no backend's ``except Exception`` eats it."""

    def __init__(self, code: int) -> None:
        super().__init__(f"stopped by signal {code - 128}")
        self.code = code


def run_options(running: argparse.ArgumentParser) -> None:
    running.add_argument("--json", metavar="PATH", help="write every result to this JSON file")
    running.add_argument("--by", choices=_GROUPABLE, help="also split the table by this spec field")
    running.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    running.add_argument("--isolate", action="store_true",
                         help="run each backend in its own worker process (hangs and crashes become errors)")
    running.add_argument("--timeout", type=seconds, default=120.0, metavar="S",
                         help="per-case timeout of an isolated backend, seconds (default: %(default)s)")
    running.add_argument("--dry-run", action="store_true",
                         help="list which backend would run or skip each case, run nothing, exit 0")
    running.add_argument("--full", action="store_true",
                         help=f"print every table row (default: the {_ROWS} most concerning, failures first)")
    running.add_argument("--save-baseline", metavar="PATH", help="write every comparison's figures and the "
                         "environment to this file, for a later --baseline")
    running.add_argument("--baseline", metavar="PATH", help="compare with a saved baseline: exit 1 on drift "
                         "(a pass that no longer passes, a changed fingerprint, a figure beyond its tolerance)")


def run(cases: list[Case], args: argparse.Namespace) -> int:
    from parity.report import text as report

    from parity.report import baseline
    from parity.running import environment

    backends = parse_backends(args.backends)
    outputs = {"--json": args.json, "--html": args.html, "--save-baseline": args.save_baseline}
    for flag, path in outputs.items():
        files.check_writable(path, flag)
    files.check_distinct(outputs, {"--baseline": args.baseline})
    saved = baseline.load(args.baseline) if args.baseline else None
    if args.dry_run:
        return _dry_run(cases, backends)
    require_available(backends)
    started = time.perf_counter()
    ran, stopped = _collect(cases, backends, args.timeout if args.isolate else None)
    elapsed = time.perf_counter() - started
    results = ran + unreadable_recordings(args.keyword)
    print_lines([report.format_table(report.summarize(results, args.by), args.by, None if args.full else _ROWS),
                 "", report.format_fingerprints(results)])
    failures = [r for r in results if r.status in ("fail", "error")]
    lines = [f"{r.status.upper()} {r.case} {r.backend} vs {r.against}: {r.reason}" for r in failures[:_SHOWN]]
    if len(failures) > _SHOWN:
        lines.append(f"... and {len(failures) - _SHOWN} more (see --json)")
    done = len({r.case for r in ran})
    insensitive, known = (sum(r.status == status for r in results) for status in ("insensitive", "known"))
    print_lines(lines + [f"{done} cases x {len(backends)} backends, {len(results)} comparisons in {elapsed:.1f} s"
                         + (f"; {insensitive} insensitive (could not have failed)" if insensitive else "")
                         + (f"; {known} known deviations (declared by their backends)" if known else "")])
    meta = {"tier": args.tier, "backends": backends, "keyword": args.keyword, "partial": stopped is not None,
            "environment": environment.describe(backends)}
    _write_reports(args, results, ran, meta)
    drifted = _against_baseline(saved, results, meta) if saved is not None else False
    if stopped is not None:
        code, why = stopped
        print(f"parity: {why}; the table and reports hold the {done} of {len(cases)} cases finished before "
              "(\"partial\": true)", file=sys.stderr)
        return code
    if not any(r.status != "skip" for r in results):
        reasons = "; ".join(f"{reason} ({n}x)" for reason, n in Counter(r.reason for r in results).most_common(3))
        print(f"parity: error: a run must compare at least one output, got all {len(results)} comparisons "
              f"skipped: {one_line(reasons)[:400]}", file=sys.stderr)
        return 2
    return 1 if failures or drifted else 0


def _against_baseline(saved: dict, results: list["Result"], meta: dict) -> bool:
    """Print the drift report; whether anything drifted."""
    from parity.report import baseline

    verdict = baseline.compare(saved, results)
    print_lines(baseline.format_verdict(verdict, saved.get("environment", {}), meta["environment"]))
    return bool(verdict.drifts)


def _write_reports(args: argparse.Namespace, results: list["Result"], ran: list["Result"], meta: dict) -> None:
    from parity.report import html
    from parity.report import text as report

    from parity.report import baseline

    texts = {}
    if args.json:
        texts["--json", args.json] = report.json_text(results, meta)
    if args.save_baseline:
        document = baseline.snapshot(results, meta["environment"], {k: meta[k] for k in ("tier", "backends", "keyword")})
        texts["--save-baseline", args.save_baseline] = json.dumps(document, indent=1) + "\n"
    if args.html:  # unreadable recordings have no spec to draw: they are in the table, the JSON, the exit code
        texts["--html", args.html] = html.render(ran, meta)
    for (flag, path), text in texts.items():
        try:
            files.write_atomic(path, text)
        except OSError as error:  # the folder was checked before the run; a full disk shows only now
            raise ValueError(f"{flag} must be writable, got {path!r}: {error.strerror or error}") from None


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
    from parity.running import runner

    try:
        adapter = adapters.get(backend)
        reason = runner.memory_refusal(case.spec) or adapter.available() or adapter.supports(case.spec)
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
    from parity.running.runner import REFERENCE, Result

    match = matcher(keyword) if keyword else (lambda _: True)
    return [Result(recorded.case_id(bad.path), None, "recorded", REFERENCE, "error",
                   f"unreadable recording: {bad.reason}") for bad in recorded.scan(where)[1]
            if match(recorded.case_id(bad.path))]


def bench(cases: list[Case], args: argparse.Namespace) -> int:
    from parity import adapters
    from parity.running import bench

    backends = parse_backends(args.backends)
    require_available(backends)
    sections = [(f"main job, tier {args.tier}", lambda: bench.main_job(args.tier, backends, args.keyword))]
    if "torch" in adapters.installed():
        sections.append(("reference vs torch float64 conv2d (k=3, SAME), best of runs",
                         lambda: bench.reference_vs_torch(args.repeats)))
    else:
        print_lines(["# reference vs torch: skipped, torch is not installed"])
    sections += [(f"parity run vs hand loop, tier {args.tier}, backends {','.join(backends)}",
                  lambda: bench.run_vs_hand_loop(cases, backends)),
                 ("start-up", lambda: bench.list_startup(args.repeats)),
                 ("pytest-xdist", lambda: bench.pytest_workers(args.tier, backends)),
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
    require_available(backends)
    started = time.perf_counter()
    outcome = fuzz.fuzz(args.examples, backends, args.seed)
    elapsed = time.perf_counter() - started
    print_lines([f"{outcome.tried} specs on {','.join(backends)} in {elapsed:.0f} s"])
    if outcome.minimal is None:
        print_lines(["no failure found"])
        return 0
    print_lines([f"minimal failing spec: {outcome.minimal!r}", outcome.problem])
    if args.save:
        try:
            saved = fuzz.save(outcome.minimal)
        except OSError as error:
            raise ValueError(f"--save must be able to write {fuzz.REGRESSIONS}, got: "
                             f"{error.strerror or error}") from None
        print_lines([f"{'saved to' if saved else 'already in'} {fuzz.REGRESSIONS} as {outcome.minimal.slug()}"])
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

"""The ``parity`` command line: ``list``, ``run``, ``bench``, ``fuzz``, ``check``, ``translate``, ``env``, ``record``.

Exit codes: 0 every comparison passed (skips allowed; ``check``: Y matches; ``translate``: verified or
not verifiable), 1 a parity failure or backend error (``check``: Y does not match; ``translate``: the
programs disagree), 2 a usage or input error. ``parity list`` imports no framework.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn, Sequence, TextIO

from parity import cli_legacy, cli_porting
from parity.cli_common import print_lines
from parity.registry import TIERS, Case, collect, select


class _Parser(argparse.ArgumentParser):
    """Argument errors in the same one-line form as every other input error (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"parity: error: {message}\n")


_GROUPABLE = ("dtype", "distribution", "layout", "groups", "padding")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parity", description="Cross-framework convolution parity harness.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the case ids of a tier (imports no framework)")
    running = commands.add_parser("run", help="run cases on backends and print the per-pair table")
    bench = commands.add_parser("bench", help="measure the reference and the harness overhead (ratios)")
    bench.add_argument("--repeats", type=int, default=3, help="best of this many runs (default: %(default)s)")
    for sub in (listing, running, bench):
        sub.add_argument("--tier", default="default", choices=TIERS, help="case tier (default: %(default)s)")
        sub.add_argument("-k", dest="keyword", metavar="EXPR",
                         help="only cases whose id matches EXPR: substrings with and/or/not, like pytest -k")
    for sub in (running, bench):
        sub.add_argument("--backends", metavar="A,B", help="comma-separated backends (default: every installed)")
    running.add_argument("--json", type=Path, metavar="PATH", help="write every result to this JSON file")
    running.add_argument("--by", choices=_GROUPABLE, help="also split the table by this spec field")
    running.add_argument("--html", type=Path, metavar="PATH", help="write a self-contained HTML report")
    running.add_argument("--isolate", action="store_true",
                         help="run each backend in its own worker process (hangs and crashes become errors)")
    running.add_argument("--timeout", type=float, default=120.0, metavar="S",
                         help="per-case timeout of an isolated backend, seconds (default: %(default)s)")
    fuzzing = commands.add_parser("fuzz", help="run hypothesis-drawn specs; shrink and report the first failure")
    fuzzing.add_argument("--examples", type=int, default=1000, help="specs to try (default: %(default)s)")
    fuzzing.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    fuzzing.add_argument("--backends", metavar="A,B", help="comma-separated backends (default: every installed)")
    fuzzing.add_argument("--save", action="store_true", help="append the minimal failing spec to parity/cases/regressions.json")
    cli_porting.check_parser(commands)
    cli_porting.translate_parser(commands)
    cli_legacy.env_parser(commands)
    cli_legacy.record_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "env":
            return cli_legacy.env(args)
        if args.command in ("check", "translate"):
            return (cli_porting.check if args.command == "check" else cli_porting.translate)(args)
        if args.command == "fuzz":
            return _fuzz(args)
        cases = select(collect(args.tier), args.keyword)
        if not cases:
            raise ValueError(f"-k {args.keyword!r} must match at least one case of tier {args.tier!r}, got none")
        if args.command == "record":
            return cli_legacy.record(cases, args)
        if args.command == "list":
            print_lines(case.id for case in cases)
            return 0
        return _bench(cases, args) if args.command == "bench" else _run(cases, args)
    except ValueError as error:
        print(f"parity: error: {error}", file=sys.stderr)
        return 2


def _run(cases: list[Case], args: argparse.Namespace) -> int:
    from parity import adapters, report, runner

    backends = adapters.parse(args.backends)
    if not backends:
        raise ValueError("backends must include at least one installed backend, got none installed")
    started = time.perf_counter()
    isolate = args.timeout if args.isolate else None
    results = list(runner.run(cases, backends, progress=_progress_bar(len(cases), sys.stderr), isolate=isolate))
    elapsed = time.perf_counter() - started
    _clear_progress(sys.stderr)
    print(report.format_table(report.summarize(results, args.by), args.by))
    failures = [r for r in results if r.status in ("fail", "error")]
    for result in failures[:20]:
        print(f"{result.status.upper()} {result.case} {result.backend} vs {result.against}: {result.reason}")
    if len(failures) > 20:
        print(f"... and {len(failures) - 20} more (see --json)")
    print(f"{len(cases)} cases x {len(backends)} backends, {len(results)} comparisons in {elapsed:.1f} s")
    meta = {"tier": args.tier, "backends": backends, "keyword": args.keyword}
    if args.json:
        report.write_json(args.json, results, meta)
    if args.html:
        from parity import html

        html.write(args.html, results, meta)
    return 1 if failures else 0


def _bench(cases: list[Case], args: argparse.Namespace) -> int:
    from parity import adapters, bench

    backends = adapters.parse(args.backends)
    if "torch" in adapters.installed():
        print_lines(["# reference vs torch float64 conv2d (k=3, SAME), best of runs", *bench.reference_vs_torch(args.repeats)])
    else:
        print("# reference vs torch: skipped, torch is not installed")
    print_lines([f"# parity run vs hand loop, tier {args.tier}, backends {','.join(backends)}",
                 *bench.run_vs_hand_loop(cases, backends), "# start-up", *bench.list_startup(args.repeats),
                 "# pytest-xdist", *bench.pytest_workers(args.tier, backends), "# memory", *bench.peak_memory()])
    return 0


def _fuzz(args: argparse.Namespace) -> int:
    from parity import adapters, fuzz

    backends = adapters.parse(args.backends)
    started = time.perf_counter()
    outcome = fuzz.fuzz(args.examples, backends, args.seed)
    elapsed = time.perf_counter() - started
    print(f"{outcome.tried} specs on {','.join(backends)} in {elapsed:.0f} s")
    if outcome.minimal is None:
        print("no failure found")
        return 0
    print(f"minimal failing spec: {outcome.minimal!r}\n{outcome.problem}")
    if args.save:
        saved = fuzz.save(outcome.minimal)
        print(f"{'saved to' if saved else 'already in'} {fuzz.REGRESSIONS} as {outcome.minimal.slug()}")
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


if __name__ == "__main__":
    raise SystemExit(main())

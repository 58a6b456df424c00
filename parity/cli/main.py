"""The ``parity`` command line: ``list``, ``backends``, ``run``, ``report``, ``bench``, ``fuzz``, ``check``,
``translate``, ``env``, ``record``.

Exit codes: 0 every comparison passed (skips allowed; ``check``: Y matches; ``translate``: verified or
not verifiable), 1 a parity failure or backend error (``check``: Y does not match; ``translate``: the
programs disagree), 2 a usage or input error, one line on stderr (also: no case selected, or a run in
which no backend could compare anything), 130 interrupted (SIGINT; ``run`` writes what finished), 143
terminated (SIGTERM, likewise). ``parity list``, ``backends`` and ``report`` import no framework.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn, Sequence

import parity
from parity.cli import common as cli_common
from parity.cli import legacy as cli_legacy
from parity.cli import report as cli_report
from parity.cli import porting as cli_porting
from parity.cli import run as cli_run
from parity.cli.common import integer, one_line, print_lines, text
from parity.running.registry import TIERS, Case, collect, select
from parity.core import collector


class _Parser(argparse.ArgumentParser):
    """Argument errors in the same one-line form as every other input error (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"parity: error: {cli_common.usage_message(message)}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="parity", description="Cross-framework convolution parity harness.")
    parser.add_argument("--version", action="version", version=f"parity {parity.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the case ids of a tier (imports no framework)")
    commands.add_parser("backends", help="list every backend, installed or not, where it comes from, and why "
                        "it cannot run here (imports no framework)")
    running = commands.add_parser("run", help="run cases on backends and print the per-pair table")
    bench = commands.add_parser("bench", help="measure the reference and the harness overhead (ratios)")
    bench.add_argument("--repeats", type=integer(1, 10**6), default=3,
                       help="best of this many runs (default: %(default)s)")
    for sub in (listing, running, bench):
        sub.add_argument("--tier", default="default", choices=TIERS, help="case tier (default: %(default)s)")
        sub.add_argument("-k", dest="keyword", metavar="EXPR", type=text,
                         help="only cases whose id matches EXPR: substrings with and/or/not, ignoring case, like pytest -k")
    for sub in (listing, running):
        sub.add_argument("--recorded", metavar="DIR", help="also the recordings in DIR as cases (see parity record)")
    for sub in (running, bench):
        sub.add_argument("--backends", metavar="A,B", help="comma-separated backends (default: every installed)")
    cli_run.run_options(running)
    cli_report.report_parser(commands)
    fuzzing = commands.add_parser("fuzz", help="run hypothesis-drawn specs; shrink and report the first failure")
    fuzzing.add_argument("--examples", type=integer(1, 10**9), default=1000, help="specs to try (default: %(default)s)")
    fuzzing.add_argument("--seed", type=integer(0, 2**64 - 1), default=0, help="random seed (default: %(default)s)")
    fuzzing.add_argument("--backends", metavar="A,B", help="comma-separated backends (default: every installed)")
    fuzzing.add_argument("--save", action="store_true", help="append the minimal failing spec to parity/cases/regressions.json")
    cli_porting.check_parser(commands)
    cli_porting.layers_parser(commands)
    cli_porting.translate_parser(commands)
    cli_legacy.env_parser(commands)
    cli_legacy.record_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ValueError as error:
        print(f"parity: error: {cli_common.one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print("parity: interrupted", file=sys.stderr)
        return getattr(stop, "code", 130)
    except Exception as error:  # a bug of parity's: still one line, with the way to the traceback
        if os.environ.get("PARITY_DEBUG"):
            raise
        print(f"parity: error: internal error, {type(error).__name__}: {cli_common.one_line(error)[:300]} "
              "(PARITY_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "backends":
        return _backends()
    if args.command == "env":
        return cli_legacy.env(args)
    if args.command == "report":
        return cli_report.report(args)
    if args.command != "list":
        from parity.core.limits import memory_budget
        from parity.adapters.legacy.worker import default_timeout

        memory_budget(), default_timeout()  # PARITY_MEMORY_GIB and PARITY_WORKER_TIMEOUT, before any work
        collector.own_process()
    if args.command in ("check", "translate", "layers"):
        return {"check": cli_porting.check, "translate": cli_porting.translate, "layers": cli_porting.layers}[
            args.command](args)
    if args.command == "fuzz":
        return cli_run.fuzz(args)
    if args.command == "record":
        return _record(args)
    cases = _cases(args)
    if args.command == "list":
        return _list(cases, args)
    return cli_run.bench(cases, args) if args.command == "bench" else cli_run.run(cases, args)


def _record(args: argparse.Namespace) -> int:
    """``parity record``; a $PARITY_RECORDED folder it made (as --out would be) is removed again, with the
    parents it made, when nothing was recorded into it."""
    from parity.adapters.legacy import recordings as recorded

    made = [] if args.out is not None or recorded.output_folder().exists() else recorded.make_output_folder()
    try:
        return cli_legacy.record(_cases(args), args)
    except BaseException:  # an error, an interrupt: what it made and left empty goes
        for folder in made:  # the deepest first; one that holds anything stays
            if folder.is_dir() and not folder.is_symlink() and not any(folder.iterdir()):
                folder.rmdir()
        raise


def _cases(args: argparse.Namespace) -> list[Case]:
    from parity.adapters.legacy import recordings as recorded

    if getattr(args, "recorded", None) is not None:
        recorded.use(args.recorded, "--recorded")
    recorded.folder()  # a bad $PARITY_RECORDED in its own words, not as the recorded-case generator's failure
    if args.keyword:
        _check_keyword(args.keyword)
    cases = select(collect(args.tier), args.keyword)
    if cases or (args.command in ("list", "run") and cli_run.unreadable_recordings(args.keyword)):
        return cases  # with no case, only unreadable recordings: each is reported as an error
    if args.keyword:
        raise ValueError(f"-k {args.keyword!r} must match at least one case of tier {args.tier!r}, got none")
    raise ValueError(f"--tier {args.tier!r} must have at least one case, got none (its generators yielded nothing)")


def _check_keyword(expression: str) -> None:
    from parity.core.keyword import matcher

    matcher(expression)


def _backends() -> int:
    from parity import adapters

    rows = [(name, *adapters.status(name), adapters.origin(name)) for name in adapters.names()]
    width = max(len(name) for name, *_ in rows)
    print_lines(f"{name:<{width}}  {state:<9}  {where}" + (f": {one_line(why)}" if why else "")
                for name, state, why, where in rows)
    return 0


def _list(cases: list[Case], args: argparse.Namespace) -> int:
    print_lines(case.id for case in cases)
    unreadable = cli_run.unreadable_recordings(args.keyword)
    for result in unreadable:
        print(f"parity: error: {result.case}: {result.reason}", file=sys.stderr)
    return 1 if unreadable else 0


if __name__ == "__main__":
    raise SystemExit(main())

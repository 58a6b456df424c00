"""The ``parity`` command line: ``parity list``, ``run``, ``bench``, ``check`` and ``translate``.

Exit codes: 0 every comparison passed (skips allowed; ``check``: Y matches; ``translate``: verified or
not verifiable), 1 a parity failure or backend error (``check``: Y does not match; ``translate``: the
programs disagree), 2 a usage or input error. ``parity list`` imports no framework.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterable, NoReturn, Sequence, TextIO

from parity.registry import TIERS, Case, collect, select
from parity.spec import ConvSpec


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
    _check_parser(commands)
    _translate_parser(commands)
    return parser


def _conventions(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--padding", default="VALID",
                     help='VALID, SAME, SAME_LOWER, CAUSAL, FULL or "lo:hi,lo:hi,..." (transposed: the crop)')
    sub.add_argument("--strides", default="1", metavar="S[,S...]")
    sub.add_argument("--dilations", default="1", metavar="D[,D...]")
    sub.add_argument("--groups", default="1", metavar="G")
    sub.add_argument("--transposed", action="store_true", help="a transposed conv (PyTorch semantics)")
    sub.add_argument("--output-padding", default="0", metavar="P[,P...]", help="transposed conv only")


def _check_parser(commands) -> None:
    sub = commands.add_parser("check", help="compare an output with the exact reference and explain a mismatch")
    for name, what in (("--input", "X"), ("--kernel", "W"), ("--output", "Y")):
        sub.add_argument(name, required=True, type=Path, metavar=f"{what}.npy")
    sub.add_argument("--layout", help="data layout of X and Y: NCW, NWC, NCHW, NHWC, NCDHW, NDHWC "
                                      "(default: channels-first)")
    sub.add_argument("--kernel-layout", help="OIHW, HWIO, IOHW, HWOI, HWIM (TF depthwise), ... (default: OI... "
                                             "for channels-first, ...IO for channels-last; transposed IO.../...OI)")
    _conventions(sub)
    sub.add_argument("--json", type=Path, metavar="REPORT.json", help="write the report as JSON")
    sub.add_argument("--plot", type=Path, metavar="DIFF.png", help="write a PNG map of |Y - reference|")


def _translate_parser(commands) -> None:
    sub = commands.add_parser("translate", help="write the same convolution for another framework")
    sub.add_argument("--from", dest="source", required=True, metavar="BACKEND")
    sub.add_argument("--to", dest="target", required=True, metavar="BACKEND")
    sub.add_argument("--op", required=True, choices=("conv1d", "conv2d", "conv3d"))
    sub.add_argument("--layout", help="layout of your x and y (default: the source framework's)")
    _conventions(sub)
    sub.add_argument("--kernel", default="3", metavar="K[,K...]", help="kernel size (default: %(default)s)")
    sub.add_argument("--input-size", default="16", metavar="N[,N...]", help="spatial size (default: %(default)s)")
    sub.add_argument("--in-channels", default="4", metavar="C")
    sub.add_argument("--out-channels", default="8", metavar="O")
    sub.add_argument("--batch", default="1", metavar="N")
    sub.add_argument("--dtype", default="float32", help="float16, bfloat16, float32, float64 (default: %(default)s)")
    sub.add_argument("--no-verify", action="store_true", help="print the programs without running them")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("check", "translate"):
            return (_check if args.command == "check" else _translate)(args)
        cases = select(collect(args.tier), args.keyword)
        if not cases:
            raise ValueError(f"-k {args.keyword!r} must match at least one case of tier {args.tier!r}, got none")
        if args.command == "list":
            _print_lines(case.id for case in cases)
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
    results = list(runner.run(cases, backends, progress=_progress_bar(len(cases), sys.stderr)))
    elapsed = time.perf_counter() - started
    _clear_progress(sys.stderr)
    print(report.format_table(report.summarize(results, args.by), args.by))
    failures = [r for r in results if r.status in ("fail", "error")]
    for result in failures[:20]:
        print(f"{result.status.upper()} {result.case} {result.backend} vs {result.against}: {result.reason}")
    if len(failures) > 20:
        print(f"... and {len(failures) - 20} more (see --json)")
    print(f"{len(cases)} cases x {len(backends)} backends, {len(results)} comparisons in {elapsed:.1f} s")
    if args.json:
        report.write_json(args.json, results, {"tier": args.tier, "backends": backends, "keyword": args.keyword})
    return 1 if failures else 0


def _bench(cases: list[Case], args: argparse.Namespace) -> int:
    from parity import adapters, bench

    backends = adapters.parse(args.backends)
    if "torch" in adapters.installed():
        _print_lines(["# reference vs torch float64 conv2d (k=3, SAME), best of runs", *bench.reference_vs_torch(args.repeats)])
    else:
        print("# reference vs torch: skipped, torch is not installed")
    _print_lines([f"# parity run vs hand loop, tier {args.tier}, backends {','.join(backends)}",
                  *bench.run_vs_hand_loop(cases, backends)])
    return 0


def _ints(text: str, field: str) -> int | tuple[int, ...]:
    """ "2" -> 2, "2,1" -> (2, 1); the values themselves are validated by ConvSpec."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--{field} must be integers separated by commas, got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _check(args: argparse.Namespace) -> int:
    from parity import checking, png

    x, w, y = (checking.load(path, flag) for path, flag in
               ((args.input, "--input"), (args.kernel, "--kernel"), (args.output, "--output")))
    result = checking.check(x, w, y, layout=args.layout, kernel_layout=args.kernel_layout, padding=args.padding,
                         strides=_ints(args.strides, "strides"), dilations=_ints(args.dilations, "dilations"),
                         groups=_ints(args.groups, "groups"), transposed=args.transposed,
                         output_padding=_ints(args.output_padding, "output-padding"))
    _print_lines([result.format()])
    if args.json:
        args.json.write_text(json.dumps(result.as_dict(), indent=1) + "\n")
    if args.plot and result.error_map is None:
        print("parity: note: --plot skipped: the stated conventions cannot give Y, so there is no difference "
              "to draw", file=sys.stderr)
    elif args.plot:
        png.write(args.plot, png.error_map(result.error_map))
    return 0 if result.matches else 1


def _translate(args: argparse.Namespace) -> int:
    from parity import adapters, translate

    for name in (args.source, args.target):
        adapters.get(name)
    rank = int(args.op[4])
    layout = args.layout or translate.snippet(args.source, _translate_spec(args, rank, None)).data_layout
    result = translate.translate(args.source, args.target, _translate_spec(args, rank, layout),
                                 verify=not args.no_verify)
    _print_lines([result.code, *([""] + [result.verification] if result.verification else [])])
    return 1 if result.passed is False else 0


def _translate_spec(args: argparse.Namespace, rank: int, layout: str | None) -> ConvSpec:
    sizes = {field: _ints(getattr(args, field), field.replace("_", "-")) for field in
             ("kernel", "input_size", "in_channels", "out_channels", "batch", "strides", "dilations", "groups",
              "output_padding")}
    spatial = sizes.pop("input_size")
    return ConvSpec(spatial=(spatial,) * rank if isinstance(spatial, int) else spatial, padding=args.padding,
                    dtype=args.dtype, layout=layout or "channels_first",
                    op="conv_transpose" if args.transposed else "conv", **sizes)


def _print_lines(lines: Iterable[str]) -> None:
    try:
        print("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:  # `parity list | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


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

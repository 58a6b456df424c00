"""``parity check``, ``parity translate`` and ``parity layers``: argument parsers and handlers (see
:mod:`parity.cli.main`)."""
from __future__ import annotations

import argparse
import json
import math
import sys

from parity.core import files
from parity.porting.printed import FORMATS, Printed, given_digits
from parity.cli.common import adapter, as_options, print_lines, text
from parity.core.reading import LARGEST
from parity.core.spec import ConvSpec


def _conventions(sub: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The convention flags; without ``defaults`` an absent flag is None (`parity check` says it assumed it)."""
    sub.add_argument("--padding", default="VALID" if defaults else None,
                     help='VALID, SAME, SAME_LOWER, CAUSAL, FULL or "lo:hi,lo:hi,..." (transposed: the crop; '
                          'default: VALID)')
    unstated = "" if defaults else ", assumed and said so when not given"
    sub.add_argument("--strides", default="1" if defaults else None, metavar="S[,S...]",
                     help=f"one per spatial axis, or one for all (default: 1{unstated})")
    sub.add_argument("--dilations", default="1" if defaults else None, metavar="D[,D...]",
                     help=f"one per spatial axis, or one for all (default: 1{unstated})")
    sub.add_argument("--groups", default="1" if defaults else None, metavar="G",
                     help=f"feature groups (default: 1{unstated})")
    sub.add_argument("--transposed", action="store_true", help="a transposed conv (PyTorch semantics)")
    sub.add_argument("--output-padding", default="0", metavar="P[,P...]",
                     help="transposed conv only: extra outputs on the high side (default: %(default)s)")


def check_parser(commands) -> None:
    sub = commands.add_parser("check", help="compare an output with the exact reference and explain a mismatch")
    for name, what in (("--input", "X"), ("--kernel", "W"), ("--output", "Y")):
        sub.add_argument(name, required=True, type=text, metavar=f"{what}.npy|{what}.txt|-",
                         help="a .npy file, or a text file holding a printed array (-: standard input)")
    sub.add_argument("--layout", help="data layout of X and Y: NCW, NWC, NCHW, NHWC, NCDHW, NDHWC; size-1 N and C "
                                      "may be left out, e.g. HWC (default: channels-first)")
    sub.add_argument("--kernel-layout", help="OIHW, HWIO, IOHW, HWOI, HWIM (TF depthwise), ...; a size-1 O or I may "
                                             "be left out, e.g. HWI (default: OI... for channels-first, ...IO for "
                                             "channels-last; transposed IO.../...OI)")
    _conventions(sub, defaults=False)
    sub.add_argument("--format", choices=FORMATS, help="the format of printed arrays (default: detected)")
    sub.add_argument("--digits", metavar="N|.N|exact",
                     help="how printed arrays were printed: N significant digits, .N decimals, or exact "
                          "(default: detected from the text)")
    sub.add_argument("--json", metavar="REPORT.json", help="write the report as JSON")
    sub.add_argument("--plot", metavar="DIFF.png", help="write a PNG map of |Y - reference|")


def translate_parser(commands) -> None:
    sub = commands.add_parser("translate", help="write the same convolution for another framework")
    sub.add_argument("--from", dest="source", required=True, metavar="BACKEND",
                     help="the framework of the call you have (parity backends lists them)")
    sub.add_argument("--to", dest="target", required=True, metavar="BACKEND", help="the framework to write it for")
    sub.add_argument("--op", required=True, choices=("conv1d", "conv2d", "conv3d"), help="the spatial rank")
    sub.add_argument("--layout", type=text, help="layout of your x and y (default: the source framework's)")
    _conventions(sub)
    sub.add_argument("--kernel", default="3", metavar="K[,K...]", help="kernel size (default: %(default)s)")
    sub.add_argument("--input-size", default="16", metavar="N[,N...]", help="spatial size (default: %(default)s)")
    sub.add_argument("--in-channels", default="4", metavar="C", help="(default: %(default)s)")
    sub.add_argument("--out-channels", default="8", metavar="O", help="(default: %(default)s)")
    sub.add_argument("--batch", default="1", metavar="N", help="(default: %(default)s)")
    sub.add_argument("--dtype", default="float32", help="float16, bfloat16, float32, float64 (default: %(default)s)")
    sub.add_argument("--no-verify", action="store_true", help="print the programs without running them")


def _ints(text: str, field: str) -> int | tuple[int, ...]:
    """ "2" -> 2, "2,1" -> (2, 1); ConvSpec validates the values, here only their size is capped."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"--{field} must be integers separated by commas, got {text!r}") from None
    if any(abs(value) > LARGEST for value in values):
        raise ValueError(f"--{field} must be at most {LARGEST} (frameworks take 32-bit sizes), got {text!r}")
    return values[0] if len(values) == 1 else values


def check(args: argparse.Namespace) -> int:
    from parity.porting import check_inputs, checking
    from parity.core import png

    for path, flag in ((args.json, "--json"), (args.plot, "--plot")):
        files.check_writable(path, flag)
    files.check_distinct({"--json": args.json, "--plot": args.plot},
                         {"--input": args.input, "--kernel": args.kernel, "--output": args.output})
    paths = ((args.input, "--input"), (args.kernel, "--kernel"), (args.output, "--output"))
    if sum(path == "-" for path, _ in paths) > 1:
        raise ValueError("standard input (-) must be given to one of --input, --kernel, --output, got more")
    if args.digits is not None:
        given_digits(args.digits)
    x, w, y = (check_inputs.load(path, flag, format=args.format, digits=args.digits) for path, flag in paths)
    given = [f"--{name} {getattr(args, name)}" for name in ("format", "digits") if getattr(args, name) is not None]
    if given and not any(isinstance(a, Printed) for a in (x, w, y)):
        raise ValueError(f"{given[0].split()[0]} must come with a printed array (a text file), got "
                         f"{' and '.join(given)} with .npy files only")
    flags = {name: None if getattr(args, name) is None else _ints(getattr(args, name), name)
             for name in ("strides", "dilations", "groups")}
    with as_options(*flags, "padding", "output_padding", "layout", "kernel_layout"):
        result = checking.check(x, w, y, layout=args.layout, kernel_layout=args.kernel_layout, padding=args.padding,
                                transposed=args.transposed,
                                output_padding=_ints(args.output_padding, "output-padding"), **flags)
    print_lines([result.format()])
    if args.json:
        files.write_atomic(args.json, json.dumps(result.as_dict(), indent=1) + "\n")
    if args.plot and result.error_map is None:
        print("parity: note: --plot skipped: the stated conventions cannot give Y, so there is no difference "
              "to draw", file=sys.stderr)
    elif args.plot:
        files.write_atomic(args.plot, png.encode(png.error_map(result.error_map)))
    return 0 if result.matches else 1


def translate(args: argparse.Namespace) -> int:
    from parity.porting import translate

    for name, flag in ((args.source, "--from"), (args.target, "--to")):
        adapter(name, flag)
    rank = int(args.op[4])
    layout = args.layout or translate.snippet(args.source, _translate_spec(args, rank, None)).data_layout
    spec = _translate_spec(args, rank, layout)
    _check_verifiable(spec, args.no_verify)
    result = translate.translate(args.source, args.target, spec, verify=not args.no_verify)
    print_lines([result.code, *([""] + [result.verification] if result.verification else [])])
    return 1 if result.passed is False else 0


def _check_verifiable(spec: ConvSpec, printing_only: bool) -> None:
    """``ValueError`` for shapes numpy cannot describe, or (unless only printing the code) with the estimate
    when verifying would exceed the memory budget."""
    from parity.core.limits import memory_refusal

    for what, shape in (("input", spec.input_shape), ("kernel", spec.kernel_shape), ("output", spec.output_shape)):
        if math.prod(shape) >= 2**62:
            raise ValueError(f"the {what} must have fewer than 2**62 elements (numpy's limit), got shape {shape}")
    refusal = "" if printing_only else memory_refusal(spec)
    if refusal:
        raise ValueError(f"the sizes must fit the memory budget to verify the translation, got "
                         f"{refusal.removeprefix('refused: ')}; --no-verify prints the programs without running them")


def _translate_spec(args: argparse.Namespace, rank: int, layout: str | None) -> ConvSpec:
    sizes = {field: _ints(getattr(args, field), field.replace("_", "-")) for field in
             ("kernel", "input_size", "in_channels", "out_channels", "batch", "strides", "dilations", "groups",
              "output_padding")}
    spatial = sizes.pop("input_size")
    spatial = (spatial,) * rank if isinstance(spatial, int) else spatial
    if min(spatial) < 1 or len(spatial) != rank:
        raise ValueError(f"--input-size must be one size >= 1 or {rank} for {args.op}, got {args.input_size!r}")
    if not args.transposed and any(sizes["output_padding"] if isinstance(sizes["output_padding"], tuple)
                                   else (sizes["output_padding"],)):
        raise ValueError(f"--output-padding must come with --transposed, got {args.output_padding!r} without")
    with as_options(*sizes, "padding", "dtype", "layout"):
        return ConvSpec(spatial=spatial, padding=args.padding, dtype=args.dtype, layout=layout or "channels_first",
                        op="conv_transpose" if args.transposed else "conv", **sizes)


def layers_parser(commands) -> None:
    sub = commands.add_parser("layers", help="do two framework layers compute the same convolution?")
    for name in ("a", "b"):
        sub.add_argument(name, type=text, metavar=f"{name.upper()}=FILE.py:NAME|module:NAME",
                         help=f"layer {name} ({'the one to match' if name == 'a' else 'the port'}): an attribute "
                              "of a Python file or module (a function is called with no arguments)")
    sub.add_argument("--input-size", metavar="N[,N...]", help="spatial input size (default: an even and an odd one)")
    sub.add_argument("--batch", default="2", metavar="N",
                     help="batch size of the inputs run through both layers (default: %(default)s)")
    sub.add_argument("--json", metavar="REPORT.json", help="write the report as JSON")


def layers(args: argparse.Namespace) -> int:
    from parity.porting import layer_load
    from parity.porting import layers as module

    files.check_writable(args.json, "--json")
    sources = {f"layer {label}'s file": text.rpartition(":")[0] for label, text in (("A", args.a), ("B", args.b))}
    files.check_distinct({"--json": args.json}, {label: path for label, path in sources.items() if path.endswith(".py")})
    size = None if args.input_size is None else _ints(args.input_size, "input-size")
    a, b = layer_load.load(args.a, "a"), layer_load.load(args.b, "b")
    batch = _ints(args.batch, "batch")
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"--batch must be one integer >= 1, got {args.batch!r}")
    result = module.check_layers(a, b, input_size=size, batch=batch)
    print_lines([result.format()])
    if args.json:
        files.write_atomic(args.json, json.dumps(result.as_dict(), indent=1) + "\n")
    return 0 if result.passed else 1

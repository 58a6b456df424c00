"""``parity env create NAME`` and ``parity record``: argument parsers and handlers (see :mod:`parity.cli.main`).

Both report input errors as ``ValueError`` (one line, exit code 2 in :func:`parity.cli.main.main`).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parity.core import files
from parity.cli.common import adapter, print_lines, said_as_option, text
from parity.adapters.legacy.envs import ENVIRONMENTS
from parity.running.registry import TIERS, Case


def env_parser(commands) -> None:
    sub = commands.add_parser("env", help="build the environments of the legacy backends (tf1, tflearn, theano)")
    actions = sub.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="build NAME under $PARITY_ENV_DIR (default: ~/.cache/parity/envs)")
    create.add_argument("name", choices=sorted(ENVIRONMENTS))


def env(args: argparse.Namespace) -> int:
    from parity.adapters.legacy import envs

    print(envs.create(args.name))
    return 0


def record_parser(commands) -> None:
    sub = commands.add_parser("record", help="write recorded cases (spec.json + .npy files) from a backend")
    sub.add_argument("--backend", required=True, metavar="NAME", type=text,
                     help="the backend whose outputs are recorded")
    sub.add_argument("--tier", default="default", choices=TIERS, help="case tier (default: %(default)s)")
    sub.add_argument("-k", dest="keyword", metavar="EXPR", type=text,
                     help="only cases whose id matches EXPR: substrings with and/or/not, like pytest -k")
    sub.add_argument("--out", metavar="DIR",
                     help="folder of recordings, one subfolder per case (default: $PARITY_RECORDED or ./recorded)")
    sub.add_argument("--kernel-layout", help="store kernels as OIHW, HWIO, IOHW, ... (default: OI... for "
                                             "channels-first data, ...IO for channels-last; transposed IO.../...OI)")
    sub.add_argument("--flip", action="store_true", help="store kernels reversed on every spatial axis (convolution)")


def record(cases: list[Case], args: argparse.Namespace) -> int:
    """Record every case the backend can run; the others are listed on stderr. An error if none could be."""
    from parity.adapters.legacy import recordings as recorded

    adapter(args.backend, "--backend")
    out = recorded.output_folder() if args.out is None else args.out
    files.check_output_folder(out, "--out")
    if args.kernel_layout is not None:
        _check_kernel_layout(args.kernel_layout)
    done, skipped = recorded.record_cases(((case.id, case.spec) for case in cases), args.backend.strip(), Path(out),
                                          args.kernel_layout, args.flip, lambda error: said_as_option(error, "kernel_layout"))
    if not done:
        raise ValueError(f"cases must include one that {args.backend} can record, got none of {len(cases)} "
                         f"(first: {skipped[0]})")
    for reason in skipped:
        print(f"parity: note: not recorded: {reason}", file=sys.stderr)
    print_lines(str(recording.path) for recording in done)
    return 0


def _check_kernel_layout(name: str) -> None:
    """``ValueError`` unless ``name`` is a kernel layout of some rank (each case checks its own rank)."""
    from parity.core import convert

    for rank in (1, 2, 3):
        for transposed in (False, True):
            try:
                convert.kernel_layout(name, rank, transposed)
                return
            except ValueError:
                pass
    raise ValueError(f"--kernel-layout must be a permutation of O, I and 1 to 3 spatial letters (W, HW, DHW; "
                     f"or I, M and them for a depthwise kernel), got {name!r}")

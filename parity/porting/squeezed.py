"""Arrays printed without their size-1 axes: an input without its batch axis (``HWC``), a kernel without
its output-channel axis (``HWI``), an output of shape (H, W).

:func:`expand` says where the missing axes go, from layout strings that leave letters out (``--layout
HWC``, ``--kernel-layout HWI``) or, for a kernel whose layout was not given and an output, from the
number of axes; every reading is stated in words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Sequence

from parity.core import convert
from parity.core.convert.layout import SPATIAL_LETTERS
from parity.core.errors import FieldError

_DATA: Final = re.compile(r"(N?)(C?)(W|HW|DHW)(C?)")
_NAMES: Final = {"N": "batch", "C": "channel", "O": "output-channel", "I": "input-channel", "M": "multiplier"}


@dataclass(frozen=True)
class Expansion:
    """Full layouts and, per array (x, w, y), the axes to insert (``np.expand_dims``)."""

    layout: str | None  # full data layout name (None: the default, channels-first)
    kernel_layout: str | None  # full kernel layout name (None: the default for the data layout)
    axes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    notes: tuple[str, str, str]  # per array: how its missing axes were read, or ""


def expand(shapes: Sequence[tuple[int, ...]], layout: str | None, kernel_layout: str | None, groups: int,
           transposed: bool) -> Expansion:
    """Where x, w and y of these ``shapes`` lack size-1 axes, and their full layouts."""
    x_shape, w_shape, y_shape = shapes
    full, short = _data(layout, x_shape)
    rank = len(full) - 2
    x_full = _expanded(x_shape, full, short)
    kernel_full, kernel_short, note = _kernel(w_shape, kernel_layout, rank, full, x_full, groups, transposed)
    y_short = _output(y_shape, full, short, x_full)
    notes = [_note(x_shape, short, full), note, _note(y_shape, y_short, full)]
    axes = tuple(_missing(s, f) for s, f in ((short, full), (kernel_short, kernel_full), (y_short, full)))
    return Expansion(full if layout is not None else None, kernel_full if kernel_layout is not None or
                     kernel_short != kernel_full else None, axes, tuple(notes))


def _data(layout: str | None, x_shape: tuple[int, ...]) -> tuple[str, str]:
    """(full, as given) data layout letters."""
    if layout is None:
        if len(x_shape) < 3:
            raise ValueError("input must have 3 to 5 dimensions (batch, channels, 1 to 3 spatial) unless its layout "
                             f"leaves out size-1 axes, got shape {x_shape}: state e.g. --layout HWC (an image "
                             "without its batch axis) or --layout HW (no batch, one channel)")
        full = convert.layout_name("channels_first", min(len(x_shape) - 2, 3))
        return full, full
    text = str(layout).strip().upper()
    match = _DATA.fullmatch(text)
    if not match or (match.group(2) and match.group(4)) or len(text) == len(match.group(3)) + 2:
        rank = len(x_shape) - 2
        if not 1 <= rank <= 3:
            raise ValueError(f"input must have 3 to 5 dimensions (batch, channels, 1 to 3 spatial) to be read as "
                             f"{str(layout).strip()}, got shape {x_shape}")
        return (convert.layout_name(convert.layout_family(layout, rank), rank),) * 2
    full = convert.layout_name("channels_last" if match.group(4) else "channels_first", len(match.group(3)))
    if len(x_shape) != len(text):
        raise ValueError(f"input read as {text} must have {len(text)} axes ({', '.join(text)}), got shape {x_shape}")
    return full, text


def _expanded(shape: tuple[int, ...], full: str, short: str) -> dict[str, int]:
    sizes = dict(zip(short, shape))
    return {letter: sizes.get(letter, 1) for letter in full}


def _kernel(w_shape: tuple[int, ...], given: str | None, rank: int, data: str, x: dict[str, int], groups: int,
            transposed: bool) -> tuple[str, str, str]:
    """(full kernel layout, as given, a note) for the kernel."""
    default = convert.default_kernel_layout(rank, data.endswith("C"), transposed).name
    if given is not None and 0 < len(given.strip()) < rank + 2:
        short = given.strip().upper()
        full = _completed(short, rank, default, transposed)
        if len(w_shape) != len(short):
            raise ValueError(f"kernel read as {short} must have {len(short)} axes ({', '.join(short)}), "
                             f"got shape {w_shape}")
        return full, short, _note(w_shape, short, full)
    full = default if given is None else convert.kernel_layout(given, rank, transposed).name
    if len(w_shape) >= len(full):
        return full, full, ""  # more axes than the layout has: parity.porting.checking says so
    for drop in ("O", "I", "OI"):
        short = "".join(letter for letter in full if letter not in drop)
        if len(short) == len(w_shape) and _fits(dict(zip(short, w_shape)), x["C"], groups, transposed):
            return full, short, _note(w_shape, short, full)
    raise ValueError(f"kernel read as {full} must have shape {_expected(full, x['C'], groups, transposed)} "
                     f"(axes {', '.join(full)}), got {w_shape}; state --kernel-layout with the axes it has, "
                     f"e.g. {full.replace('O', '')} without the output channels")


def _fits(sizes: dict[str, int], channels: int, groups: int, transposed: bool) -> bool:
    """Whether a kernel without some channel axes can belong to an input of ``channels`` channels."""
    per_group = channels if transposed else channels // max(groups, 1)
    return sizes.get("I", 1) == per_group


def _expected(full: str, channels: int, groups: int, transposed: bool) -> str:
    per_group = str(channels if transposed else channels // max(groups, 1))
    return "(" + ", ".join(per_group if c == "I" else c for c in full) + ")"


def _completed(short: str, rank: int, default: str, transposed: bool) -> str:
    """The standard full kernel layout that ``short`` is, with channel letters left out."""
    letters = SPATIAL_LETTERS[rank]
    standard = [default, "OI" + letters, letters + "IO", "IO" + letters, letters + "OI", letters + "IM"]
    for full in standard:
        if "".join(c for c in full if c in short) == short and set(letters) <= set(short) <= set(full):
            return full
    raise FieldError("kernel_layout", f"must be O, I and {letters} in some order (size-1 O or I may be left out), "
                                      f"got {short!r}")


def _output(y_shape: tuple[int, ...], full: str, short: str, x: dict[str, int]) -> str:
    """Y's letters: x's, less the batch (when x has one element) and then the channel axis."""
    missing = len(full) - len(y_shape)
    order = [c for c in full if c not in short] + [c for c in "NC" if c in short and (c != "N" or x["N"] == 1)]
    if missing > len(order):
        raise ValueError(f"output of shape {y_shape} must have {len(full) - len(order)} to {len(full)} axes for "
                         f"data layout {full} (only size-1 batch and channel axes may be left out)")
    drop = order[:max(missing, 0)]
    return "".join(c for c in full if c not in drop)


def _missing(short: str, full: str) -> tuple[int, ...]:
    return tuple(i for i, letter in enumerate(full) if letter not in short)


def _note(shape: tuple[int, ...], short: str, full: str) -> str:
    if short == full:
        return ""
    left = " and ".join(f"{_NAMES[c]} axis" for c in full if c not in short)
    return f"{shape} read as {short}: {full} without its {left} (size 1)"

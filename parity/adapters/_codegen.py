"""Python source lines for layout, kernel-layout and padding conversions (numpy), used by the fixes
`parity check` prints and the snippets `parity translate` writes. The permutations come from
:mod:`parity.core.convert`; this module only spells them."""
from __future__ import annotations

from typing import Sequence

from parity.adapters._call import slice_text
from parity.core import convert
from parity.core.convert import KernelLayout, Pads


def call(values: Sequence[int]) -> str:
    """(2, 2) -> "(2, 2)", (3,) -> "(3,)"."""
    return repr(tuple(int(v) for v in values))


def index(ndim: int, slices: dict[int, str]) -> str:
    """``[:, :, ::-1]`` selecting ``slices`` on the given axes (trailing full slices left out)."""
    last = max(slices)
    return "[" + ", ".join(slices.get(axis, ":") for axis in range(last + 1)) + "]"


def transpose(var: str, source: str, target: str) -> list[str]:
    """``x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW``, or nothing when the layouts agree."""
    order = convert.letter_permutation(source, target)
    if order == tuple(range(len(order))):
        return []
    return [f"{var} = {var}.transpose{call(order)}  # {source} -> {target}"]


def kernel(source: KernelLayout, target: KernelLayout, canonical_shape: Sequence[int], groups: int) -> list[str]:
    """Lines turning a kernel stored as ``source`` into ``target``; ``canonical_shape`` is (O, I/g, *k)
    (forward) or (I, O/g, *k) (transposed). A depthwise (I, M) side goes through a reshape."""
    spatial = convert.layout_name("channels_first", len(canonical_shape) - 2)[2:]
    if source.depthwise == target.depthwise:
        return transpose("w", source.name, target.name)
    canonical = source.canonical if not source.depthwise else target.canonical
    channels, taps = int(canonical_shape[0]), tuple(int(k) for k in canonical_shape[2:])
    if source.depthwise:  # (I, M, *k) -> (I*M, 1, *k): output channel i*M + m
        order = convert.letter_permutation(source.name, "IM" + spatial)
        lines = [f"w = w.transpose{call(order)}.reshape{call((channels, 1, *taps))}  # {source.name} -> {canonical}"]
        return lines + transpose("w", canonical, target.name)
    order = convert.letter_permutation("IM" + spatial, target.name)
    lines = transpose("w", source.name, canonical)
    return lines + [f"w = w.reshape{call((groups, channels // groups, *taps))}.transpose{call(order)}"
                    f"  # {canonical} -> {target.name}"]


def pad(var: str, pads: Pads, channels_last: bool, source: str | None = None) -> str:
    """``x = np.pad(x, ...)`` (from ``source`` when given), slicing first where an entry is negative (a crop)."""
    source = source or var
    body = [slice_text(part) for part in convert.crop_slices(pads)]
    crop = "" if all(part == ":" for part in body) else \
        index(len(pads) + 2, {axis + (1 if channels_last else 2): part for axis, part in enumerate(body)})
    widths = convert.numpy_pad_arg(convert.growth(pads), channels_last)
    if all(lo == hi == 0 for lo, hi in widths):
        return f"{var} = {source}{crop}"
    return f"{var} = np.pad({source}{crop}, {widths})"

"""The vocabulary of convention changes `parity check` tries, and the candidates for one case.

Each :class:`Change` has an identifier from a fixed vocabulary (README: "The `changes` vocabulary"):
``flip`` (kernel reversed on every spatial axis), ``flip:<AXIS>`` (one axis, e.g. ``flip:H``),
``layout:<LAYOUT>`` (data layout, e.g. ``layout:NHWC``), ``kernel-layout:<LAYOUT>`` (e.g.
``kernel-layout:HWIO``; in/out swaps, transposed spatial axes and TF depthwise ``HWIM`` are kernel layouts
too), ``padding:<MODE>`` (a mode such as ``padding:SAME_LOWER``, or explicit ``padding:2:3,2:3``; for a
transposed conv the crop), ``strides:<S,...>``, ``dilations:<D,...>`` and ``output-padding:<P,...>``.
An explanation is one change or a pair of changes from different categories.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import product
from typing import Final, Iterator, Sequence

from parity.core import convert
from parity.core.convert import KernelLayout
from parity.core.reading import Reading
from parity.core import geometry

# Lower is likelier; explanations with as many changes rank by the sum (then by generation order).
# Symmetric explicit padding (PyTorch's integer padding) outranks SAME_LOWER when both give the same window.
PRIORS: Final = {"flip": 1, "padding-mode": 1, "layout": 2, "kernel-layout": 2, "output-padding": 2,
                 "padding-symmetric": 2, "padding": 3, "strides": 3, "dilations": 3, "flip-axis": 4}
_FORWARD_MODES: Final = ("VALID", "SAME", "SAME_LOWER", "FULL", "CAUSAL")
_TRANSPOSED_MODES: Final = ("VALID", "SAME")
_SMALL: Final = (1, 2, 3)  # stride and dilation values tried
_OUTPUT_PADDINGS: Final = 8  # output_padding values tried: 0 up to this or max(stride, dilation), whichever is less


@dataclass(frozen=True)
class Change:
    id: str
    category: str  # an explanation holds at most one change per category
    prior: int
    fields: tuple[tuple[str, object], ...]

    def apply(self, reading: Reading) -> Reading:
        return dataclasses.replace(reading, **dict(self.fields))


def _change(identifier: str, kind: str, **fields: object) -> Change:
    category = "flip" if kind == "flip-axis" else "padding" if kind.startswith("padding") else kind
    return Change(identifier, category, PRIORS[kind], tuple(fields.items()))


def apply(reading: Reading, changes: Sequence[Change]) -> Reading:
    for change in changes:
        reading = change.apply(reading)
    return reading


def core_changes(stated: Reading) -> list[Change]:
    """Changes that need a new reference: kernel flips, layouts, dilations (and a transposed conv's strides)."""
    rank, letters = stated.rank, spatial_letters(stated.rank)
    found = [_change("flip", "flip", flips=tuple(range(rank)))]
    other = "channels_first" if stated.layout == "channels_last" else "channels_last"
    kernel = {"kernel_layout": convert.default_kernel_layout(rank, other == "channels_last", stated.transposed)} \
        if stated.kernel_follows else {}  # an unstated kernel layout follows the data layout
    found.append(_change(f"layout:{convert.layout_name(other, rank)}", "layout", layout=other, **kernel))
    found += [_change(f"kernel-layout:{layout.name}", "kernel-layout", kernel_layout=layout, kernel_follows=False)
              for layout in kernel_layouts(rank, stated.transposed) if layout != stated.kernel_layout]
    found += _geometry("dilations", stated.dilations)
    if stated.transposed:
        found += _geometry("strides", stated.strides)
    if rank > 1:
        found += [_change(f"flip:{letter}", "flip-axis", flips=(axis,)) for axis, letter in enumerate(letters)]
    return found


def kernel_kept(stated: Reading) -> Change:
    """The stated kernel layout, kept where a layout change would take an unstated kernel layout along (a
    channels-last x with a PyTorch-layout kernel): paired with the layout change only."""
    layout = stated.kernel_layout
    return _change(f"kernel-layout:{layout.name}", "kernel-layout", kernel_layout=layout, kernel_follows=False)


def placement_changes(stated: Reading) -> list[Change]:
    """Changes that select another window of the same full output: padding modes, output_padding, strides."""
    if not stated.transposed:
        modes = _FORWARD_MODES[:4] + _FORWARD_MODES[4:] * (stated.rank == 1)
        return [_change(f"padding:{mode}", "padding" if mode == "SAME_LOWER" else "padding-mode", padding=mode)
                for mode in modes if mode != stated.padding] + _geometry("strides", stated.strides)
    none = (0,) * stated.rank  # TF's modes fix the output size themselves: no output_padding
    found = [_change(f"padding:{mode}", "padding-mode", padding=mode, output_padding=none)
             for mode in _TRANSPOSED_MODES if mode != stated.padding]
    limit = min(max(max(stated.strides), max(stated.dilations)), _OUTPUT_PADDINGS)
    return found + [_change(f"output-padding:{_csv((p,) * stated.rank)}", "output-padding",
                            output_padding=(p,) * stated.rank)
                    for p in range(limit) if (p,) * stated.rank != stated.output_padding]


def kernel_layouts(rank: int, transposed: bool) -> list[KernelLayout]:
    """Kernel layouts people store: OI/IO first or last, TF depthwise (forward), spatial axes reversed."""
    letters = spatial_letters(rank)
    orders = [letters[::-1]] if rank > 1 else []
    names = []
    for spatial in [letters, *orders]:
        names += [spatial + "IO", "IO" + spatial, spatial + "OI", "OI" + spatial]
        names += [] if transposed else [spatial + "IM"]
    return [KernelLayout(name, transposed) for name in names]


def spatial_letters(rank: int) -> str:
    return convert.layout_name("channels_first", rank)[2:]


def _geometry(field: str, stated: tuple[int, ...]) -> list[Change]:
    options = [(v,) * len(stated) for v in _SMALL] + ([stated[::-1]] if len(set(stated)) > 1 else [])
    return [_change(f"{field}:{_csv(values)}", field, **{field: values})
            for values in dict.fromkeys(options) if values != stated]


def explicit_paddings(reading: Reading, spatial: Sequence[int], kernel: Sequence[int],
                      out: Sequence[int]) -> list[Change]:
    """Explicit paddings (crops for a transposed conv) giving ``out`` elements per axis, symmetric ones first."""
    spans = geometry.spans(kernel, reading.dilations)
    if reading.transposed:
        per_axis = [list(_crops(n, span, s, m, op)) for n, span, s, m, op in
                    zip(spatial, spans, reading.strides, out, reading.output_padding)]
    else:
        per_axis = [list(_pads(n, span, s, m)) for n, span, s, m in zip(spatial, spans, reading.strides, out)]
    combos = sorted(product(*per_axis), key=lambda pads: sum(abs(lo - hi) for lo, hi in pads))
    return [_change(f"padding:{convert.pads_text(pads)}",
                    "padding-symmetric" if all(lo == hi for lo, hi in pads) else "padding", padding=pads)
            for pads in combos if pads != reading.padding]


def explicit_count(reading: Reading, spatial: Sequence[int], kernel: Sequence[int], out: Sequence[int]) -> int:
    """How many paddings :func:`explicit_paddings` would give, counted without listing them."""
    count = 1
    for n, k, d, s, m, op in zip(spatial, kernel, reading.dilations, reading.strides, out,
                                 reading.output_padding or (0,) * len(spatial)):
        span = geometry.span(k, d)
        if reading.transposed:
            full = (n - 1) * s + span
            count *= min(max(full - m + op + 1, 0), full, 2 * span)
        else:
            count *= min(max(m * s + span - n, 0), span)
    return count


def _pads(n: int, span: int, stride: int, m: int) -> Iterator[tuple[int, int]]:
    """(lo, hi) with lo, hi < span giving m outputs; hi = lo where that works, else the smallest hi. A pad of a
    whole span or more on one side only adds outputs whose window is all padding: no convention does that."""
    for lo in range(span):
        least = (m - 1) * stride + span - n - lo  # hi in [least, least + stride) gives m outputs
        valid = range(max(least, 0), min(least + stride, span))
        if valid:
            yield lo, lo if lo in valid else valid[0]


def _crops(n: int, span: int, stride: int, m: int, output_padding: int) -> Iterator[tuple[int, int]]:
    full = (n - 1) * stride + span
    for lo in range(min(full, 2 * span)):
        hi = full - lo - m + output_padding
        if hi >= 0:
            yield lo, hi


def cost(changes: Sequence[Change]) -> tuple[int, int]:
    return len(changes), sum(change.prior for change in changes)


def compatible(first: Change, second: Change) -> bool:
    return first.category != second.category


def _csv(values: Sequence[int]) -> str:
    return ",".join(map(str, values))


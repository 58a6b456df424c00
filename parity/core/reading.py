"""One way of reading raw (x, w, y) arrays: the conventions `parity check` is told, or a candidate change.

A :class:`Reading` holds every convention that decides what a convolution computes from stored arrays:
data layout, kernel layout, which kernel axes are reversed, padding (the crop for a transposed conv),
strides, dilations, groups, output_padding. :func:`frame` applies one to raw arrays: canonical float64
x and w, canonical y, and the :class:`~parity.core.spec.ConvSpec` they make, or a ``ValueError`` naming the
contradiction (channel counts, groups, output shape).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from parity.core import convert
from parity.core.convert import KernelLayout, Pads
from parity.core.spec import ConvSpec, conventions

# Frameworks take 32-bit sizes; larger strides, dilations or paddings would overflow the search's indices.
LARGEST: Final = 2**31 - 1


@dataclass(frozen=True)
class Reading:
    layout: str
    kernel_layout: KernelLayout
    padding: str | Pads
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    groups: int = 1
    transposed: bool = False
    output_padding: tuple[int, ...] = ()
    flips: tuple[int, ...] = ()  # spatial axes (canonical order) along which the kernel is reversed
    kernel_follows: bool = False  # the kernel layout was not given: it is the data layout's default

    @property
    def rank(self) -> int:
        return len(self.strides)

    @property
    def core(self) -> tuple:
        """The fields that need a new reference; the rest only select a window of the full output."""
        return (self.layout, self.kernel_layout, self.flips, self.dilations, self.groups, self.transposed,
                self.strides if self.transposed else None)

    def describe(self) -> str:
        padding = self.padding if isinstance(self.padding, str) else convert.pads_text(self.padding)
        parts = [f"{convert.layout_name(self.layout, self.rank)} data", f"{self.kernel_layout.name} kernel",
                 f"{'crop' if self.transposed else 'padding'} {padding}", f"strides {self.strides}",
                 f"dilations {self.dilations}", f"groups {self.groups}"]
        if self.transposed:
            parts.insert(0, "transposed conv")
            parts.append(f"output_padding {self.output_padding}")
        return ", ".join(parts)


def stated(rank: int, *, layout: str | None = None, kernel_layout: str | None = None,
           padding: str | Pads | int = "VALID", strides: int | tuple[int, ...] = 1,
           dilations: int | tuple[int, ...] = 1, groups: int = 1, transposed: bool = False,
           output_padding: int | tuple[int, ...] = 0) -> Reading:
    """Validate user conventions (one-line ``ValueError`` naming field, value and rule) into a Reading."""
    family = "channels_first" if layout is None else convert.layout_family(layout, rank)
    kernel = (convert.default_kernel_layout(rank, family == "channels_last", transposed) if kernel_layout is None
              else convert.kernel_layout(kernel_layout, rank, transposed))
    strides, dilations, groups, padding, output_padding = conventions(
        rank, strides=strides, dilations=dilations, groups=groups, padding=padding, output_padding=output_padding,
        transposed=transposed)
    _check_sizes(strides, dilations, padding, output_padding, groups)
    return Reading(family, kernel, padding, strides, dilations, groups, transposed,
                   output_padding if transposed else (0,) * rank, kernel_follows=kernel_layout is None)


def _check_sizes(strides: tuple[int, ...], dilations: tuple[int, ...], padding: str | Pads,
                 output_padding: tuple[int, ...], groups: int) -> None:
    pads = () if isinstance(padding, str) else tuple(n for pair in padding for n in pair)
    for field, values in (("strides", strides), ("dilations", dilations), ("padding", pads),
                          ("output_padding", output_padding), ("groups", (groups,))):
        if any(abs(value) > LARGEST for value in values):
            raise ValueError(f"{field} must be at most {LARGEST} (frameworks take 32-bit sizes), got {values}")


@dataclass(frozen=True)
class Frame:
    """Raw arrays as one reading sees them: canonical x, w (float64, kernel axes reversed as the reading
    says), y (its own dtype), and the spec they make. ``rounding``: the canonical per-element half-widths
    of the printing x, w and y were read from (see :mod:`parity.porting.printed`), or None when all are exact."""

    reading: Reading
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    y: np.ndarray
    rounding: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def frame(reading: Reading, x: np.ndarray, w: np.ndarray, y: np.ndarray,
          rounding: tuple[np.ndarray, ...] | None = None) -> Frame:
    """Read float64 ``x``, ``w`` and ``y`` as ``reading`` says; ``ValueError`` if they contradict it.
    ``rounding`` holds the printing's half-widths of the raw x, w and y (None: exact)."""
    xc, wc, yc = canonical(reading, x, w, y)
    spec = make_spec(reading, xc, wc, yc, w.shape, y.shape)
    return Frame(reading, spec, xc, wc, yc, None if rounding is None else canonical(reading, *rounding))


def canonical(reading: Reading, x: np.ndarray, w: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Canonical views of x, w (kernel axes reversed as the reading says) and y."""
    xc, yc = (convert.to_channels_first(a) if reading.layout == "channels_last" else a for a in (x, y))
    wc = convert.flip_axes(convert.kernel_to_canonical(w, reading.kernel_layout), reading.flips)
    return xc, wc, yc


def make_spec(reading: Reading, xc: np.ndarray, wc: np.ndarray, yc: np.ndarray, w_shape: tuple[int, ...],
              y_shape: tuple[int, ...]) -> ConvSpec:
    """The spec canonical arrays make under ``reading``; ``ValueError`` naming any contradiction."""
    groups = reading.groups
    if reading.kernel_layout.depthwise:  # TF's depthwise kernel: one group per input channel, said or not
        if groups not in (1, xc.shape[1]):
            raise ValueError(f"kernel read as {reading.kernel_layout.name} (depthwise) must come with groups equal to "
                             f"the {xc.shape[1]} input channels, got groups={groups}")
        groups = xc.shape[1]
    out_channels = wc.shape[1] * groups if reading.transposed else wc.shape[0]
    spec = ConvSpec(spatial=xc.shape[2:], kernel=wc.shape[2:], in_channels=xc.shape[1], out_channels=out_channels,
                    batch=xc.shape[0], strides=reading.strides, dilations=reading.dilations,
                    groups=groups, padding=reading.padding, dtype=yc.dtype, layout=reading.layout,
                    op="conv_transpose" if reading.transposed else "conv",
                    output_padding=reading.output_padding if reading.transposed else 0)
    if wc.shape != spec.kernel_shape:
        raise ValueError(f"kernel read as {reading.kernel_layout.name} must have shape "
                         f"{_order(spec.kernel_shape, reading)} for {xc.shape[1]} input channels and "
                         f"groups={groups}, got {w_shape}")
    if yc.shape != spec.output_shape:
        batch, channels, *out = spec.output_shape
        expected = (batch, *out, channels) if reading.layout == "channels_last" else spec.output_shape
        raise ValueError(f"Y must have shape {expected} for these conventions, got {y_shape}")
    return spec


def _order(canonical_shape: tuple[int, ...], reading: Reading) -> tuple[int, ...] | str:
    """A canonical kernel shape in the reading's stored layout (depthwise layouts keep the canonical one)."""
    layout = reading.kernel_layout
    if layout.depthwise:
        return f"{canonical_shape} after the depthwise reshape"
    return tuple(canonical_shape[layout.canonical.index(letter)] for letter in layout.name)


def window(spec: ConvSpec) -> tuple[tuple[int, int], ...]:
    """(start, step) per axis of the spec's output inside :func:`full_output` (positions beyond it are 0).

    Forward: output o reads padded positions o*s + j*d, i.e. input o*s - lo + j*d, which the full output
    (padded span - 1) holds at index o*s - lo + span - 1. Transposed: the crop drops lo elements.
    """
    if spec.transposed:
        return tuple((lo, 1) for lo, _ in spec.pads)
    return tuple((span - 1 - lo, s) for span, (lo, _), s in zip(spec.dilated_kernel, spec.pads, spec.strides))


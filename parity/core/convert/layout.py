"""Data and kernel layouts (including layout strings such as "HWIO"), flips and dilation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Sequence

import numpy as np

from parity.core.errors import FieldError

__all__ = ['layout_name', 'layout_family', 'to_channels_last', 'to_channels_first', 'flip', 'dilate_spatial', 'KernelLayout', 'kernel_layout', 'default_kernel_layout', 'letter_permutation', 'kernel_to_canonical', 'kernel_from_canonical', 'flip_axes']


SPATIAL_LETTERS: Final = {1: "W", 2: "HW", 3: "DHW"}


# --- data layout -------------------------------------------------------------------------------------------
def layout_name(family: str, rank: int) -> str:
    """``("channels_last", 2)`` -> ``"NHWC"``."""
    letters = SPATIAL_LETTERS[rank]
    return f"NC{letters}" if family == "channels_first" else f"N{letters}C"


def layout_family(name: str, rank: int) -> str:
    """``"NHWC"`` -> ``"channels_last"`` (a family is itself); the name must match the rank. Case and
    surrounding spaces do not matter."""
    text = str(name).strip()
    for family in ("channels_first", "channels_last"):
        if text.lower() == family or (rank in SPATIAL_LETTERS and text.upper() == layout_name(family, rank)):
            return family
    names = ", ".join(layout_name(f, rank) for f in ("channels_first", "channels_last")) if rank in SPATIAL_LETTERS \
        else "N, C and 1 to 3 spatial letters"
    raise FieldError("layout", f"must be one of {names}, channels_first, channels_last for rank {rank}, got {name!r}")


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, *S) -> (N, *S, C)."""
    return np.moveaxis(x, 1, -1)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(N, *S, C) -> (N, C, *S)."""
    return np.moveaxis(x, -1, 1)


def flip(w: np.ndarray) -> np.ndarray:
    """Reverse every spatial axis of an (O, I, *k) kernel: convolution <-> cross-correlation."""
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


def dilate_spatial(a: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Insert f-1 zeros between neighbours along each spatial axis of an (A, B, *spatial) array: kernel
    dilation for (O, I, *k) kernels, and the input dilation ("lhs dilation") of a transposed conv."""
    span = tuple(f * (n - 1) + 1 for n, f in zip(a.shape[2:], factors))
    out = np.zeros(a.shape[:2] + span, dtype=a.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factors)] = a
    return out


# --- kernel layouts, per-axis flips, padding spellings (parity check / translate) ----------------------
# A kernel layout names a stored kernel's axes with letters, parsed once at the edge into a frozen
# KernelLayout, the kernel part of a DimensionNumbers (dimensions.py): O and I are the op's output and input channels, the
# spatial letters are those of the rank (W, HW, DHW). A depthwise kernel may instead carry I and M
# (TensorFlow's [kh, kw, in, multiplier]): output channel i*M + m reads input channel i alone.
# Canonical orders: forward (O, I/groups, *k) "OI...", transposed (I, O/groups, *k) "IO...".


@dataclass(frozen=True)
class KernelLayout:
    name: str
    transposed: bool = False

    @property
    def spatial(self) -> str:
        return "".join(letter for letter in self.name if letter not in "OIM")

    @property
    def canonical(self) -> str:
        return ("IO" if self.transposed else "OI") + SPATIAL_LETTERS[len(self.spatial)]

    @property
    def depthwise(self) -> bool:
        return "M" in self.name


def kernel_layout(name: str, rank: int, transposed: bool = False) -> KernelLayout:
    """``"hwio"`` -> KernelLayout("HWIO"); the letters must be O, I (or I, M) and the rank's spatial letters."""
    text, letters = str(name).strip().upper(), SPATIAL_LETTERS.get(rank, "")
    choices = [sorted("OI" + letters)] + ([] if transposed else [sorted("IM" + letters)])
    if sorted(text) not in choices:
        depthwise = "" if transposed else f" (or I, M and {letters} for a depthwise kernel)"
        raise FieldError("kernel_layout", f"must be a permutation of O, I and {letters}{depthwise} for rank {rank}"
                                          f"{' transposed' if transposed else ''}, got {name!r}")
    return KernelLayout(text, transposed)


def default_kernel_layout(rank: int, channels_last: bool, transposed: bool = False) -> KernelLayout:
    """OI... (IO... transposed) for channels-first data, ...IO (...OI transposed) for channels-last."""
    channels = "IO" if transposed else "OI"
    letters = SPATIAL_LETTERS[rank]
    return KernelLayout(letters + channels[::-1] if channels_last else channels + letters, transposed)


def letter_permutation(source: str, target: str) -> tuple[int, ...]:
    """Axis order taking an array labelled ``source`` to ``target``: ("NHWC", "NCHW") -> (0, 3, 1, 2)."""
    return tuple(source.index(letter) for letter in target)


def kernel_to_canonical(w: np.ndarray, layout: KernelLayout) -> np.ndarray:
    """A kernel stored in ``layout`` -> (O, I/g, *k) (forward) or (I, O/g, *k) (transposed).

    A depthwise (I, M) kernel becomes (I*M, 1, *k): a reshape, output channel i*M + m (TensorFlow's depthwise kernels).
    """
    if layout.depthwise:
        moved = w.transpose(letter_permutation(layout.name, "IM" + SPATIAL_LETTERS[w.ndim - 2]))
        return moved.reshape(moved.shape[0] * moved.shape[1], 1, *moved.shape[2:])
    return w.transpose(letter_permutation(layout.name, layout.canonical))


def kernel_from_canonical(w: np.ndarray, layout: KernelLayout, groups: int) -> np.ndarray:
    """The inverse of :func:`kernel_to_canonical`; a depthwise layout needs groups = input channels."""
    if layout.depthwise:
        if w.shape[1] != 1:
            raise ValueError(f"kernel layout {layout.name} (depthwise) must come with one input channel per group "
                             f"(groups = input channels), got {w.shape[1]} per group")
        split = w.reshape(groups, w.shape[0] // groups, *w.shape[2:])
        return split.transpose(letter_permutation("IM" + SPATIAL_LETTERS[w.ndim - 2], layout.name))
    return w.transpose(letter_permutation(layout.canonical, layout.name))


def flip_axes(w: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Reverse the given spatial axes (0-based, in canonical order) of an (A, B, *k) kernel."""
    return w[(slice(None), slice(None)) + tuple(slice(None, None, -1) if a in axes else slice(None)
                                                for a in range(w.ndim - 2))]

"""Padding modes, explicit (lo, hi) pads and their spellings per framework."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from parity.core.errors import FieldError
from parity.core.geometry import span

Pads = tuple[tuple[int, int], ...]

__all__ = ['Pads', 'same_pads', 'explicit_pads', 'parse_pads', 'padding_slug', 'symmetric_pads', 'torch_pad_arg', 'tf_padding', 'pad_array', 'growth', 'crop_slices', 'numpy_pad_arg', 'pads_text']


# --- padding -----------------------------------------------------------------------------------------------
def same_pads(size: int, kernel: int, stride: int, dilation: int, lower: bool = False) -> tuple[int, int]:
    """TensorFlow/ONNX SAME: total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0).

    SAME (ONNX SAME_UPPER) puts the odd extra element at the end, SAME_LOWER at the start.
    """
    total = max((-(-size // stride) - 1) * stride + span(kernel, dilation) - size, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if lower else (small, large)


def explicit_pads(padding: str | Pads, spatial: Sequence[int], kernel: Sequence[int],
                  strides: Sequence[int], dilations: Sequence[int]) -> Pads:
    """Resolve a padding mode to explicit (lo, hi) per spatial axis."""
    if not isinstance(padding, str):
        return tuple(padding)
    axes = list(zip(spatial, kernel, strides, dilations))
    if padding in ("SAME", "SAME_LOWER"):
        return tuple(same_pads(*axis, lower=padding == "SAME_LOWER") for axis in axes)
    reach = [span(k, d) - 1 for _, k, _, d in axes]
    table = {"VALID": [(0, 0) for _ in reach], "FULL": [(r, r) for r in reach], "CAUSAL": [(r, 0) for r in reach]}
    if padding not in table:
        raise FieldError("padding", f"must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or explicit, got {padding!r}")
    return tuple(table[padding])


def parse_pads(text: str, rank: int) -> Pads:
    """``"1:2,0:1"`` -> ((1, 2), (0, 1)); ``"1"`` -> ((1, 1),) * rank."""
    try:
        pairs = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        raise FieldError("padding", "must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or 'lo:hi,lo:hi,...', "
                                    f"got {text!r}") from None
    pairs = [p * 2 if len(p) == 1 else p for p in pairs] * (rank if len(pairs) == 1 else 1)
    if len(pairs) != rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise FieldError("padding", f"must have one non-negative lo:hi pair per spatial axis ({rank}), got {text!r}")
    return tuple(pairs)


def padding_slug(padding: str | Pads) -> str:
    if isinstance(padding, str):
        return padding.lower().replace("_", "")
    return "p" + "x".join(f"{lo}{hi}" if lo < 10 and hi < 10 else f"{lo}.{hi}" for lo, hi in padding)


def symmetric_pads(pads: Pads) -> tuple[int, ...] | None:
    """Per-axis int padding if every axis pads equally on both sides (PyTorch's ``padding=int``), else None."""
    return tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else None


def torch_pad_arg(pads: Pads) -> tuple[int, ...]:
    """``F.pad`` wants (lo, hi) pairs starting from the *last* axis."""
    return tuple(v for lo_hi in reversed(pads) for v in lo_hi)


def tf_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dilations: Sequence[int], channels_last: bool) -> str | list[list[int]]:
    """TensorFlow's ``padding`` argument: "SAME"/"VALID" when they mean exactly ``pads``, else explicit
    ``[[0, 0], [lo, hi], ..., [0, 0]]`` in the data layout's axis order."""
    for mode in ("VALID", "SAME"):
        if explicit_pads(mode, spatial, kernel, strides, dilations) == tuple(pads):
            return mode
    body = [list(p) for p in pads]
    return [[0, 0], *body, [0, 0]] if channels_last else [[0, 0], [0, 0], *body]


def pad_array(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Zero-pad the spatial axes of channels-first data; negative entries crop instead.

    Padding comes first, then cropping, so a crop may reach into the other end's padding: (-2, 2) on
    [a] is [a, 0, 0] without its first two elements, [0] (cropping first would leave nothing to crop).
    """
    padded = np.pad(x, [(0, 0), (0, 0), *growth(pads)])
    return padded[(slice(None), slice(None), *crop_slices(pads))]


def growth(pads: Pads) -> Pads:
    """The positive entries of ``pads``: what is padded (the negative ones crop, :func:`crop_slices`)."""
    return tuple((max(0, lo), max(0, hi)) for lo, hi in pads)


def crop_slices(pads: Pads) -> tuple[slice, ...]:
    """The slices that apply the negative entries of ``pads`` (``slice(None)`` where there are none), on
    axes of any length."""
    return tuple(slice(max(0, -lo) or None, -max(0, -hi) or None) for lo, hi in pads)


def numpy_pad_arg(pads: Pads, channels_last: bool) -> list[tuple[int, int]]:
    """``np.pad``'s pad widths for data in either layout (batch and channel axes unpadded)."""
    body = [tuple(p) for p in pads]
    return [(0, 0), *body, (0, 0)] if channels_last else [(0, 0), (0, 0), *body]


def pads_text(pads: Pads) -> str:
    """((2, 3), (0, 1)) -> "2:3,0:1", the spelling ``parse_pads`` and ``--padding`` accept."""
    return ",".join(f"{lo}:{hi}" for lo, hi in pads)

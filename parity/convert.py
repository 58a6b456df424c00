"""Every layout, flip and padding translation parity performs, in one pure module.

Nothing here imports a framework: adapters call these functions on numpy arrays (or plain tuples)
before handing data to their framework, so the translations are unit-tested without any installed.
Canonical form: data ``(N, C, *spatial)``, kernel ``(O, C/groups, *k)``, cross-correlation.
"""
from __future__ import annotations

from typing import Final, Sequence

import numpy as np

Pads = tuple[tuple[int, int], ...]
_SPATIAL_LETTERS: Final = {1: "W", 2: "HW", 3: "DHW"}


# --- data layout -------------------------------------------------------------------------------------------
def layout_name(family: str, rank: int) -> str:
    """``("channels_last", 2)`` -> ``"NHWC"``."""
    letters = _SPATIAL_LETTERS[rank]
    return f"NC{letters}" if family == "channels_first" else f"N{letters}C"


def layout_family(name: str, rank: int) -> str:
    """``"NHWC"`` -> ``"channels_last"``; the name must match the rank."""
    for family in ("channels_first", "channels_last"):
        if str(name).upper() == layout_name(family, rank):
            return family
    choices = ", ".join(layout_name(f, rank) for f in ("channels_first", "channels_last"))
    raise ValueError(f"must be channels_first, channels_last, {choices} for rank {rank}, got {name!r}")


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, *S) -> (N, *S, C)."""
    return np.moveaxis(x, 1, -1)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(N, *S, C) -> (N, C, *S)."""
    return np.moveaxis(x, -1, 1)


# --- kernel layout and flip --------------------------------------------------------------------------------
def kernel_to_tf(w: np.ndarray) -> np.ndarray:
    """(O, I, *k) -> TensorFlow's (*k, I, O) (``HWIO``)."""
    return np.moveaxis(w, (0, 1), (-1, -2))


def kernel_from_tf(w: np.ndarray) -> np.ndarray:
    """TensorFlow's (*k, I, O) -> (O, I, *k)."""
    return np.moveaxis(w, (-1, -2), (0, 1))


def depthwise_to_tf(w: np.ndarray, in_channels: int) -> np.ndarray:
    """(C*M, 1, *k) with groups=C -> TensorFlow depthwise (*k, C, M).

    Output channel c*M + m belongs to group c in both conventions, so this is a reshape, not a permutation.
    """
    multiplier = w.shape[0] // in_channels
    return np.moveaxis(w.reshape(in_channels, multiplier, *w.shape[2:]), (0, 1), (-2, -1))


def depthwise_from_tf(w: np.ndarray) -> np.ndarray:
    """TensorFlow depthwise (*k, C, M) -> (C*M, 1, *k)."""
    channels, multiplier = w.shape[-2:]
    return np.moveaxis(w, (-2, -1), (0, 1)).reshape(channels * multiplier, 1, *w.shape[:-2])


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


# --- transposed convolution --------------------------------------------------------------------------------
def transposed_kernel_to_forward(w: np.ndarray, groups: int) -> np.ndarray:
    """A transposed conv's (C_in, C_out/g, *k) kernel (PyTorch/ONNX) -> the (C_out, C_in/g, *k) kernel of
    the equivalent forward conv: in/out swapped within each group and every spatial axis flipped."""
    c_in, per_group_out = w.shape[:2]
    grouped = w.reshape(groups, c_in // groups, per_group_out, *w.shape[2:]).swapaxes(1, 2)
    return flip(grouped.reshape(groups * per_group_out, c_in // groups, *w.shape[2:]))


def transposed_pads(kernel: Sequence[int], dilations: Sequence[int], crops: Pads,
                    output_padding: Sequence[int]) -> Pads:
    """Padding of the equivalent forward conv over the dilated input: (d(k-1) - lo, d(k-1) - hi + op).
    Negative entries crop."""
    return tuple((d * (k - 1) - lo, d * (k - 1) - hi + op)
                 for k, d, (lo, hi), op in zip(kernel, dilations, crops, output_padding))


# --- padding -----------------------------------------------------------------------------------------------
def same_pads(size: int, kernel: int, stride: int, dilation: int, lower: bool = False) -> tuple[int, int]:
    """TensorFlow/ONNX SAME: total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0).

    SAME (ONNX SAME_UPPER) puts the odd extra element at the end, SAME_LOWER at the start.
    """
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
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
    span = [(k - 1) * d for _, k, _, d in axes]
    table = {"VALID": [(0, 0) for _ in span], "FULL": [(s, s) for s in span], "CAUSAL": [(s, 0) for s in span]}
    if padding not in table:
        raise ValueError(f"padding must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or explicit, got {padding!r}")
    return tuple(table[padding])


def parse_pads(text: str, rank: int) -> Pads:
    """``"1:2,0:1"`` -> ((1, 2), (0, 1)); ``"1"`` -> ((1, 1),) * rank."""
    try:
        pairs = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        raise ValueError("padding must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or 'lo:hi,lo:hi,...', "
                         f"got {text!r}") from None
    pairs = [p * 2 if len(p) == 1 else p for p in pairs] * (rank if len(pairs) == 1 else 1)
    if len(pairs) != rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"padding must have one non-negative lo:hi pair per spatial axis ({rank}), got {text!r}")
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
    """Zero-pad the spatial axes of channels-first data; negative entries crop instead."""
    crop = tuple(slice(max(0, -lo), n - max(0, -hi)) for n, (lo, hi) in zip(x.shape[2:], pads))
    return np.pad(x[(slice(None), slice(None), *crop)], [(0, 0), (0, 0), *((max(0, lo), max(0, hi)) for lo, hi in pads)])

"""Transposed convolution: crops, the equivalent forward conv, PyTorch and TensorFlow arguments."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from parity.core.convert.layout import flip
from parity.core.convert.padding import Pads, explicit_pads, same_pads
from parity.core.geometry import full_transposed, output_lengths, spans

__all__ = ['transposed_kernel_to_forward', 'transpose_crops', 'torch_transpose_args', 'tf_transpose_padding', 'crop_full_transpose', 'transposed_pads']


# --- transposed convolution --------------------------------------------------------------------------------
def transposed_kernel_to_forward(w: np.ndarray, groups: int) -> np.ndarray:
    """A transposed conv's (C_in, C_out/g, *k) kernel (PyTorch/ONNX) -> the (C_out, C_in/g, *k) kernel of
    the equivalent forward conv: in/out swapped within each group and every spatial axis flipped."""
    c_in, per_group_out = w.shape[:2]
    grouped = w.reshape(groups, c_in // groups, per_group_out, *w.shape[2:]).swapaxes(1, 2)
    return flip(grouped.reshape(groups * per_group_out, c_in // groups, *w.shape[2:]))


def transpose_crops(padding: str | Pads, spatial: Sequence[int], kernel: Sequence[int],
                    strides: Sequence[int], dilations: Sequence[int], outputs: Sequence[int] | None = None) -> Pads:
    """(lo, hi) crop of a transposed conv's full output, (n-1)*s + d*(k-1) + 1 long, PyTorch's ``padding``.

    TF's transposed convs are gradients of forward convs: "VALID" crops nothing, "SAME" yields ``outputs``
    elements (TF's ``output_shape``; default n*s), cropping at the start what the forward SAME conv of that
    many elements pads there (hi may come out negative: the full output is then extended with zeros).
    """
    if not isinstance(padding, str):
        return tuple(padding)
    if padding == "VALID":
        return tuple((0, 0) for _ in spatial)
    sizes = outputs or [n * s for n, s in zip(spatial, strides)]
    lows = [same_pads(m, k, s, d)[0] for m, k, s, d in zip(sizes, kernel, strides, dilations)]
    full = full_transposed(spatial, kernel, strides, dilations)
    return tuple((lo, f - lo - m) for lo, f, m in zip(lows, full, sizes))


def torch_transpose_args(crops: Pads, output_padding: Sequence[int], strides: Sequence[int],
                         dilations: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(padding, output_padding) for PyTorch's ``conv_transpose*d`` when it can express the crop, else None.

    PyTorch crops ``p`` from both ends of the full output and then appends ``op`` at the end, and requires
    0 <= op < max(stride, dilation): a crop (lo, hi) with our output_padding e is p = lo, op = lo - hi + e.
    """
    padding, extra = [], []
    for (lo, hi), e, s, d in zip(crops, output_padding, strides, dilations):
        op = lo - hi + e
        if lo < 0 or not 0 <= op < max(s, d):
            return None
        padding.append(lo)
        extra.append(op)
    return tuple(padding), tuple(extra)


def tf_transpose_padding(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                         kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> str | None:
    """"SAME" or "VALID" when TensorFlow's ``conv*_transpose(output_shape, padding)`` means exactly this crop.

    TF computes the gradient of the forward conv of an ``output_shape``-sized input: it crops at the start
    what that forward conv pads there, and requires the forward conv to give back the input's size.
    """
    full = full_transposed(spatial, kernel, strides, dilations)
    out = [f - lo - hi + e for f, (lo, hi), e in zip(full, crops, output_padding)]
    for mode in ("VALID", "SAME"):
        forward = explicit_pads(mode, out, kernel, strides, dilations)
        sizes = list(output_lengths(out, kernel, strides, dilations, forward))
        if list(spatial) == sizes and all(plo == lo and f - plo - m == hi - e for (plo, _), (lo, hi), f, m, e
                                          in zip(forward, crops, full, out, output_padding)):
            return mode
    return None


def crop_full_transpose(crops: Pads, output_padding: Sequence[int]) -> Pads:
    """Padding (negative: crop) that turns a transposed conv's full output into the cropped one."""
    return tuple((-lo, e - hi) for (lo, hi), e in zip(crops, output_padding))


def transposed_pads(kernel: Sequence[int], dilations: Sequence[int], crops: Pads,
                    output_padding: Sequence[int]) -> Pads:
    """Padding of the equivalent forward conv over the dilated input: (d(k-1) - lo, d(k-1) - hi + op).
    Negative entries crop."""
    return tuple((span - 1 - lo, span - 1 - hi + op)
                 for span, (lo, hi), op in zip(spans(kernel, dilations), crops, output_padding))

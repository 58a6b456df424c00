"""Argument spellings of the other backends: TF 1 / tflearn / Theano, JAX, ONNX, Keras, PyTensor."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from parity.core.convert.padding import Pads, explicit_pads, symmetric_pads
from parity.core.geometry import full_transposed, output_lengths, span

__all__ = ['tf1_conv_args', 'theano_border_mode', 'as_height1', 'from_height1', 'onnx_pads', 'onnx_conv_padding', 'onnx_transpose_padding', 'keras_padding', 'keras_transpose_args', 'undilate_spatial', 'negate_pads']


# --- legacy backends: TensorFlow 1 / tflearn argument shapes, Theano border_mode (parity.adapters.legacy.tf1, ...) ----
def tf1_conv_args(rank: int, strides: Sequence[int], dilations: Sequence[int]) -> dict[str, object]:
    """Stride and dilation arguments of TF 1.15's ``tf.nn.conv1d`` (ints ``stride``, ``dilations``) or
    ``conv2d``/``conv3d`` (lists over every axis of channels-last data, ``[1, *s, 1]``)."""
    if rank == 1:
        return {"stride": strides[0], "dilations": dilations[0]}
    return {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1]}


def theano_border_mode(pads: Pads, kernel: Sequence[int], dilations: Sequence[int]) -> str | tuple:
    """Theano's ``border_mode`` for explicit pads: "valid", "full" ((k-1)d both sides), "half"
    (((k-1)d + 1) // 2 both sides: half the dilated kernel, rounded down), per-axis ints when symmetric,
    else (lo, hi) pairs per axis (Theano takes those in 2-D only)."""
    reach = [span(k, d) - 1 for k, d in zip(kernel, dilations)]
    for mode, pad in (("valid", [0] * len(reach)), ("full", reach), ("half", [(r + 1) // 2 for r in reach])):
        if all(p == (q, q) for p, q in zip(pads, pad)):
            return mode
    symmetric = symmetric_pads(pads)
    return symmetric if symmetric is not None else tuple(tuple(p) for p in pads)


def as_height1(a: np.ndarray) -> np.ndarray:
    """(A, B, W) -> (A, B, 1, W): a rank-1 case as a height-1 image (how 2-D-only APIs run it)."""
    return a[:, :, None]


def from_height1(a: np.ndarray) -> np.ndarray:
    """(A, B, 1, W) -> (A, B, W), the inverse of :func:`as_height1`."""
    return a[:, :, 0]


# --- JAX, ONNX, Keras and PyTensor spellings (parity.adapters.jax, onnxruntime, keras, pytensor) -----------
def onnx_pads(pads: Pads) -> list[int]:
    """ONNX ``pads``: all begins, then all ends ([x1_begin, x2_begin, ..., x1_end, x2_end])."""
    return [lo for lo, _ in pads] + [hi for _, hi in pads]


def onnx_conv_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                      dilations: Sequence[int]) -> dict[str, object]:
    """ONNX ``Conv``'s padding attributes: ``auto_pad`` VALID, SAME_UPPER (TF's SAME) or SAME_LOWER when it
    means exactly ``pads``, else explicit ``pads``."""
    for ours, theirs in (("VALID", "VALID"), ("SAME", "SAME_UPPER"), ("SAME_LOWER", "SAME_LOWER")):
        if explicit_pads(ours, spatial, kernel, strides, dilations) == tuple(pads):
            return {"auto_pad": theirs}
    return {"pads": onnx_pads(pads)}


def onnx_transpose_padding(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                           kernel: Sequence[int], strides: Sequence[int],
                           dilations: Sequence[int]) -> dict[str, object]:
    """ONNX ``ConvTranspose``'s padding attributes for a crop (lo, hi) of the full output plus
    ``output_padding`` at the end.

    Output element j is element j + lo of the full output (zeros past its end), so a spelling is exact
    when it crops lo at the start and gives the same length. ONNX: VALID crops nothing; SAME_UPPER /
    SAME_LOWER give n*s elements, total = s*(n-1) + d*(k-1) + 1 - n*s split with the odd one at the end /
    start. SAME is only used without output_padding: ONNX's spec and onnxruntime then still give n*s, but
    onnx's shape inference says n*s + output_padding (tests/test_findings_more.py). Else explicit ``pads``
    (begins, then ends hi - output_padding where >= 0) and ``output_padding`` (what the end must grow by:
    output_padding - hi where > 0, e.g. TF SAME with a kernel shorter than the stride, whose hi < 0).
    """
    if all(c == (0, 0) for c in crops):
        return {"auto_pad": "VALID", **({"output_padding": list(output_padding)} if any(output_padding) else {})}
    axes = list(zip(spatial, kernel, strides, dilations, crops))
    totals = [f - n * s for f, n, s in zip(full_transposed(spatial, kernel, strides, dilations), spatial, strides)]
    same = not any(output_padding) and all(lo + hi == t >= 0 for (*_, (lo, hi)), t in zip(axes, totals))
    for mode, lower in (("SAME_UPPER", False), ("SAME_LOWER", True)):
        if same and all(c[0] == (t - t // 2 if lower else t // 2) for c, t in zip(crops, totals)):
            return {"auto_pad": mode}
    ends = [max(hi - e, 0) for (_, hi), e in zip(crops, output_padding)]
    grow = [max(e - hi, 0) for (_, hi), e in zip(crops, output_padding)]
    return {"pads": [lo for lo, _ in crops] + ends, **({"output_padding": grow} if any(grow) else {})}


def keras_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                  dilations: Sequence[int]) -> str | None:
    """Keras' ``padding``: "valid", "same" (TF's SAME) or, rank 1, "causal" when it means exactly ``pads``."""
    modes = ("VALID", "SAME", "CAUSAL") if len(spatial) == 1 else ("VALID", "SAME")
    for mode in modes:
        if explicit_pads(mode, spatial, kernel, strides, dilations) == tuple(pads):
            return mode.lower()
    return None


def _keras_transpose_length(mode: str, extra: int | None, n: int, k: int, s: int, d: int) -> int:
    """Keras 3's output length for ``Conv*Transpose`` (``_get_output_shape_given_tf_padding``)."""
    covered = span(k, d)
    if mode == "valid":
        return (n - 1) * s + covered + (max(covered, s) - covered if extra is None else extra)
    return n * s if extra is None else (n - 1) * s + covered % 2 + extra


def keras_transpose_args(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                         kernel: Sequence[int], strides: Sequence[int],
                         dilations: Sequence[int]) -> tuple[str, tuple[int, ...] | None] | None:
    """(padding, output_padding) for Keras' ``Conv*Transpose`` when they give exactly this crop, else None.

    Keras computes the output length from (padding, output_padding) by its own formula, then TF crops at
    the start what the forward conv of that length pads there (and requires it to give back n). Keras
    takes one padding for all axes and 0 <= output_padding < stride.
    """
    axes = list(zip(spatial, kernel, strides, dilations))
    out = [f - lo - hi + e for f, (lo, hi), e in
           zip(full_transposed(spatial, kernel, strides, dilations), crops, output_padding)]
    for mode in ("valid", "same"):
        forward = explicit_pads(mode.upper(), out, kernel, strides, dilations)
        sizes = output_lengths(out, kernel, strides, dilations, forward)
        if list(sizes) != list(spatial) or [p[0] for p in forward] != [c[0] for c in crops]:
            continue
        if [_keras_transpose_length(mode, None, *axis) for axis in axes] == out:
            return mode, None
        extra = tuple(m - _keras_transpose_length(mode, 0, *axis) for m, axis in zip(out, axes))
        if all(0 <= e < s for e, s in zip(extra, strides)):
            return mode, extra
    return None


def undilate_spatial(a: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Every f-th element along each spatial axis of an (A, B, *spatial) array: the adjoint of
    :func:`dilate_spatial` (the gradient of a dilated kernel or input is the undilated gradient)."""
    return a[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factors)]


def negate_pads(pads: Pads) -> Pads:
    """(lo, hi) -> (-lo, -hi): :func:`pad_array` with these undoes a padding (or a crop); it is also the
    adjoint of that padding, so it maps a gradient back."""
    return tuple((-lo, -hi) for lo, hi in pads)

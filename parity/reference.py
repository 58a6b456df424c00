"""The exact reference: rank-generic convolution in numpy only (pad, dilate, window, contract).

Each output element is a dot product of an input window with a kernel; windows are gathered with a strided
view and contracted with one BLAS matmul per group (im2col), in chunks that bound the memory used.
Inputs of 16- and 32-bit cases are exact in float64 and their products are exact too, so float64
accumulation errs by at most n * 2**-53 relative, far below their own bounds. Float64 cases take an
error-free path (Ozaki splitting): each operand is cut into slices whose products and sums BLAS computes
exactly, and the slice products are summed in double-double; ``value + low`` then errs by about 2**-70
of the largest window-kernel product sum, some 2**-18 of a float64 ULP.

This module must import nothing but numpy (tests block torch and tensorflow while importing it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Sequence

import numpy as np

from parity import convert

if TYPE_CHECKING:
    from parity.spec import ConvSpec

Pads = tuple[tuple[int, int], ...]
CHUNK_BYTES: Final = 64 << 20  # memory for one chunk of gathered windows
_MAX_SLICES: Final = 6


@dataclass(frozen=True)
class Reference:
    """The exact result of a case, in canonical layout.

    ``value`` is the exact result rounded to float64; ``low`` (float64 cases only) is what rounding left out,
    so ``value + low`` is exact to about 2**-70 relative. ``scale`` is |x| conv |w|, the per-element scale of
    the floating-point error bound, and ``accumulation_length`` the n of that bound. ``integer_inputs``
    says every input is an integer: then an element whose scale the dtype holds exactly is computed
    without any rounding, in every summation order.
    """

    value: np.ndarray
    low: np.ndarray | None
    scale: np.ndarray
    accumulation_length: int
    integer_inputs: bool = False


def reference(spec: "ConvSpec", x: np.ndarray, w: np.ndarray) -> Reference:
    """The reference for ``spec`` on inputs ``x`` (N, C, *S) and ``w`` (O, C/g, *k) of the case's dtype."""
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    value, low, scale = conv(x64, w64, spec.strides, spec.pads, spec.dilations, spec.groups,
                             exact=spec.dtype == "float64")
    integers = all(np.array_equal(a, np.round(a)) for a in (x64, w64))
    return Reference(value, low, scale, spec.accumulation_length, integers)


def conv(x: np.ndarray, w: np.ndarray, strides: Sequence[int], pads: Pads, dilations: Sequence[int],
         groups: int = 1, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Cross-correlate float64 ``x`` (N, C, *S) with ``w`` (O, C/groups, *k); negative pads crop.

    Returns (value, low, scale): ``low`` is None unless ``exact``, when value + low is the double-double
    result; ``scale`` is |x| conv |w|, computed from the same gathered windows.
    """
    xp = convert.pad_array(x, pads)
    view = windows(xp, w.shape[2:], strides, dilations)  # (N, C, *out, *k), no copy
    batch, _, *out = view.shape[: 2 + len(pads)]
    out_channels = w.shape[0]
    # (g, O/g, C/g * kvol), contracted against rows of (C/g * kvol) window values.
    weights = w.reshape(groups, out_channels // groups, -1)
    magnitudes = np.abs(weights).transpose(0, 2, 1)
    value, scale = np.empty((batch, out_channels, *out)), np.empty((batch, out_channels, *out))
    low = np.empty_like(value) if exact else None
    for index in _chunks(view.shape, x.itemsize):
        rows = im2col(view[index[0], :, index[1]], groups)  # index slices (batch, first output axis)
        hi, lo = _contract_exact(rows, weights) if exact else (rows @ weights.transpose(0, 2, 1), None)
        target = (index[0], slice(None), index[1])
        value[target] = rows_to_output(hi, value[target].shape)
        if low is not None:
            low[target] = rows_to_output(lo, low[target].shape)
        absolute = np.abs(rows, out=rows) if rows.flags.writeable else np.abs(rows)  # rows may view xp
        scale[target] = rows_to_output(absolute @ magnitudes, scale[target].shape)
    return value, low, scale


def conv_transpose(x: np.ndarray, w: np.ndarray, strides: Sequence[int], crops: Pads,
                   output_padding: Sequence[int], dilations: Sequence[int], groups: int = 1, *,
                   exact: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Transposed conv of float64 ``x`` (N, C_in, *S) with ``w`` (C_in, C_out/groups, *k), PyTorch/ONNX
    semantics: ``crops`` (PyTorch's ``padding``) removes (lo, hi) from the full output, ``output_padding``
    adds back at the end. Computed as the forward conv of the stride-dilated input with the flipped,
    in/out-swapped kernel; returns (value, low, scale) like :func:`conv`."""
    pads = convert.transposed_pads(w.shape[2:], dilations, crops, output_padding)
    return conv(convert.dilate_spatial(x, strides), convert.transposed_kernel_to_forward(w, groups),
                (1,) * len(strides), pads, dilations, groups, exact=exact)


def windows(xp: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> np.ndarray:
    """Strided view (N, C, *out, *k) of padded data: element [..., o, j] is xp[..., o*s + j*d]."""
    spatial = xp.shape[2:]
    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, s, d in zip(spatial, kernel, strides, dilations)]
    base = xp.strides[2:]
    return np.lib.stride_tricks.as_strided(
        xp, shape=(*xp.shape[:2], *out, *kernel),
        strides=(*xp.strides[:2], *(b * s for b, s in zip(base, strides)), *(b * d for b, d in zip(base, dilations))),
        writeable=False)


def _chunks(shape: tuple[int, ...], itemsize: int) -> list[tuple[slice, slice]]:
    """Slices over (batch, first output axis) so that each chunk's gathered windows fit CHUNK_BYTES."""
    rank = (len(shape) - 2) // 2
    batch, out0 = shape[0], shape[2]
    per_out0 = math.prod(shape[1:2]) * math.prod(shape[3:3 + rank - 1]) * math.prod(shape[2 + rank:]) * itemsize
    per_item = per_out0 * out0
    if per_item <= CHUNK_BYTES:
        step = max(1, CHUNK_BYTES // per_item)
        return [(slice(n, n + step), slice(None)) for n in range(0, batch, step)]
    step = max(1, CHUNK_BYTES // per_out0)
    return [(slice(n, n + 1), slice(o, o + step)) for n in range(batch) for o in range(0, out0, step)]


def im2col(view: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, *out, *k) windows -> (g, N * prod(out), C/g * kvol) rows (one copy)."""
    batch, channels = view.shape[:2]
    rank = (view.ndim - 2) // 2
    grouped = view.reshape(batch, groups, channels // groups, *view.shape[2:])
    order = (1, 0, *range(3, 3 + rank), 2, *range(3 + rank, 3 + 2 * rank))
    return grouped.transpose(order).reshape(groups, -1, channels // groups * math.prod(view.shape[2 + rank:]))


def rows_to_output(result: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(g, N * prod(out), O/g) -> (N, O, *out)."""
    groups, _, per_group = result.shape
    batch, _, *out = shape
    return result.reshape(groups, batch, *out, per_group).transpose(
        1, 0, len(out) + 2, *range(2, len(out) + 2)).reshape(shape)


# --- error-free contraction for float64 ------------------------------------------------------------------
def _contract_exact(rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rows @ weights^T per group, as a double-double (hi, lo) pair.

    Slices of ``beta`` bits sharing one exponent per row (resp. per weight vector) multiply and add up
    exactly in float64 when n * 2**(2*beta) <= 2**53, whatever order BLAS sums in.
    """
    n = rows.shape[-1]
    beta = (53 - max(1, math.ceil(math.log2(n)))) // 2
    row_slices = _split(rows, beta)
    weight_slices = [s.transpose(0, 2, 1) for s in _split(weights, beta)]
    hi = np.zeros((rows.shape[0], rows.shape[1], weights.shape[1]))
    lo = np.zeros_like(hi)
    # Every slice pair, larger terms first. (Stopping at i + j < max(len) dropped pairs weighing 2**(-2*beta)
    # of the largest product when both sides have two slices, e.g. float32 values held in float64.)
    depth = len(row_slices) + len(weight_slices) - 1
    for total in range(depth):
        for i in range(max(0, total - len(weight_slices) + 1), min(total, len(row_slices) - 1) + 1):
            hi, error = _two_sum(hi, row_slices[i] @ weight_slices[total - i])
            lo += error
    value = hi + lo
    return value, lo - (value - hi)


def _split(a: np.ndarray, beta: int) -> list[np.ndarray]:
    """Cut ``a`` into slices along the last axis's rows: each slice has <= beta+1 significant bits
    relative to the row's largest remaining magnitude, so the slices sum exactly to ``a``."""
    slices, rest = [], a
    for _ in range(_MAX_SLICES):
        largest = np.max(np.abs(rest), axis=-1, keepdims=True)
        if not largest.any():
            break
        sigma = np.ldexp(1.0, np.frexp(largest)[1] + 53 - beta)
        piece = (rest + sigma) - sigma
        slices.append(piece)
        rest = rest - piece
    return slices or [a]


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's TwoSum: a + b = s + e exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)

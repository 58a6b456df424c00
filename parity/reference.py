"""The exact reference: rank-generic convolution in numpy only (pad, dilate, window, contract).

Each output element is a dot product of an input window with a kernel; windows are gathered with a strided
view, gathered into columns (im2col) and contracted with one BLAS matmul per group, in chunks that bound
the memory used.
Transposed convolution is the forward conv of the stride-dilated input with the flipped, in/out-swapped
kernel; the gradients (vector-Jacobian products) are built from the same three primitives.
Inputs of 16- and 32-bit cases are exact in float64 and their products are exact too, so float64
accumulation errs by at most n * 2**-53 relative, far below their own bounds. Float64 cases take the
error-free path of :mod:`parity.eft`.

This module must import nothing but numpy (tests block torch and tensorflow while importing it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Sequence

import numpy as np

from parity import convert, eft

if TYPE_CHECKING:
    from parity.spec import ConvSpec

Pads = tuple[tuple[int, int], ...]
CHUNK_BYTES: Final = 64 << 20  # memory for one chunk of gathered windows
Triple = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class Reference:
    """The exact result of a case, in canonical layout.

    ``value`` is the exact result rounded to float64; ``low`` (float64 cases only) is what rounding left out,
    so ``value + low`` is exact to about 2**-70 relative. ``scale`` is |x| conv |w|, the per-element scale of
    the floating-point error bound, and ``accumulation_length`` the n of that bound. ``integer_inputs``
    says every input is an integer: then an element whose scale the dtype holds exactly is computed
    without any rounding, in every summation order. ``taps`` is the kernel volume: a backend that sums
    channels per kernel tap and adds the taps in a shorter type (col2im) rounds over that many terms.
    """

    value: np.ndarray
    low: np.ndarray | None
    scale: np.ndarray
    accumulation_length: int
    integer_inputs: bool = False
    taps: int = 1


def reference(spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> Reference:
    """The reference for ``spec`` on inputs of the case's dtype: ``x`` (N, C, *S), the kernel ``w`` and,
    for gradients, the cotangent ``dy`` (shaped like the output)."""
    operands = [np.asarray(a, np.float64) for a in (x, w, dy) if a is not None]
    value, low, scale = compute(spec, *operands, exact=spec.dtype == "float64")
    integers = all(np.array_equal(a, np.round(a)) for a in operands)
    return Reference(value, low, scale, spec.accumulation_length, integers, math.prod(spec.kernel))


def compute(spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None, *,
            exact: bool = False, pads: Pads | None = None, scaled: bool = True) -> Triple:
    """(value, low, scale) of the spec's quantity, computed in the operands' dtype (float64 for the
    reference; the numpy backend passes the case's dtype). ``pads`` replaces ``spec.pads`` (pads that keep
    the padded length, such as a shift by one, keep every shape); ``scaled=False`` skips the scale (None)."""
    s, d, g = spec.strides, spec.dilations, spec.groups
    pads = spec.pads if pads is None else pads
    options = dict(exact=exact, scaled=scaled)
    if spec.quantity == "output":
        if spec.transposed:
            return conv_transpose(x, w, s, pads, spec.output_padding, d, g, **options)
        return conv(x, w, s, pads, d, g, **options)
    if not spec.transposed:
        if spec.quantity == "grad_input":  # the adjoint of a conv is the transposed conv
            return conv_transpose(dy, w, s, pads, _fitting_output_padding(spec, pads), d, g, **options)
        return conv_grad_weight(x, dy, spec.kernel, s, pads, d, g, **options)
    # A transposed conv is the adjoint of the forward conv whose padding is (lo, hi - output_padding).
    forward = tuple((lo, hi - extra) for (lo, hi), extra in zip(pads, spec.output_padding))
    if spec.quantity == "grad_input":
        return conv(dy, w, s, forward, d, g, **options)
    return conv_grad_weight(dy, x, spec.kernel, s, forward, d, g, **options)


def _fitting_output_padding(spec: "ConvSpec", pads: Pads) -> tuple[int, ...]:
    """output_padding that makes the transposed conv of the output grid as long as the input again
    (the forward conv's floor division dropped up to s-1 input elements at the end)."""
    full = convert.full_transposed(spec.output_spatial, spec.kernel, spec.strides, spec.dilations)
    return tuple(n - (f - lo - hi) for n, f, (lo, hi) in zip(spec.spatial, full, pads))


def conv(x: np.ndarray, w: np.ndarray, strides: Sequence[int], pads: Pads, dilations: Sequence[int],
         groups: int = 1, *, exact: bool = False, scaled: bool = True) -> Triple:
    """Cross-correlate float64 ``x`` (N, C, *S) with ``w`` (O, C/groups, *k); negative pads crop.

    Returns (value, low, scale): ``low`` is None unless ``exact``, when value + low is the double-double
    result; ``scale`` is |x| conv |w|, computed from the same gathered windows (None unless ``scaled``).
    """
    xp = convert.pad_array(x, pads)
    view = windows(xp, w.shape[2:], strides, dilations)  # (N, C, *out, *k), no copy
    batch, _, *out = view.shape[: 2 + len(pads)]
    out_channels = w.shape[0]
    # (g, O/g, C/g * kvol) weights times (g, C/g * kvol, N * prod(out)) window columns.
    weights = w.reshape(groups, out_channels // groups, -1)
    magnitudes = np.abs(weights)
    value = np.empty((batch, out_channels, *out))
    scale = np.empty_like(value) if scaled else None
    low = np.empty_like(value) if exact else None
    for index in _chunks(view.shape, x.itemsize):
        columns = im2col(view[index[0], :, index[1]], groups)  # index slices (batch, first output axis)
        hi, lo = eft.contract(weights, columns.transpose(0, 2, 1)) if exact else (weights @ columns, None)
        target = (index[0], slice(None), index[1])
        value[target] = columns_to_output(hi, value[target].shape)
        if low is not None:
            low[target] = columns_to_output(lo, low[target].shape)
        if scale is not None:
            absolute = np.abs(columns, out=columns) if columns.flags.writeable else np.abs(columns)  # may view xp
            scale[target] = columns_to_output(magnitudes @ absolute, scale[target].shape)
    return value, low, scale


def conv_transpose(x: np.ndarray, w: np.ndarray, strides: Sequence[int], crops: Pads,
                   output_padding: Sequence[int], dilations: Sequence[int], groups: int = 1, *,
                   exact: bool = False, scaled: bool = True) -> Triple:
    """Transposed conv of float64 ``x`` (N, C_in, *S) with ``w`` (C_in, C_out/groups, *k), PyTorch/ONNX
    semantics: ``crops`` (PyTorch's ``padding``) removes (lo, hi) from the full output, ``output_padding``
    adds back at the end. Computed as the forward conv of the stride-dilated input with the flipped,
    in/out-swapped kernel; returns (value, low, scale) like :func:`conv`."""
    pads = convert.transposed_pads(w.shape[2:], dilations, crops, output_padding)
    return conv(convert.dilate_spatial(x, strides), convert.transposed_kernel_to_forward(w, groups),
                (1,) * len(strides), pads, dilations, groups, exact=exact, scaled=scaled)


def conv_grad_weight(x: np.ndarray, dy: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                     pads: Pads, dilations: Sequence[int], groups: int = 1, *, exact: bool = False,
                     scaled: bool = True) -> Triple:
    """d<conv(x, w), dy>/dw: each weight is the sum over batch and output grid of its window value times
    the cotangent, i.e. ``dy @ columns^T`` per group. Returns (value, low, scale) shaped (O, C/groups, *k)."""
    view = windows(convert.pad_array(x, pads), kernel, strides, dilations)
    out_channels, channels = dy.shape[1], x.shape[1]
    total: tuple[np.ndarray, np.ndarray] | None = None
    scale = np.zeros((groups, out_channels // groups, channels // groups * math.prod(kernel))) if scaled else None
    for n, o in _chunks(view.shape, x.itemsize):
        columns = im2col(view[n, :, o], groups)
        cotangent = output_to_columns(dy[n, :, o], groups)
        if exact:
            part = eft.contract(cotangent, columns)
            total = part if total is None else eft.add(total, part)
        else:
            part = cotangent @ columns.transpose(0, 2, 1)
            total = (part, None) if total is None else (total[0] + part, None)
        if scale is not None:
            scale += np.abs(cotangent) @ np.abs(columns).transpose(0, 2, 1)
    shape = (out_channels, channels // groups, *kernel)
    low = None if total[1] is None else total[1].reshape(shape)
    return total[0].reshape(shape), low, None if scale is None else scale.reshape(shape)


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
    """(N, C, *out, *k) windows -> (g, C/g * kvol, N * prod(out)) columns (one copy).

    Output positions innermost: with stride 1 the copy moves contiguous runs of the input.
    """
    batch, channels = view.shape[:2]
    rank = (view.ndim - 2) // 2
    grouped = view.reshape(batch, groups, channels // groups, *view.shape[2:])
    order = (1, 2, *range(3 + rank, 3 + 2 * rank), 0, *range(3, 3 + rank))
    return grouped.transpose(order).reshape(groups, channels // groups * math.prod(view.shape[2 + rank:]), -1)


def output_to_columns(y: np.ndarray, groups: int) -> np.ndarray:
    """(N, O, *out) -> (g, O/g, N * prod(out)), the inverse of :func:`columns_to_output`."""
    batch, channels, *out = y.shape
    grouped = y.reshape(batch, groups, channels // groups, *out)
    return grouped.transpose(1, 2, 0, *range(3, 3 + len(out))).reshape(groups, channels // groups, -1)


def columns_to_output(result: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(g, O/g, N * prod(out)) -> (N, O, *out)."""
    groups, per_group, _ = result.shape
    batch, _, *out = shape
    return result.reshape(groups, per_group, batch, *out).transpose(
        2, 0, 1, *range(3, 3 + len(out))).reshape(shape)

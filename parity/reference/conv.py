"""The exact reference: rank-generic convolution in numpy only (pad, dilate, window, contract).

Each output element is a dot product of an input window with a kernel; windows are gathered with a strided
view, gathered into columns (im2col) and contracted with one BLAS matmul per group, in chunks that bound
the memory used (a case whose windows fit one chunk takes one pass without chunk bookkeeping).
Transposed convolution is the forward conv of the stride-dilated input with the flipped, in/out-swapped
kernel (a large strided one: one forward conv of the input per output phase, :mod:`parity.reference.phases`);
the gradients (vector-Jacobian products) are built from the same three primitives.
Inputs of 16- and 32-bit cases are exact in float64 and their products are exact too, so float64
accumulation errs by at most n * 2**-53 relative, far below their own bounds. Float64 cases take the
error-free path of :mod:`parity.reference.eft`: the padded input is cut into slices before it is gathered (one
exponent per image for a conv, per channel for a weight gradient, so that every sum shares a quantum),
the dense slices are gathered (a conv's sparse tails are not: their nonzeros are found from the input's),
and the slice products are summed exactly. The error-bound scale |x| conv |w|
comes from :mod:`parity.reference.magnitudes` (float32 where that is provably an upper bound).

This module must import nothing but numpy (tests block torch and tensorflow while importing it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Final, Sequence

import numpy as np

from parity.core import convert, geometry
from parity.reference import eft
from parity.reference import gather, phases, taps
from parity.reference.quantities import as_forward, plan
from parity.reference.repeats import Repeats
from parity.reference.gather import CHUNK_BYTES, Pads, Triple, Window, columns_to_output, im2col, output_to_columns
from parity.reference.magnitudes import Magnitudes, is_integer, magnitudes

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

__all__ = ["CHUNK_BYTES", "Reference", "compute", "conv", "conv_grad_weight", "conv_transpose", "reference"]

_SLICES: Final = 4  # slices a float64 weight gradient is chunked for (more: smaller chunks)
# Products of the stride-dilated conv (inputs x stride volume x kernel) from which a transposed conv goes by
# phases: the 12 default-tier cases above took 0.13 s instead of 0.22 s; below, the extra calls cost more
# than the skipped zeros (1.4x to 2.3x slower per size decade).
PHASED: Final = 10 ** 7


@dataclass(frozen=True)
class Reference:
    """The exact result of a case, in canonical layout.

    ``value`` is the exact result rounded to float64; ``low`` (float64 cases only) is what rounding left out,
    so ``value + low`` is exact to about 2**-100 relative. ``scale`` is |x| conv |w| (exact for integer
    inputs, else at most 0.1 % above it: see :mod:`parity.reference.magnitudes`), the per-element scale of the
    floating-point error bound, and ``accumulation_length`` the n of that bound. ``integer_inputs``
    says every input is an integer: then an element whose scale the dtype holds exactly is computed
    without any rounding, in every summation order. ``taps`` is the kernel volume: a backend that sums
    channels per kernel tap and adds the taps in a shorter type (col2im) rounds over that many terms.
    ``repeats(mask)`` counts the repeated products of the sums at ``mask`` (:mod:`parity.reference.repeats`).
    """

    value: np.ndarray
    low: np.ndarray | None
    scale: np.ndarray
    accumulation_length: int
    integer_inputs: bool = False
    taps: int = 1
    repeats: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)


def reference(spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> Reference:
    """The reference for ``spec`` on inputs of the case's dtype: ``x`` (N, C, *S), the kernel ``w`` and,
    for gradients, the cotangent ``dy`` (shaped like the output)."""
    operands = [np.asarray(a, np.float64) for a in (x, w, dy) if a is not None]
    value, low, scale = compute(spec, *operands, exact=spec.dtype == "float64")
    integers = all(is_integer(a) for a in operands)
    return Reference(value, low, scale, spec.accumulation_length, integers, math.prod(spec.kernel),
                     Repeats(spec, x, w, dy))


def compute(spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None, *,
            exact: bool = False, pads: Pads | None = None, scaled: bool = True, rows: int | None = None) -> Triple:
    """(value, low, scale) of the spec's quantity, computed in the operands' dtype (float64 for the
    reference; the numpy backend passes the case's dtype). ``pads`` replaces ``spec.pads`` (pads that keep
    the padded length, such as a shift by one, keep every shape); ``scaled=False`` skips the scale (None);
    ``rows`` keeps only the first ``rows`` positions of the first output spatial axis (not for weight
    gradients, whose every element sums over all positions)."""
    name, args = plan(spec, x, w, dy, pads)
    if name == "grad_weight":
        if rows is not None:
            raise ValueError("rows: a weight gradient sums over every output position; it has no first rows")
        return conv_grad_weight(*args, exact=exact, scaled=scaled)
    return (conv_transpose if name == "conv_transpose" else conv)(*args, exact=exact, scaled=scaled, rows=rows)


def conv(x: np.ndarray, w: np.ndarray, strides: Sequence[int], pads: Pads, dilations: Sequence[int],
         groups: int = 1, *, exact: bool = False, scaled: bool = True, rows: int | None = None) -> Triple:
    """Cross-correlate float64 ``x`` (N, C, *S) with ``w`` (O, C/groups, *k); negative pads crop.

    Returns (value, low, scale): ``low`` is None unless ``exact``, when value + low is the double-double
    result; ``scale`` bounds |x| conv |w| (None unless ``scaled``). ``rows`` keeps the first ``rows``
    positions of the first output spatial axis (the others are not computed).
    """
    if not exact and taps.applies(x, w, strides, pads, dilations, groups):
        return taps.conv(x, w, pads, dilations, groups, scaled, rows)
    xp = gather.pad(x, pads)
    window = Window(w.shape[2:], strides, dilations, rows)
    view = window(xp)  # (N, C, *out, *k), no copy
    weights = w.reshape(groups, w.shape[0] // groups, -1)
    need = magnitudes(xp, weights, weights.shape[-1], view.size) if scaled else None
    if exact:
        absolute = None if need is None else window(np.abs(xp) if need.x is None else need.x)
        return _finish(_exact_conv(xp, weights, window, need, absolute), need)
    absolute = None if need is None or need.x is None else window(need.x)

    def chunk(n: slice, o: slice) -> Triple:
        columns = im2col(view[n, :, o], groups)
        shape = gather.output_shape(view[n, :, o], w.shape[0])
        value = columns_to_output(weights @ columns, shape)
        if need is None:
            return value, None, None
        return value, None, columns_to_output(need.w @ _absolute(columns, absolute, n, o, groups), shape)

    return _finish(gather.by_chunks(view.shape, w.shape[0], x.itemsize, chunk), need)


def conv_transpose(x: np.ndarray, w: np.ndarray, strides: Sequence[int], crops: Pads,
                   output_padding: Sequence[int], dilations: Sequence[int], groups: int = 1, *,
                   exact: bool = False, scaled: bool = True, rows: int | None = None) -> Triple:
    """Transposed conv of float64 ``x`` (N, C_in, *S) with ``w`` (C_in, C_out/groups, *k), PyTorch/ONNX
    semantics: ``crops`` (PyTorch's ``padding``) removes (lo, hi) from the full output, ``output_padding``
    adds back at the end. Computed as the forward conv of the stride-dilated input with the flipped,
    in/out-swapped kernel (strided and large: one forward conv of ``x`` itself per output phase, see
    :mod:`parity.reference.phases`); returns (value, low, scale) like :func:`conv`."""
    (forward, pads), ones = as_forward(w, crops, output_padding, dilations, groups), (1,) * len(strides)
    if math.prod(strides) > 1 and x.size * math.prod(strides) * w[0].size >= PHASED:
        return _by_phases(x, forward, strides, pads, dilations, groups, exact, scaled, rows)
    return conv(convert.dilate_spatial(x, strides), forward, ones, pads, dilations, groups, exact=exact,
                scaled=scaled, rows=rows)


def _by_phases(x: np.ndarray, forward: np.ndarray, strides: Sequence[int], pads: Pads, dilations: Sequence[int],
               groups: int, exact: bool, scaled: bool, rows: int | None) -> Triple:
    """The forward conv of the stride-dilated ``x`` (padded by ``pads``), as one forward conv of ``x`` per
    output phase; a phase that no tap reaches stays zero."""
    dilated = tuple((n - 1) * s + 1 for n, s in zip(x.shape[2:], strides))
    outputs = geometry.output_lengths(dilated, forward.shape[2:], (1,) * len(strides), dilations, pads)
    outputs = outputs if rows is None else (min(rows, outputs[0]), *outputs[1:])
    shape = (x.shape[0], forward.shape[0], *outputs)
    whole = [np.zeros(shape, np.result_type(x, forward)), np.zeros(shape) if exact else None,
             np.zeros(shape) if scaled else None]
    for phase in phases.plan(x.shape[2:], outputs, forward.shape[2:], strides, dilations, [lo for lo, _ in pads]):
        kernel = forward[(slice(None), slice(None), *phase.taps)]
        part = conv(x, kernel, (1,) * len(strides), phase.pads, phase.dilations, groups, exact=exact, scaled=scaled)
        for target, values in zip(whole, part):
            if target is not None:
                target[(slice(None), slice(None), *phase.output)] = values
    return tuple(whole)


def conv_grad_weight(x: np.ndarray, dy: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
                     pads: Pads, dilations: Sequence[int], groups: int = 1, *, exact: bool = False,
                     scaled: bool = True) -> Triple:
    """d<conv(x, w), dy>/dw: each weight is the sum over batch and output grid of its window value times
    the cotangent, i.e. ``dy @ columns^T`` per group. Returns (value, low, scale) shaped (O, C/groups, *k)."""
    xp = gather.pad(x, pads)
    window = Window(kernel, strides, dilations, None)
    view = window(xp)
    need = magnitudes(xp, dy, dy.size // dy.shape[1], view.size) if scaled else None
    absolute = None  # magnitudes' own window view, where they are not the value's columns made absolute
    if need is not None and (need.x is not None or exact):
        absolute = window(np.abs(xp) if need.x is None else need.x)
    value, low = _exact_grad_weight(xp, dy, window, groups) if exact else (None, None)
    summed, scale = _plain_grad_weight(view, dy, groups, not exact, need, absolute)
    shape = (dy.shape[1], x.shape[1] // groups, *kernel)
    parts = (summed if value is None else value, low, scale)
    return _finish(tuple(None if a is None else a.reshape(shape) for a in parts), need)


def _plain_grad_weight(view: np.ndarray, dy: np.ndarray, groups: int, value: bool, need: Magnitudes | None,
                       absolute: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(sum over chunks of dy @ columns^T, the same of |dy| @ |columns|^T accumulated in float64), each
    only if asked for (``value``; ``need``), from one gather of the columns per chunk."""
    total, scale = None, None
    if not value and need is None:
        return total, scale
    for n, o in gather.chunks(view.shape, view.itemsize):
        columns = im2col(view[n, :, o], groups) if value or absolute is None else None
        if value:
            part = output_to_columns(dy[n, :, o], groups) @ columns.transpose(0, 2, 1)
            total = part if total is None else total + part
        if need is not None:
            absolute_columns = _absolute(columns, absolute, n, o, groups).transpose(0, 2, 1)
            scale = np.add(0.0 if scale is None else scale, output_to_columns(need.w[n, :, o], groups) @ absolute_columns,
                           dtype=np.float64)
    return total, scale


def _absolute(columns: np.ndarray | None, absolute: np.ndarray | None, n: slice, o: slice, groups: int) -> np.ndarray:
    """Columns of the magnitudes: gathered from ``absolute`` (their own window view), else the value's own
    ``columns`` made absolute (in place where they are a copy, not a view of the input)."""
    if absolute is not None:
        return im2col(absolute[n, :, o], groups)
    return np.abs(columns, out=columns) if columns.flags.writeable else np.abs(columns)


def _exact_grad_weight(xp: np.ndarray, dy: np.ndarray, window: Window, groups: int) -> eft.DoubleDouble:
    """The weight gradient as a double-double: the padded input sliced with one exponent per channel (so
    each gathered row shares it), the cotangent per output channel, per chunk of positions."""
    view = window(xp)
    chunks = gather.chunks(view.shape, xp.itemsize * _SLICES)
    beta = eft.width(max(dy[n, 0, o].size for n, o in chunks), eft.PAIRS)
    views = [window(piece) for piece in eft.split(xp, (0, *range(2, xp.ndim)), beta)]
    if len(views) > _SLICES:  # smaller chunks for more slices (fewer positions: beta still holds)
        chunks = gather.chunks(view.shape, xp.itemsize * len(views))
    total: eft.DoubleDouble | None = None
    for n, o in chunks:
        stack = gather.stacked(views, n, o, groups, axis=1)  # (g, slices, C/g * kvol, positions)
        cotangent = output_to_columns(dy[n, :, o], groups)
        g, count, terms, positions = stack.shape  # the slices side by side: (g, positions, slices * terms)
        columns = np.reshape(stack.transpose(0, 3, 1, 2), (g, positions, count * terms), copy=False)
        part = eft.products(eft.split(cotangent, -1, beta), columns, count, (), positions, beta)
        total = part if total is None else eft.add(total, part)
    return total


def _exact_conv(xp: np.ndarray, weights: np.ndarray, window: Window, need: Magnitudes | None,
                absolute: np.ndarray | None) -> Triple:
    """The conv as a double-double: the padded input sliced with one exponent per image, the weights
    with one per output channel; each chunk gathers every dense slice once and sums the slice products.
    The slices after the last whose nonzeros reach half of the windows (the last bits of the few smallest
    inputs) are sparse: they are not gathered, eft.products adds their products at their nonzeros."""
    groups, terms = weights.shape[0], weights.shape[-1]
    beta = eft.width(terms, eft.PAIRS)
    pieces = eft.split(xp, tuple(range(1, xp.ndim)), beta)
    kvol, positions = math.prod(window.kernel), window(xp)[:, 0].size // math.prod(window.kernel)
    dense = eft.dense_prefix([kvol * np.count_nonzero(piece) for piece in pieces], positions)
    views = [window(piece) for piece in pieces[:dense]]
    sparse = [gather.WindowNonzeros(piece, window, groups) for piece in pieces[dense:] if piece.any()]
    rows = eft.split(weights, -1, beta)
    out_channels = weights.shape[0] * weights.shape[1]
    scratch = gather.Scratch()

    def chunk(n: slice, o: slice) -> Triple:
        stack = gather.stacked(views, n, o, groups, 2, scratch)  # (g, C/g * kvol, slices, positions)
        shape = gather.output_shape(views[0][n, :, o], out_channels)
        tails = [eft.Sparse(*nonzeros.chunk(n, o)) for nonzeros in sparse]
        hi, lo = eft.products(rows, stack.reshape(groups, terms, -1), dense, tails, terms, beta)
        if need is None:
            return columns_to_output(hi, shape), columns_to_output(lo, shape), None
        magnitude = scratch("absolute", (*stack.shape[:2], stack.shape[3]), absolute.dtype)
        scale = columns_to_output(need.w @ im2col(absolute[n, :, o], groups, magnitude), shape)
        return columns_to_output(hi, shape), columns_to_output(lo, shape), scale

    return gather.by_chunks(views[0].shape, out_channels, xp.itemsize * len(views), chunk)


def _finish(result: Triple, need: Magnitudes | None) -> Triple:
    """The scale as float64, multiplied by the factor that makes it an upper bound (see parity.reference.magnitudes)."""
    value, low, scale = result
    if need is not None and (need.factor != 1.0 or scale.dtype != np.float64):
        scale = np.multiply(scale, need.factor, dtype=np.float64)
    return value, low, scale

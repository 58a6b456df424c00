"""Stride-1 convolution as one GEMM per kernel tap, without an im2col copy.

The padded input is stored channel-major, ``(C, N * prod(P))``: column ``q`` holds every channel at one
position of the padded grid (image by image). The input under kernel tap ``j`` for the output at column
``q`` is column ``q + offset(j)``, ``offset(j) = sum_i j_i * d_i * prod(P[i+1:])``, so each tap reads one
block of columns, which BLAS takes in place, and the conv at every grid position is the sum over taps of
``w[:, :, j] @ columns[:, q + offset(j)]``. The positions whose window leaves the grid (the last
``(k_i - 1) d_i`` along each axis, where a window would run into the next image) are computed and dropped,
``prod(P) / prod(out)`` of the work, which :func:`applies` keeps small. Positions are taken in blocks of a
few thousand, so that each tap's partial sums stay in cache while they are added.

The float32 magnitude GEMM of :mod:`parity.reference.magnitudes` runs the same way: each term of the scale
still passes through at most n roundings (its product, then additions within a tap and across taps), which
is all its proof counts. Float64 data only: other dtypes would round the partial sums between taps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from typing import Final, Sequence

import numpy as np

from parity.core import geometry
from parity.reference import gather
from parity.reference.gather import CHUNK_BYTES, Pads, Triple
from parity.reference.magnitudes import magnitudes

# When the taps beat im2col, as measured with `parity bench`-style timings on 2 cores: once the gathered
# windows pass one chunk (below that they stay in cache and one long GEMM wins), with at least 8 channels
# per group (each tap's GEMM sums over them) and a padded grid not much larger than the output.
MIN_GATHERED_BYTES: Final = CHUNK_BYTES
MIN_PER_GROUP: Final = 8
_MAX_WASTE: Final = 2.0  # padded-grid positions per output position
_MAX_CALLS: Final = 64  # taps x groups: GEMM calls per block of positions
_BLOCK_BYTES: Final = 1 << 21  # one block of the input columns or of the partial sums


def applies(x: np.ndarray, w: np.ndarray, strides: Sequence[int], pads: Pads, dilations: Sequence[int],
            groups: int) -> bool:
    """Whether the tap GEMMs suit the conv of float64 ``x`` (N, C, *S) with ``w`` (O, C/g, *k)."""
    padded = [n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)]
    out = _output(padded, w.shape[2:], dilations)
    if x.dtype != np.float64 or any(s != 1 for s in strides) or min(out) < 1:
        return False
    taps = math.prod(w.shape[2:])
    gathered = x.shape[0] * x.shape[1] * taps * math.prod(out) * x.itemsize
    return (taps * groups <= _MAX_CALLS and w.shape[1] >= MIN_PER_GROUP and gathered >= MIN_GATHERED_BYTES
            and math.prod(padded) <= _MAX_WASTE * math.prod(out))


@dataclass(frozen=True)
class _Grid:
    """A stride-1 conv laid out for the tap GEMMs: the padded input as channel-major ``columns``
    (C, N * prod(P)) on the ``padded`` grid P (``grid`` is the same array shaped (C, N, *P)), each kernel tap's
    column ``offsets``, the ``out`` lengths and the (N, O, *out) ``shape`` of the result."""

    grid: np.ndarray
    padded: tuple[int, ...]
    offsets: list[int]
    out: tuple[int, ...]
    shape: tuple[int, ...]

    @property
    def columns(self) -> np.ndarray:
        return self.grid.reshape(self.grid.shape[0], -1)

    def crop(self, total: np.ndarray, factor: float = 1.0) -> np.ndarray:
        """(O, N * prod(P)) on the padded grid -> the (N, O, *out) outputs times ``factor``, C-contiguous
        float64 (the magnitudes' factor is a float64 product, see parity.reference.magnitudes)."""
        grid = total.reshape(self.shape[1], self.shape[0], *self.padded)
        outputs = grid[(slice(None), slice(None), *map(slice, self.out))].swapaxes(0, 1)
        if factor == 1.0:
            return np.asarray(outputs, np.float64, order="C")
        return np.multiply(outputs, factor, out=np.empty(self.shape), dtype=np.float64)


def _layout(x: np.ndarray, w: np.ndarray, pads: Pads, dilations: Sequence[int], rows: int | None) -> _Grid:
    """The conv of ``x`` (N, C, *S) with ``w`` (O, C/g, *k) on its padded grid; ``rows`` keeps the first
    ``rows`` positions of the first output axis."""
    kernel = w.shape[2:]
    if rows is not None:  # the first rows outputs read the first rows + span - 1 inputs of the first axis
        (lo, hi), n = pads[0], x.shape[2]
        pads = ((lo, min(hi, rows + geometry.span(kernel[0], dilations[0]) - 1 - lo - n)), *pads[1:])
    grid = _channel_major(x, pads)
    padded = grid.shape[2:]
    steps = [math.prod(padded[i + 1:]) for i in range(len(padded))]
    offsets = [sum(j * d * s for j, d, s in zip(tap, dilations, steps)) for tap in product(*map(range, kernel))]
    out = _output(padded, kernel, dilations)
    return _Grid(grid, padded, offsets, out, (x.shape[0], w.shape[0], *out))


def _tap_weights(w: np.ndarray) -> np.ndarray:
    """(O, C/g, *k) -> (taps, O, C/g): the weights each tap's GEMM takes."""
    return np.moveaxis(w.reshape(*w.shape[:2], -1), -1, 0).copy()


def conv(x: np.ndarray, w: np.ndarray, pads: Pads, dilations: Sequence[int], groups: int, scaled: bool,
         rows: int | None) -> Triple:
    """(value, None, scale) of the stride-1 cross-correlation of ``x`` with ``w``, shaped (N, O, *out), as
    :func:`parity.reference.conv.conv` returns it (``rows`` keeps the first ``rows`` positions of the first
    output axis; the scale is None unless ``scaled``)."""
    at = _layout(x, w, pads, dilations, rows)
    weights = _tap_weights(w)
    value = at.crop(_sum_taps(at.columns, weights, at.offsets, groups))
    return value, None, _scale(at, weights, groups) if scaled else None


def _scale(at: _Grid, weights: np.ndarray, groups: int) -> np.ndarray:
    """|x| conv |w| as an upper bound (see parity.reference.magnitudes), shaped (N, O, *out)."""
    terms = weights.shape[2] * len(at.offsets)
    need = magnitudes(at.columns, weights, terms, terms * groups * at.shape[0] * math.prod(at.out))
    absolute = np.abs(at.columns) if need.x is None else need.x
    return at.crop(_sum_taps(absolute, need.w, at.offsets, groups), need.factor)


def _channel_major(x: np.ndarray, pads: Pads) -> np.ndarray:
    """The padded input as (C, N, *P): padding the swapped view writes it channel-major in one pass."""
    return np.ascontiguousarray(gather.pad(x.swapaxes(0, 1), pads))


def _sum_taps(columns: np.ndarray, weights: np.ndarray, offsets: list[int], groups: int) -> np.ndarray:
    """(O, columns): sum over taps of ``weights[tap] @ columns[:, q + offset]`` per group, at every column q
    whose last tap stays within ``columns`` (the rest left unset)."""
    taps, out_channels, per_group = weights.shape
    total = np.empty((out_channels, columns.shape[1]), columns.dtype)
    last = columns.shape[1] - offsets[-1]
    block = max(256, _BLOCK_BYTES // (columns.itemsize * max(columns.shape[0], out_channels)))
    part = np.empty((out_channels // groups, block), columns.dtype)
    for start in range(0, last, block):
        stop = min(last, start + block)
        for g in range(groups):
            mine = slice(g * per_group, (g + 1) * per_group)
            outputs = slice(g * part.shape[0], (g + 1) * part.shape[0])
            into, partial = total[outputs, start:stop], part[:, :stop - start]
            np.matmul(weights[0, outputs], columns[mine, start + offsets[0]:stop + offsets[0]], out=into)
            for tap in range(1, taps):
                np.matmul(weights[tap, outputs], columns[mine, start + offsets[tap]:stop + offsets[tap]], out=partial)
                into += partial
    return total


def _output(padded: Sequence[int], kernel: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    return geometry.output_lengths(padded, kernel, (1,) * len(padded), dilations)

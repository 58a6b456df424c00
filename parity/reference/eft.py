"""Error-free transformations: exact float64 matrix products for the reference (Ozaki splitting).

**Slices.** :func:`split` cuts an array into slices ``a = a_0 + a_1 + ...`` sharing one exponent per index
of the axes that are not summed over (a "row"): with ``2**f`` above the row's largest magnitude, slice t
is an integer multiple of ``D_t = 2**(f + 1 - (t + 1) * beta)`` whose integer ``m`` has ``|m| <= 2**(beta-1)``,
and what is left after it is at most ``D_t / 2`` (round to nearest). Extraction is error-free: with
``sigma = 1.5 * 2**52 * D_t``, ``sigma + p`` stays in the binade ``[2**52 D_t, 2**53 D_t)`` whose spacing is
``D_t`` whenever ``|p| <= 2**(beta-1) D_t <= 2**51 D_t``, so ``fl(sigma + p) - sigma`` is ``p`` rounded to a
multiple of ``D_t`` (the subtraction is exact by Sterbenz's lemma) and ``p`` minus it is exact too.

**Exactness condition.** A row slice t times a column slice v is ``m * m' * D_t * D'_v`` with
``|m * m'| <= 2**(2*beta - 2)``: exact in float64. All products of one level ``d = t + v`` share one
quantum ``Q = D_t * D'_v`` (each further slice is 2**beta finer), so a sum over ``n`` terms of ``pairs``
such products per term is an integer multiple of Q, at most ``pairs * n * 2**(2*beta - 2)`` times Q, and
so is every partial sum, in any order, blocking or use of FMA. If

    pairs * n * 2**(2*beta - 2) <= 2**53                                          (*)

every partial sum is representable: BLAS computes each pair's sum exactly, and float64 adds up to
``pairs`` of one level's pair sums exactly. :func:`width` is the largest beta meeting (*).
:func:`products` computes every pair of dense slices in one BLAS call, adds each level's pairs in float64
and the levels in double-double (Knuth's TwoSum per level, the rounding errors summed in float64), so
``hi + lo`` errs by about ``levels * 2**-105`` of the sum of the levels' magnitudes, far below 2**-60 of
sum|a_k b_k|.

Range: products of slices must not underflow (``D_t D'_v >= 2**-1074``); below that the result is
accurate to a few multiples of 2**-1074 absolute, not relative. Inputs must be below 2**960 in magnitude
(``sigma`` stays finite).
"""
from __future__ import annotations

import math
from typing import Final, NamedTuple, Sequence

import numpy as np

PAIRS: Final = 3  # slice pairs per level that the width leaves room for: a 3 x 3 block's levels
_MAX_SLICES: Final = 2200 // 16  # 16 bits or more per slice cover float64's whole range (2**-1074 .. 2**1024)
DoubleDouble = tuple[np.ndarray, np.ndarray]


def width(n: int, pairs: int = 1) -> int:
    """The largest slice width beta meeting (*): ``pairs * n * 2**(2*beta - 2) <= 2**53``."""
    beta = (55 - math.ceil(math.log2(max(1, n * pairs)))) // 2
    while pairs * n * 2 ** (2 * beta - 2) > 2 ** 53:  # ceil(log2) is exact; this guards the float log
        beta -= 1
    return beta


def split(a: np.ndarray, axes: int | Sequence[int], beta: int) -> list[np.ndarray]:
    """Slices of ``a`` (see the module docstring) with one exponent per index of the axes other than
    ``axes`` (the summed ones); as many as it takes to leave nothing, so ``sum(slices) == a`` exactly."""
    largest = np.max(np.abs(a), axis=axes, keepdims=True)
    if not np.isfinite(largest).all():  # NaN or Inf: no exact product to compute
        return [a]
    sigma = np.ldexp(1.5, np.frexp(largest)[1] + 53 - beta)  # largest < 2**f; sigma = 1.5 * 2**52 * D_0
    slices, rest = [], a
    for _ in range(_MAX_SLICES):
        piece = rest + sigma
        piece -= sigma
        slices.append(piece)
        rest = rest - piece if rest is a else np.subtract(rest, piece, out=rest)
        if not rest.any():
            break
        sigma = np.ldexp(sigma, -beta)
    return slices


def dense_prefix(nonzeros: Sequence[int], columns: int) -> int:
    """How many slices, from the first, are dense: up to the last one whose ``nonzeros`` (nonzero elements
    of its gathered columns) reach half the ``columns``. A prefix, because a dense slice's place is its level;
    the slices after it are sparse tails (a dense slice after an empty one stays dense)."""
    return 1 + max((i for i, count in enumerate(nonzeros) if 2 * count >= columns), default=0)


class Sparse(NamedTuple):
    """A sparse column slice (g, n, N) by its nonzeros: each one's group, term (row), column and value."""

    group: np.ndarray
    term: np.ndarray
    column: np.ndarray
    value: np.ndarray

    @classmethod
    def of(cls, a: np.ndarray) -> "Sparse":
        index = np.nonzero(a)
        return cls(*index, a[index])


def products(rows: Sequence[np.ndarray], columns: np.ndarray, count: int, tails: Sequence[Sparse], n: int,
             beta: int) -> DoubleDouble:
    """``sum over t, v of rows[t] @ column slice v`` as a double-double (hi, lo), exact up to the final
    rounding of lo (see the module docstring), for slices cut with width ``beta`` over ``n`` terms.

    ``rows`` are (g, M, n) slices with one exponent per row. The column slices, (g, n, N) with one exponent
    per column, are the ``count`` dense ones side by side in ``columns`` (g, n, count * N), then the sparse
    ``tails``. The pairs of dense slices take one BLAS call; a row slice with fewer than half its rows
    nonzero is contracted only on its nonzero rows and terms, and a tail only at its nonzeros.
    """
    dense = next((t for t in range(1, len(rows)) if 2 * _nonzero(rows[t], (0, 2)).size < rows[t].shape[1]),
                 len(rows))
    total = _levels(rows[:dense], columns, count, max(1, 2 ** (55 - 2 * beta) // n))
    size = columns.shape[-1] // count
    for row in rows[dense:]:
        kept, terms = _nonzero(row, (0, 2)), _nonzero(row, (0, 1))
        if kept.size:
            part = row[:, kept][:, :, terms] @ columns[:, terms]
            for v in range(count):  # each pair is a level of its own
                total = _accumulate(total, part[..., v * size:(v + 1) * size], kept)
    for tail in tails:
        total = _scatter(total, rows, tail)
    return renormalize(*total)


def _scatter(total: DoubleDouble, rows: Sequence[np.ndarray], tail: Sparse) -> DoubleDouble:
    """(hi, lo) + ``row @ tail`` for each row slice, where the tail has nonzeros: the exact products of each
    nonzero with its term's column of the row, summed per output column (one quantum, at most n terms:
    exact by (*) in any order) and added with TwoSum, one row slice (one level) at a time. Flat indices
    (M, nonzeros), one lane per row, keep every step one pass; they are the same for every row slice."""
    if not tail.value.size:
        return total
    hi, lo = (np.ascontiguousarray(a) for a in total)  # the flat views below must write into them
    g, m, columns = hi.shape
    key = tail.group * columns + tail.column
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    lanes = np.arange(m)[:, None]
    n = rows[0].shape[-1]
    taken, values = (tail.group[order] * (m * n) + tail.term[order]) + lanes * n, tail.value[order]
    group, column = np.divmod(key[starts], columns)
    where = (group * (m * columns) + column) + lanes * columns
    flat_hi, flat_lo = hi.reshape(-1), lo.reshape(-1)
    for row in rows:
        s, error = two_sum(np.take(flat_hi, where), np.add.reduceat(np.take(row, taken) * values, starts, axis=1))
        flat_hi[where] = s
        flat_lo[where] += error
    return hi, lo


def _levels(rows: Sequence[np.ndarray], columns: np.ndarray, count: int, per_level: int) -> DoubleDouble:
    """The dense pairs: every product in one BLAS call (row slices stacked over rows, column slices side by
    side), then each level's pairs, which share one quantum, added in float64 (exact by (*) for up to
    ``per_level`` of them), and the level sums added in double-double."""
    m, size = rows[0].shape[1], columns.shape[-1] // count
    pairs = (np.concatenate(rows, axis=1) if len(rows) > 1 else rows[0]) @ columns
    total: DoubleDouble | None = None
    for level in range(len(rows) + count - 1):
        members = [(level - v, v) for v in range(max(0, level - len(rows) + 1), min(level, count - 1) + 1)]
        for first in range(0, len(members), per_level):
            blocks = [pairs[:, t * m:(t + 1) * m, v * size:(v + 1) * size] for t, v in members[first:first + per_level]]
            part = np.add(blocks[0], blocks[1]) if len(blocks) > 1 else blocks[0].copy()
            for block in blocks[2:]:
                part += block
            total = (part, np.zeros_like(part)) if total is None else _accumulate(total, part)
    return total


def _nonzero(a: np.ndarray, axes: tuple[int, int]) -> np.ndarray:
    """Indices along the remaining axis of ``a`` (3-D) where any element is nonzero."""
    return np.flatnonzero(a.any(axis=axes))


def contract(a: np.ndarray, b: np.ndarray) -> DoubleDouble:
    """``a @ b`` per group ((g, M, n) and (g, n, N) -> (g, M, N)) as an exact double-double (hi, lo)."""
    n = a.shape[-1]
    beta = width(n, PAIRS)
    columns = split(b, -2, beta)
    dense = dense_prefix([np.count_nonzero(c) for c in columns], b.shape[-1])
    side_by_side = np.concatenate(columns[:dense], axis=-1)
    tails = [Sparse.of(c) for c in columns[dense:]]
    return products(split(a, -1, beta), side_by_side, dense, tails, n, beta)


def _accumulate(total: DoubleDouble, part: np.ndarray, rows: np.ndarray | None = None) -> DoubleDouble:
    """(hi, lo) + part: hi takes TwoSum's sum, lo its error; ``part`` may cover only the given rows (axis 1).
    Over all rows, ``hi`` and ``part`` are overwritten: TwoSum's steps run in place, in the same order as
    :func:`two_sum`."""
    hi, lo = total
    if rows is not None:
        hi[:, rows], error = two_sum(hi[:, rows], part)
        lo[:, rows] += error
        return hi, lo
    s = hi + part
    bb = s - hi
    np.subtract(part, bb, out=part)  # b - bb
    np.subtract(s, bb, out=bb)  # s - bb
    np.subtract(hi, bb, out=hi)  # a - (s - bb)
    hi += part
    lo += hi
    return s, lo


def two_sum(a: np.ndarray, b: np.ndarray) -> DoubleDouble:
    """Knuth's TwoSum: a + b = s + e exactly."""
    s = a + b
    bb = s - a
    e = s - bb
    np.subtract(a, e, out=e)
    np.subtract(b, bb, out=bb)
    e += bb
    return s, e


def add(x: DoubleDouble, y: DoubleDouble) -> DoubleDouble:
    """Sum of two double-double numbers."""
    hi, error = two_sum(x[0], y[0])
    return renormalize(hi, x[1] + y[1] + error)


def renormalize(hi: np.ndarray, lo: np.ndarray) -> DoubleDouble:
    """(hi, lo) with hi = fl(hi + lo)."""
    value = hi + lo
    return value, lo - (value - hi)

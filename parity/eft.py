"""Error-free transformations: exact float64 matrix products for the reference (Ozaki splitting).

Each operand is cut into slices of ``beta`` bits sharing one exponent per row; products of slices and
their sums over n terms are exact in float64 when n * 2**(2*beta) <= 2**53, whatever order BLAS sums
in. The slice products are then summed in double-double, so ``hi + lo`` errs by about 2**-70 of the
largest product sum, some 2**-18 of a float64 ULP.
"""
from __future__ import annotations

import math
from typing import Final

import numpy as np

_MAX_SLICES: Final = 6


def contract(rows: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rows @ weights^T`` per group ((g, M, K) and (g, O, K) -> (g, M, O)) as a double-double (hi, lo)."""
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
            hi, error = two_sum(hi, row_slices[i] @ weight_slices[total - i])
            lo += error
    return renormalize(hi, lo)


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


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's TwoSum: a + b = s + e exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def add(x: tuple[np.ndarray, np.ndarray], y: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sum of two double-double numbers."""
    hi, error = two_sum(x[0], y[0])
    return renormalize(hi, x[1] + y[1] + error)


def renormalize(hi: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) with hi = fl(hi + lo)."""
    value = hi + lo
    return value, lo - (value - hi)

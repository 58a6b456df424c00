"""The error-bound scale |x| conv |w| of the reference, in float32 where that is provably an upper bound.

The scale only sets the size of the error bound, so a few correct bits suffice, but it must never fall
below the true value (a smaller bound would fail correct results) and for integer inputs it must be exact
(the comparator zeroes the accumulation term where the scale is at most 2**p). :func:`magnitudes` returns
|x| and |w| in the type their GEMM runs in and the factor its result is multiplied by.

**float32 with a rounding-up factor.** Let ``a_k, b_k >= 0`` be the magnitudes and ``S = sum_k a_k b_k``
over ``n`` terms. Both operands are first scaled by powers of two, ``2**-ea`` and ``2**-eb``, so that their
largest values lie in [1/2, 1) (exact in float64), and rounded to float32: ``a'_k = 2**-ea a_k (1 + d)``
with ``|d| <= u = 2**-24`` as long as no scaled value is subnormal in float32. If moreover every nonzero
product of scaled values is at least 2**-126 (checked from the smallest nonzero magnitudes), no operation
of the float32 dot product underflows, so each of its at most n roundings (the product, then the additions
on a term's way to the result, in any order and with or without FMA) multiplies by some ``1 + d`` with
``d >= -u``. All terms are non-negative, hence the float32 result ``s`` satisfies

    s >= (1 - u)**(n + 2) * 2**-(ea + eb) * S,

the two extra factors being the roundings of a_k and b_k to float32. The result is multiplied in float64 by
``c = 2**(ea + eb) * (1 - u)**-(n + 3)``: the extra ``(1 - u)**-1 = 1 + 2**-24 + ...`` covers the float64
roundings of computing c, of the product, and of adding chunk results (each at most 2**-53 relative, fewer
than 2**28 of them), so ``c * s >= S``. The bound is then at most ``(1 + u)**(n + 2) / (1 - u)**(n + 3)``
above the true scale: for n <= :data:`FLOAT32_TERMS` = 2**13, less than 0.1 %.

**float64** otherwise (short sums, where float32 saves nothing; long ones; inputs whose range float32
cannot hold; integer inputs whose sums pass 2**24): the product of float64 magnitudes errs by at most
``n * 2**-53`` relative, and is exact for integer inputs (every partial sum is an integer below 2**53).
Integer inputs whose every sum stays at or below 2**24 are exact in float32 and need no factor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

FLOAT32_TERMS: Final = 1 << 13  # longest sum whose scale is computed in float32
FLOAT32_WORK: Final = 1 << 18  # gathered elements (terms x outputs per channel) below which float64 is used
_U32: Final = 2.0 ** -24
_NORMAL32: Final = -126  # exponent of float32's smallest normal
_SAMPLE: Final = 64
_GOLDEN: Final = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class Magnitudes:
    """|x| and |w| in the type of their GEMM (``x`` None: float64, |x| taken from the value's own gathered
    columns) and the factor that turns the GEMM's result into an upper bound of |x| conv |w|."""

    x: np.ndarray | None
    w: np.ndarray
    factor: float


def magnitudes(x: np.ndarray, w: np.ndarray, terms: int, work: int) -> Magnitudes:
    """How to compute the scale of a contraction of ``x`` with ``w`` over ``terms`` terms whose gathered
    operand has ``work`` elements (see the module docstring)."""
    if terms > FLOAT32_TERMS or work < FLOAT32_WORK or x.dtype != np.float64:
        return Magnitudes(None, np.abs(w), 1.0)
    aw = np.abs(w)
    return _float32_plan(np.abs(x), aw, terms) or Magnitudes(None, aw, 1.0)


def _float32_plan(ax: np.ndarray, aw: np.ndarray, terms: int) -> Magnitudes | None:
    top = float(ax.max(initial=0.0)), float(aw.max(initial=0.0))
    if min(top) == 0.0 or not math.isfinite(top[0] + top[1]):  # all zeros, or NaN/Inf: float64 as before
        return None
    if is_integer(ax) and is_integer(aw):
        if top[0] * top[1] * terms > 2.0 ** 24:
            return None
        return Magnitudes(ax.astype(np.float32), aw.astype(np.float32), 1.0)
    ea, eb = (math.frexp(t)[1] for t in top)  # largest < 2**e
    la, lb = (math.frexp(float(np.min(a, where=a > 0, initial=np.inf)))[1] for a in (ax, aw))  # smallest >= 2**(l-1)
    if (la - 1 - ea) + (lb - 1 - eb) <= _NORMAL32 or not -896 <= ea + eb <= 896:  # margin for the roundings
        return None
    factor = math.ldexp(math.exp(-(terms + 3) * math.log1p(-_U32)), ea + eb)
    return Magnitudes(_scaled32(ax, -ea), _scaled32(aw, -eb), factor)


def _scaled32(a: np.ndarray, exponent: int) -> np.ndarray:
    """``a * 2**exponent`` rounded to float32 (the scaling is exact in float64), in one pass."""
    return np.multiply(a, 2.0 ** exponent, out=np.empty(a.shape, np.float32), casting="same_kind")


def is_integer(a: np.ndarray) -> bool:
    """Whether every element of ``a`` is an integer (as ``np.round`` sees it: Inf is, NaN is not); a few
    elements spread over it are looked at first, which settles most non-integer data without a pass over it."""
    spread = (np.arange(_SAMPLE) * _GOLDEN * a.size).astype(np.int64) % max(1, a.size)  # no period of a grid
    sample = a.reshape(-1)[spread] if a.flags.c_contiguous and a.size else a[:0]
    return bool((np.rint(sample) == sample).all()) and bool((np.rint(a) == a).all())

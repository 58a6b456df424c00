"""Distances in ULPs: floats mapped onto a monotonic integer line of their own width (exact, no float
rounding), so that a count is right across zero and signs."""
from __future__ import annotations

from typing import Final

import numpy as np

from parity.core.dtypes import canonical_name

ULP_INFINITE: Final = np.iinfo(np.uint64).max
_INT: Final[dict[int, type]] = {2: np.int16, 4: np.int32, 8: np.int64}


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise distance in ULPs of the arrays' (common) float dtype, as uint64.

    Floats are reinterpreted as sign-magnitude integers and mapped onto a monotonic integer line, so
    the count is right across zero and signs (+0 and -0 are 0 apart). Two NaNs are 0 apart; a NaN and a
    number are 2**64 - 1 apart.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype:
        raise ValueError(f"ulp_distance must get arrays of one dtype, got {a.dtype} and {b.dtype}")
    canonical_name(a.dtype)
    distance = _distance(_ordered(a), _ordered(b))
    nan_a, nan_b = np.isnan(a.astype(np.float64)), np.isnan(b.astype(np.float64))
    nan = np.where(nan_a & nan_b, np.uint64(0), np.uint64(ULP_INFINITE))  # uint64 throughout: no float rounding
    return np.where(nan_a | nan_b, nan, distance)


def _ordered(a: np.ndarray) -> np.ndarray:
    """Float bits as int64 such that float order is integer order: a float whose bits, read as a signed
    integer of its width, are b >= 0 maps to b; a negative one (sign bit set, magnitude m) has b = MIN + m
    and maps to MIN - b = -m (both zeros map to 0). Narrow types are widened first, so nothing wraps."""
    width = a.dtype.itemsize
    signed = np.ascontiguousarray(a).view(_INT[width])
    if width == 8:
        return np.where(signed < 0, np.int64(-1 << 63) - signed, signed)
    bits = signed.astype(np.int64)
    return np.subtract(np.int64(-1 << (8 * width - 1)), bits, out=bits, where=signed < 0)


def _distance(oa: np.ndarray, ob: np.ndarray) -> np.ndarray:
    """|oa - ob| as uint64: the subtraction wraps modulo 2**64, which is exact for the smaller from the
    larger (float64's ordered values span almost 2**64)."""
    ua, ub = oa.view(np.uint64), ob.view(np.uint64)
    return np.where(oa >= ob, ua - ub, ub - ua)


def max_distance(actual: np.ndarray, target: np.ndarray) -> int:
    """The largest :func:`ulp_distance` between two arrays without NaN (``target`` is rounded to ``actual``'s
    dtype first: a target beyond the type's range rounds to the infinity a correct ``actual`` holds),
    without the NaN bookkeeping."""
    if not actual.size:
        return 0
    with np.errstate(over="ignore"):
        rounded = np.asarray(target).astype(actual.dtype, copy=False)
    oa, ob = _ordered(actual), _ordered(rounded)
    if actual.dtype.itemsize == 8:
        return int(_distance(oa, ob).max())
    difference = np.subtract(oa, ob, out=oa)  # narrow types: ordered values within +-2**32, no wrap
    return int(max(difference.max(), -difference.min()))

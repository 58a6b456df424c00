"""parity.reference.magnitudes: the error-bound scale |x| conv |w| computed in float32 is never below the exact
scale and at most 0.1 % above it; integer inputs get it exactly; inputs float32 cannot hold fall back to
float64. Exact sums are computed here with fractions.Fraction."""
from __future__ import annotations

import importlib
from fractions import Fraction

import numpy as np
import pytest

from parity.reference.magnitudes import FLOAT32_TERMS, FLOAT32_WORK, magnitudes

R = importlib.import_module("parity.reference.conv")
SHAPES = dict(x=(1, 64, 34, 34), w=(4, 64, 3, 3))  # 576 terms, 589824 gathered elements: the float32 route
PADS = ((0, 0), (0, 0))


def _exact_scale(x: np.ndarray, w: np.ndarray, o: int, i: int, j: int) -> Fraction:
    window = np.abs(x[0, :, i:i + 3, j:j + 3]).ravel()
    return sum((Fraction(float(a)) * Fraction(float(b)) for a, b in zip(window, np.abs(w[o]).ravel())), Fraction(0))


def _round_down_in_float32(a: np.ndarray) -> np.ndarray:
    """float64 values just under halfway above a float32: rounding to float32 loses almost half an ULP."""
    base = a.astype(np.float32)
    up = np.nextafter(base, np.float32(np.inf) * np.sign(base)).astype(np.float64)
    return base.astype(np.float64) + 0.499 * (up - base.astype(np.float64))


@pytest.mark.parametrize("kind", ["normal", "rounding down", "wide"])
def test_float32_scale_is_an_upper_bound_within_a_thousandth(kind):
    rng = np.random.default_rng(len(kind))
    x, w = rng.standard_normal(SHAPES["x"]), rng.standard_normal(SHAPES["w"])
    if kind == "rounding down":
        x, w = _round_down_in_float32(x), _round_down_in_float32(w)
    if kind == "wide":  # 2**-40 .. 2**40: the scaled products stay above float32's smallest normal
        x = np.ldexp(x, rng.integers(-40, 41, x.shape).astype(np.int32))
    plan = magnitudes(x, w.reshape(1, 4, -1), 576, 64 * 32 * 32 * 9)
    assert plan.x is not None and plan.x.dtype == np.float32 and plan.factor != 1.0
    _, _, scale = R.conv(x, w, (1, 1), PADS, (1, 1))
    for o, i, j in [(0, 0, 0), (3, 31, 31), (1, 7, 19), (2, 16, 3), (0, 29, 30)]:
        exact = _exact_scale(x, w, o, i, j)
        assert exact <= Fraction(float(scale[0, o, i, j])) <= exact * (1 + Fraction(1, 1000)), (o, i, j)


def test_integer_scales_are_exact_in_float32_and_beyond_2_24_in_float64():
    rng = np.random.default_rng(1)
    small = rng.integers(-7, 8, SHAPES["x"]).astype(np.float64), rng.integers(-7, 8, SHAPES["w"]).astype(np.float64)
    large = small[0] * 2 ** 12, small[1] * 2 ** 12  # sums pass 2**24: float32 would round them
    for (x, w), kind in ((small, np.float32), (large, None)):  # None: float64, from the value's columns
        plan = magnitudes(x, w.reshape(1, 4, -1), 576, FLOAT32_WORK)
        assert (None if plan.x is None else plan.x.dtype, plan.factor) == (kind, 1.0)
        _, _, scale = R.conv(x, w, (1, 1), PADS, (1, 1))
        for o, i, j in [(0, 0, 0), (3, 31, 31), (1, 7, 19)]:
            assert Fraction(float(scale[0, o, i, j])) == _exact_scale(x, w, o, i, j)


@pytest.mark.parametrize("case", ["tiny products", "long sums", "small work", "non-finite"])
def test_float32_is_refused_where_it_cannot_bound(case):
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 8, 66, 66)), rng.standard_normal((1, 8 * 9))
    terms, work = 72, FLOAT32_WORK
    if case == "tiny products":  # a scaled product of the smallest values would be subnormal in float32
        x[0, 0, 0, 0], w[0, 0] = 2.0 ** -70, 2.0 ** -60
    if case == "long sums":
        terms = FLOAT32_TERMS + 1
    if case == "small work":
        work = FLOAT32_WORK - 1
    if case == "non-finite":
        x[0, 0, 0, 0] = np.inf
    plan = magnitudes(x, w, terms, work)
    assert plan.factor == 1.0 and plan.x is None and plan.w.dtype == np.float64

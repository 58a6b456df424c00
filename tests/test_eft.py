"""parity.reference.eft: Ozaki slices, the exactness condition (*) and exact products, against fractions.Fraction."""
from __future__ import annotations

import importlib
import math
from fractions import Fraction

import numpy as np
import pytest

E = importlib.import_module("parity.reference.eft")
TINY = 2.0 ** -1074  # the smallest subnormal


@pytest.mark.parametrize("pairs", [1, 2, 3, 7])
@pytest.mark.parametrize("n", [1, 2, 3, 9, 72, 288, 576, 1000, 4096, 65536, 10 ** 6])
def test_width_is_the_largest_meeting_the_condition(n, pairs):
    beta = E.width(n, pairs)
    assert pairs * n * 2 ** (2 * beta - 2) <= 2 ** 53 < pairs * n * 2 ** (2 * beta)


@pytest.mark.parametrize("n", [2, 9, 288, 576, 4096])
def test_the_condition_is_what_makes_blas_exact(n):
    """Worst-case slices: one product of 1 and n-1 of 2**(beta-1) * 2**(beta-1). With beta from width()
    every partial sum is an integer below 2**53 and matmul returns the exact sum; one bit wider, the
    exact sum is not a float64, so whatever order BLAS adds in, the result is off."""
    for beta, exact in ((E.width(n), True), (E.width(n) + 1, False)):
        top = 2.0 ** (beta - 1)
        a = np.full((1, n), top)
        b = np.full((n, 1), top)
        a[0, 0] = b[0, 0] = 1.0
        expected = 1 + (n - 1) * 4 ** (beta - 1)
        assert (int((a @ b)[0, 0]) == expected) is exact


def _draw(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    values = rng.standard_normal(shape)
    if kind == "wide":  # every element its own binade, 2**-300 .. 2**300
        return np.ldexp(values, rng.integers(-300, 301, shape).astype(np.int32))
    if kind == "subnormal":  # a quarter of the elements subnormal, next to normal ones
        tiny = rng.random(shape) < 0.25
        return np.where(tiny, rng.integers(-2 ** 20, 2 ** 20, shape) * TINY, values)
    if kind == "integer":
        return rng.integers(-2 ** 20, 2 ** 20, shape).astype(np.float64)
    if kind == "zero rows":
        values[..., ::2, :] = 0.0
        return values
    return values


def _cancelling(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """b with a @ b almost cancelling: each column pairs a term with the negation of its neighbour's
    product, plus a tiny remainder, so the sum is ~2**-60 of the terms' magnitudes."""
    g, m, n = a.shape
    b = rng.standard_normal((g, n, 3))
    b[:, 1::2, :] = -b[:, 0:n - 1:2, :] * (a[:, 0, 0:n - 1:2] / a[:, 0, 1::2])[..., None]
    return b + np.ldexp(rng.standard_normal(b.shape), -60)


def _check(a: np.ndarray, b: np.ndarray) -> None:
    hi, lo = E.contract(a, b)
    assert hi.shape == lo.shape == (a.shape[0], a.shape[1], b.shape[2])
    n = a.shape[-1]
    for index in np.ndindex(*hi.shape):
        g, i, j = index
        terms = [Fraction(float(a[g, i, k])) * Fraction(float(b[g, k, j])) for k in range(n)]
        exact, magnitude = sum(terms), sum(abs(t) for t in terms)
        error = abs(Fraction(float(hi[index])) + Fraction(float(lo[index])) - exact)
        assert error <= Fraction(2) ** -100 * magnitude + n * Fraction(TINY), index
        assert float(hi[index]) == float(Fraction(float(hi[index])) + Fraction(float(lo[index])))  # hi = fl(hi + lo)


@pytest.mark.parametrize("kind", ["normal", "wide", "subnormal", "integer", "zero rows"])
@pytest.mark.parametrize("n", [1, 7, 200])
def test_contract_is_exact(kind, n):
    rng = np.random.default_rng([n, len(kind)])
    _check(_draw(kind, (2, 4, n), rng), _draw(kind, (2, n, 5), rng))


@pytest.mark.parametrize("n", [8, 64, 300])
def test_contract_is_exact_under_cancellation(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((1, 2, n))
    b = _cancelling(a, rng)
    hi, lo = E.contract(a, b)
    plain = (a @ b)[0, 0]
    exact = [sum(Fraction(float(a[0, 0, k])) * Fraction(float(b[0, k, j])) for k in range(n)) for j in range(3)]
    assert max(abs(Fraction(float(p)) - e) / abs(e) for p, e in zip(plain, exact)) > 2 ** -40  # float64 fails
    _check(a, b)


@pytest.mark.parametrize("kind", ["normal", "wide", "subnormal", "zero rows"])
def test_split_slices_sum_to_the_input_on_their_grids(kind):
    rng = np.random.default_rng(3)
    a = _draw(kind, (2, 3, 40), rng)
    beta = E.width(40, E.PAIRS)
    slices = E.split(a, -1, beta)
    for index in np.ndindex(*a.shape):
        assert sum(Fraction(float(s[index])) for s in slices) == Fraction(float(a[index]))
    largest = np.abs(a).max(axis=-1, keepdims=True)
    f = np.where(largest > 0, np.frexp(largest)[1], 0)  # largest < 2**f
    for t, piece in enumerate(slices):
        quantum = [[Fraction(2) ** int(e + 1 - (t + 1) * beta) for e in row] for row in f[..., 0]]
        for g, i, k in np.ndindex(*a.shape):
            m = Fraction(float(piece[g, i, k])) / quantum[g][i]
            assert m.denominator == 1 and abs(m) <= 2 ** (beta - 1), (t, g, i, k)


def test_split_of_non_finite_input_is_the_input():
    a = np.array([[1.0, np.inf, 2.0]])
    (only,) = E.split(a, -1, 20)
    assert only is a


def test_two_sum_and_renormalize_are_error_free():
    rng = np.random.default_rng(5)
    a = np.ldexp(rng.standard_normal(1000), rng.integers(-60, 60, 1000).astype(np.int32))
    b = rng.standard_normal(1000)
    small = a * np.ldexp(rng.random(1000), -rng.integers(1, 60, 1000).astype(np.int32))  # renormalize: |lo| < |hi|
    s, e = E.two_sum(a, b)
    hi, lo = E.renormalize(a, small)
    for i in range(1000):
        exact = Fraction(float(a[i])) + Fraction(float(b[i]))
        assert Fraction(float(s[i])) + Fraction(float(e[i])) == exact and float(s[i]) == math.fsum([a[i], b[i]])
        exact = Fraction(float(a[i])) + Fraction(float(small[i]))
        assert Fraction(float(hi[i])) + Fraction(float(lo[i])) == exact and float(hi[i]) == math.fsum([a[i], small[i]])


def test_accumulate_in_place_is_textbook_two_sum():
    """_accumulate's in-place steps against Knuth's TwoSum written out here, with |part| above and below
    |hi|: hi takes the rounded sum and lo gains exactly what rounding left out."""
    rng = np.random.default_rng(9)
    hi = np.ldexp(rng.standard_normal(2000), rng.integers(-70, 70, 2000).astype(np.int32))
    part = np.ldexp(rng.standard_normal(2000), rng.integers(-70, 70, 2000).astype(np.int32))
    lo = np.ldexp(rng.standard_normal(2000), -200)
    expected = []
    for a, b, low in zip(hi.tolist(), part.tolist(), lo.tolist()):
        s = a + b
        bb = s - a
        expected.append((s, low + ((a - (s - bb)) + (b - bb))))
    total = E._accumulate((hi.copy(), lo.copy()), part.copy())
    assert [(float(h), float(e)) for h, e in zip(*total)] == expected
    hi, lo = E._accumulate((np.array([1.0]), np.zeros(1)), np.array([2.0 ** 60]))
    assert (hi[0], lo[0]) == (2.0 ** 60, 1.0)


@pytest.mark.parametrize("nonzeros, columns, dense", [
    ([100, 100, 100], 100, 3),
    ([100, 100, 30, 0], 100, 2),
    ([100, 0, 60, 49, 0], 100, 3),  # a dense slice after an empty one stays dense: its place is its level
    ([10, 0], 100, 1),  # the first slice is always gathered
])
def test_dense_prefix_runs_to_the_last_dense_slice(nonzeros, columns, dense):
    assert E.dense_prefix(nonzeros, columns) == dense

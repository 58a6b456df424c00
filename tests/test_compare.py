"""parity.ulp_distance and parity.compare, with every expected figure computed here from first principles."""
from __future__ import annotations

import importlib
import math
from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from parity import compare, ulp_distance
from parity.core.inputs import generate
from parity.core.spec import ConvSpec

R = importlib.import_module("parity.reference.conv")
# dtype: (numpy type, unsigned type of that width, bits of 1.0, precision p, minimum normal exponent)
FORMATS = {
    "float16": (np.float16, np.uint16, 0x3C00, 11, -14),
    "bfloat16": (ml_dtypes.bfloat16, np.uint16, 0x3F80, 8, -126),
    "float32": (np.float32, np.uint32, 0x3F800000, 24, -126),
    "float64": (np.float64, np.uint64, 0x3FF0000000000000, 53, -1022),
}
DTYPES = list(FORMATS)


def _array(values, dtype):
    return np.asarray(values, dtype=np.float64).astype(FORMATS[dtype][0])


def _from_bits(bits, dtype):
    _, uint, *_ = FORMATS[dtype]
    return np.asarray(bits, dtype=uint).view(FORMATS[dtype][0])


def _step(a, k, dtype):
    up = _array(np.inf, dtype)
    for _ in range(k):
        a = np.nextafter(a, up)
    return a


# --- ulp_distance --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 7, 100])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adjacent_values_are_k_apart(dtype, k):
    start = _array([1.0, -3.5, 0.1, 1000.0, -1e-3, 0.5], dtype)
    start = np.concatenate([start, np.nextafter(_array([2.0], dtype), _array([0.0], dtype))])  # crosses 2.0
    moved = _step(start, k, dtype)
    distance = ulp_distance(start, moved)
    assert distance.dtype == np.uint64
    assert distance.tolist() == [k] * start.size
    assert ulp_distance(moved, start).tolist() == [k] * start.size
    positive = start > 0  # for positives the bit patterns themselves count the steps
    uint = FORMATS[dtype][1]
    steps = moved[positive].view(uint).astype(np.int64) - start[positive].view(uint).astype(np.int64)
    assert steps.tolist() == [k] * int(positive.sum())


@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zeros_and_subnormals(dtype):
    assert ulp_distance(_array([0.0], dtype), _array([-0.0], dtype)).tolist() == [0]
    _, uint, _, p, emin = FORMATS[dtype]
    sign = 1 << (8 * np.dtype(uint).itemsize - 1)
    tiny, minus_tiny = _from_bits([1], dtype), _from_bits([sign | 1], dtype)
    assert float(tiny[0]) == math.ldexp(1.0, emin - (p - 1))  # the smallest subnormal
    assert float(minus_tiny[0]) == -float(tiny[0])
    assert ulp_distance(tiny, minus_tiny).tolist() == [2]
    assert ulp_distance(tiny, _array([0.0], dtype)).tolist() == [1]
    assert ulp_distance(minus_tiny, _array([0.0], dtype)).tolist() == [1]
    # stepping across zero: -2t -> -t -> -0 -> +t -> +2t counts 4
    assert ulp_distance(_array([-2 * float(tiny[0])], dtype), _array([2 * float(tiny[0])], dtype)).tolist() == [4]


@pytest.mark.parametrize("dtype", DTYPES)
def test_minus_one_to_one_from_bit_patterns(dtype):
    one_bits = FORMATS[dtype][2]
    assert int(_array([1.0], dtype).view(FORMATS[dtype][1])[0]) == one_bits
    # -1 -> -0 is one_bits steps, -0 and +0 coincide, +0 -> 1 is one_bits steps.
    assert ulp_distance(_array([-1.0], dtype), _array([1.0], dtype)).tolist() == [2 * one_bits]
    assert ulp_distance(_array([-1.0, 1.0], dtype), _array([0.0, -0.0], dtype)).tolist() == [one_bits, one_bits]


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_handling(dtype):
    a = _array([np.nan, np.nan, 1.0, 0.0, np.inf], dtype)
    b = _array([np.nan, 2.0, np.nan, np.nan, np.inf], dtype)
    assert ulp_distance(a, b).tolist() == [0, 2 ** 64 - 1, 2 ** 64 - 1, 2 ** 64 - 1, 0]


@pytest.mark.parametrize("a, b", [(np.float32, np.float64), (np.float16, ml_dtypes.bfloat16),
                                  (np.float64, np.float16), (np.int32, np.int32)], ids=str)
def test_ulp_distance_rejects_mismatched_or_non_float_dtypes(a, b):
    with pytest.raises(ValueError, match="dtype"):
        ulp_distance(np.ones(3, a), np.ones(3, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_distances_beyond_2_53_are_exact(dtype):
    """-max to +max: twice the bit pattern of the largest finite value, counted without rounding."""
    _, uint, _, p, _ = FORMATS[dtype]
    width = 8 * np.dtype(uint).itemsize
    bits = ((1 << (width - p)) - 2) << (p - 1) | ((1 << (p - 1)) - 1)  # exponent field all ones but the last
    biggest = _from_bits([bits], dtype)
    assert float(biggest[0]) == math.ldexp(2 - 2.0 ** (1 - p), 2 ** (width - p - 1) - 1)  # the largest finite
    assert ulp_distance(-biggest, biggest).tolist() == [2 * bits]  # 2**64 - 2**53 - 2 for float64
    assert ulp_distance(biggest, _array([0.0], dtype)).tolist() == [bits]


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_ulp_of_a_comparison_is_the_largest_distance(dtype):
    """compare's max_ulp (computed without per-element NaN bookkeeping when everything is finite) is the
    largest of the per-element distances, with the reference rounded to the dtype first."""
    _, ref = _case(dtype)
    rounded = ref.value.astype(FORMATS[dtype][0])
    actual = rounded.copy()
    actual[0, 0, 0, 0] = -actual[0, 0, 0, 0]  # across zero: twice its distance from 0
    actual[1, 2, 3, 4] = _step(actual[1, 2, 3, 4], 3, dtype)
    expected = max(2 * int(ulp_distance(rounded[:1, :1, :1, :1], _array([[[[0.0]]]], dtype))[0, 0, 0, 0]), 3)
    assert compare(actual, ref, dtype).max_ulp == expected
    assert compare(actual, ref, dtype, expected=rounded, computations=2).max_ulp == expected
    with_nan = actual.copy()
    with_nan[0, 1, 0, 0] = np.nan  # a NaN where the reference is finite: no finite figure describes it
    result = compare(with_nan, ref, dtype)
    assert result.kind == "nonfinite" and result.max_ulp == 2 ** 64 - 1
    assert (result.max_abs, result.bound_ratio) == (np.inf, np.inf)  # a failing row read 0.99 of the bound


def test_format_facts_match_numpy_and_ml_dtypes():
    from parity.core.dtypes import FORMATS as facts
    from parity.core.dtypes import precision_bits

    for dtype, (kind, _, _, p, emin) in FORMATS.items():
        info = ml_dtypes.finfo(kind) if dtype == "bfloat16" else np.finfo(kind)
        assert (facts[dtype].precision, facts[dtype].emin) == (p, emin) == (int(info.nmant) + 1, int(info.minexp))
        assert precision_bits(dtype) == p


# --- compare ---------------------------------------------------------------------------------------------------
def _case(dtype, distribution="normal"):
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=3, batch=2, padding="SAME",
                    dtype=dtype, distribution=distribution)
    x, w = generate(spec)
    return spec, R.reference(spec, x, w)


def _half_ulp(value, dtype):
    _, _, _, p, emin = FORMATS[dtype]
    e = emin if value == 0 else max(math.frexp(abs(value))[1] - 1, emin)
    return math.ldexp(1.0, e - (p - 1) - 1)


def _bound(ref, dtype, n=4 * 3 * 3):
    # The worst case (1 + u)**n - 1, exact in rationals; at n = 36 it is below the probabilistic factor.
    u = Fraction(1, 2 ** FORMATS[dtype][3])
    gamma = float((1 + u) ** n - 1)
    return gamma * ref.scale + np.vectorize(lambda v: _half_ulp(v, dtype))(ref.value)


def _exact_error(actual, ref, index):
    low = Fraction(float(ref.low[index])) if ref.low is not None else 0
    return abs(Fraction(float(actual[index])) - Fraction(float(ref.value[index])) - low)


def _roomiest(ref, dtype, bound):
    """The element whose bound spans the most ULPs (so rounding the perturbed value barely moves it)."""
    ulps = np.vectorize(lambda v: 2 * _half_ulp(v, dtype))(ref.value)
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bound / ulps)), bound.shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_within_bound_passes_and_just_beyond_fails(dtype):
    spec, ref = _case(dtype)
    assert spec.accumulation_length == 36
    bound = _bound(ref, dtype)
    rounded = ref.value.astype(FORMATS[dtype][0])
    result = compare(rounded, ref, dtype)
    assert result.passed and result.kind == "ok" and result.reason == ""
    assert 0 <= result.bound_ratio <= 1

    index = _roomiest(ref, dtype, bound)
    for factor, passes in ((0.99, True), (1.01, False)):
        actual = rounded.copy()
        actual[index] = _array(ref.value[index] + factor * bound[index], dtype)
        ratio = float(_exact_error(actual, ref, index) / Fraction(float(bound[index])))
        assert abs(ratio - factor) < 0.005, "test setup: the perturbed value must sit at ~factor x the bound"
        result = compare(actual, ref, dtype)
        assert result.passed is passes
        assert result.worst_index == index
        assert result.bound_ratio == pytest.approx(ratio, rel=1e-9)
        if not passes:
            assert (result.status, result.kind) == ("fail", "bound")
            assert str(index) in result.reason and "absurd" not in result.reason


@pytest.mark.parametrize("dtype", ["float16", "float32", "bfloat16"])
def test_max_abs_max_rel_and_max_ulp(dtype):
    _, ref = _case(dtype)
    actual = ref.value.astype(FORMATS[dtype][0])
    actual[0, 1, 2, 3] = _step(actual[0, 1, 2, 3], 5, dtype)
    actual[1, 2, 0, 0] = _step(actual[1, 2, 0, 0], 3, dtype)
    result = compare(actual, ref, dtype)
    err = np.abs(actual.astype(np.float64) - ref.value)
    assert result.max_abs == pytest.approx(err.max(), rel=1e-12)
    assert result.max_rel == pytest.approx((err / np.abs(ref.value)).max(), rel=1e-12)
    assert result.max_ulp == 5


def test_wrong_shape():
    _, ref = _case("float32")
    result = compare(ref.value.astype(np.float32)[..., :-1], ref, "float32")
    assert (result.status, result.kind) == ("fail", "shape") and not result.passed
    assert "shape" in result.reason and str(ref.value.shape) in result.reason


def test_two_backends_agreeing_on_a_wrong_shape_fail_without_a_bound():
    """Found by hypothesis: both LiteRT backends returned the same wrong shape, and their pair comparison
    crashed on the reference's bound, which has the case's shape."""
    _, ref = _case("float32")
    wrong = ref.value.astype(np.float32)[..., :-1]
    result = compare(wrong, ref, "float32", expected=wrong.copy(), computations=2)
    assert (result.status, result.kind) == ("fail", "shape")
    assert result.reason == f"shape mismatch: both sides have {wrong.shape}, the case's result has {ref.value.shape}"


@pytest.mark.parametrize("dtype, wrong", [("float32", np.float64), ("float16", np.float32),
                                          ("bfloat16", np.float16), ("float64", np.float32)])
def test_wrong_dtype(dtype, wrong):
    _, ref = _case(dtype)
    result = compare(ref.value.astype(wrong), ref, dtype)
    assert (result.status, result.kind) == ("fail", "dtype")
    assert np.dtype(wrong).name in result.reason and dtype in result.reason
    good = ref.value.astype(FORMATS[dtype][0])
    paired = compare(good, ref, dtype, expected=ref.value.astype(wrong), computations=2)
    assert paired.kind == "dtype"


@pytest.mark.parametrize("bad, label", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_nonfinite_where_reference_is_finite(bad, label):
    _, ref = _case("float32")
    actual = ref.value.astype(np.float32)
    actual[1, 0, 4, 2] = bad
    result = compare(actual, ref, "float32")
    assert (result.status, result.kind) == ("fail", "nonfinite")
    assert label in result.reason and "(1, 0, 4, 2)" in result.reason


def test_absurd_value_is_flagged():
    _, ref = _case("float32")
    actual = ref.value.astype(np.float32)
    actual[0, 2, 1, 1] = -5.3e37
    result = compare(actual, ref, "float32")
    assert (result.status, result.kind) == ("fail", "bound")
    assert "absurd" in result.reason
    assert result.worst_index == (0, 2, 1, 1)
    assert result.max_abs == pytest.approx(abs(-5.3e37 - ref.value[0, 2, 1, 1]), rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_two_computations_double_the_allowed_error(dtype):
    _, ref = _case(dtype)
    bound = _bound(ref, dtype)
    index = _roomiest(ref, dtype, bound)
    a = ref.value.astype(FORMATS[dtype][0])
    b = a.copy()
    b[index] = _array(float(a[index]) + 1.5 * bound[index], dtype)
    ratio = abs(float(b[index]) - float(a[index])) / bound[index]
    assert 1.49 < ratio < 1.51
    single = compare(a, ref, dtype, expected=b, computations=1)
    assert single.kind == "bound" and single.bound_ratio == pytest.approx(ratio, rel=1e-9)
    pair = compare(a, ref, dtype, expected=b, computations=2)
    assert pair.passed and pair.bound_ratio == pytest.approx(ratio / 2, rel=1e-9)
    assert pair.worst_index == index


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # float64: half an ULP of 0 underflows
@pytest.mark.parametrize("dtype", DTYPES)
def test_exact_zero_allows_only_half_the_smallest_subnormal(dtype):
    zeros = np.zeros((1, 1, 3))
    ref = R.Reference(value=zeros, low=None, scale=zeros, accumulation_length=9)
    assert compare(_array([[[0.0, -0.0, 0.0]]], dtype), ref, dtype).passed
    tiny = float(_from_bits([1], dtype)[0])
    result = compare(_array([[[0.0, tiny, 0.0]]], dtype), ref, dtype)
    assert result.kind == "bound" and result.worst_index == (0, 0, 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relative_error_at_zero_targets(dtype):
    """0 where a zero is met exactly, infinite where it is missed; with a NaN both sides share (the path that
    judges NaN and Inf) the absolute error is the other elements', and the relative one says NaN."""
    value = np.array([[[0.0, 2.0, 0.0, 4.0]]])
    ref = R.Reference(value=value, low=None, scale=np.full(value.shape, 8.0), accumulation_length=2)
    assert compare(_array([[[0.0, 2.0, 0.0, 4.0]]], dtype), ref, dtype).max_rel == 0.0
    quarter = compare(_array([[[0.0, 2.5, 0.0, 4.0]]], dtype), ref, dtype)
    assert quarter.max_rel == 0.25 and quarter.max_abs == 0.5
    assert compare(_array([[[0.0, 2.0, 0.5, 4.0]]], dtype), ref, dtype).max_rel == math.inf
    shared = R.Reference(value=np.array([[[np.nan, 2.0, 0.0, 4.0]]]), low=None, scale=ref.scale,
                         accumulation_length=2)
    both = compare(_array([[[np.nan, 2.0, 0.0, 5.0]]], dtype), shared, dtype)
    assert both.max_abs == 1.0 and math.isnan(both.max_rel)


def test_a_0_d_result_is_compared_like_any_other():
    ref = R.Reference(value=np.array(1.0), low=None, scale=np.array(1.0), accumulation_length=3)
    result = compare(np.array(1.0, np.float32), ref, "float32")
    assert result.passed and (result.max_abs, result.worst_index) == (0.0, ())
    assert compare(np.array(1.5, np.float32), ref, "float32").kind == "bound"


@pytest.mark.filterwarnings("error")
def test_overflows_on_both_sides_agree_without_warnings():
    value = np.array([[[7e4, 1.0]]])  # float16 holds up to 65504: 7e4 rounds to inf
    ref = R.Reference(value=value, low=None, scale=np.abs(value), accumulation_length=4)
    both = np.array([[[np.inf, 1.0]]], np.float16)
    assert compare(both, ref, "float16").passed
    assert compare(both, ref, "float16", expected=both, computations=2).passed


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_inputs_give_exact_results(dtype):
    spec = ConvSpec(spatial=(7, 6), kernel=3, in_channels=5, out_channels=3, batch=2, dtype=dtype,
                    distribution="int")
    x, w = generate(spec)
    ref = R.reference(spec, x, w)
    xi, wi = x.astype(np.int64), w.astype(np.int64)
    assert (xi == x.astype(np.float64)).all() and (wi == w.astype(np.float64)).all()
    exact = np.zeros((2, 3, 5, 4), dtype=np.int64)  # VALID, stride 1: out = 7-3+1, 6-3+1
    for a, b in np.ndindex(3, 3):
        exact += np.einsum("nchw,oc->nohw", xi[:, :, a:a + 5, b:b + 4], wi[:, :, a, b])
    np.testing.assert_array_equal(ref.value, exact)
    assert np.abs(exact).max() <= 2 ** FORMATS[dtype][3]
    rounded = exact.astype(FORMATS[dtype][0])
    np.testing.assert_array_equal(rounded.astype(np.int64), exact)
    assert ulp_distance(ref.value.astype(FORMATS[dtype][0]), rounded).max() == 0
    result = compare(rounded, ref, dtype)
    assert result.passed and result.max_ulp == 0 and result.max_abs == 0 and result.bound_ratio == 0
    if ref.low is not None:
        assert not ref.low.any()


def test_between_two_backends_neither_side_is_called_the_expectation():
    """'numpy vs X: shape mismatch: got (6, 5), expected (6, 4)' presented X's wrong shape as the expectation
    (helper-35); likewise 'NaN in expected only'."""
    _, ref = _case("float32")
    right = ref.value.astype(np.float32)
    wrong = np.pad(right, ((0, 0), (0, 0), (0, 0), (0, 1)))
    result = compare(right, ref, "float32", expected=wrong, computations=2)
    assert result.reason == (f"shape mismatch: this side has {right.shape}, the other side {wrong.shape}; the "
                             f"case's result has {ref.value.shape}")
    broken = right.copy()
    broken[0, 0, 0, 0] = np.nan
    result = compare(right, ref, "float32", expected=broken, computations=2)
    assert result.reason == "NaN in the other side only: 1 element(s), first at (0, 0, 0, 0)"

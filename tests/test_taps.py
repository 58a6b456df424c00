"""The tap-GEMM path of the reference (parity.reference.taps) against the exact Fraction convolution.

Real cases take the path only above a chunk of gathered windows; here its thresholds are lowered so that
small specs, whose every element can be checked exactly, take it.
"""
from __future__ import annotations

import importlib
from fractions import Fraction

import numpy as np
import pytest

from parity.core.spec import ConvSpec
from tests.test_reference import naive_conv

R = importlib.import_module("parity.reference.conv")
T = importlib.import_module("parity.reference.taps")
M = importlib.import_module("parity.reference.magnitudes")

# spatial, kernel, dilations, padding, in, out, groups, batch: stride 1 throughout (the path's condition)
GEOMETRIES = {
    "1d": ((9,), (3,), (1,), "SAME", 8, 3, 1, 2),
    "1d-dilated-causal": ((11,), (3,), (2,), "CAUSAL", 8, 2, 1, 1),
    "2d-same": ((6, 5), (3, 3), (1, 1), "SAME", 8, 4, 1, 2),
    "2d-grouped-dilated": ((7, 6), (2, 3), (2, 1), ((1, 2), (0, 1)), 16, 4, 2, 1),
    "2d-valid-even-kernel": ((8, 9), (2, 4), (1, 1), "VALID", 9, 2, 1, 1),
    "3d": ((4, 5, 3), (2, 2, 2), (1, 1, 1), "SAME_LOWER", 8, 2, 1, 1),
}


@pytest.fixture
def always_taps(monkeypatch):
    """Lower the thresholds and record that the path was taken."""
    monkeypatch.setattr(T, "MIN_GATHERED_BYTES", 0)
    calls = []
    original = T.conv

    def recording(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(T, "conv", recording)
    return calls


def spec_of(name: str, dtype: str = "float32") -> ConvSpec:
    spatial, kernel, dilations, padding, c, o, g, n = GEOMETRIES[name]
    return ConvSpec(spatial=spatial, kernel=kernel, dilations=dilations, padding=padding, in_channels=c,
                    out_channels=o, groups=g, batch=n, dtype=dtype)


def inputs(spec: ConvSpec, seed: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((spec.batch, spec.in_channels, *spec.spatial)).astype(np.float32)
    w = rng.standard_normal((spec.out_channels, spec.in_channels // spec.groups, *spec.kernel)).astype(np.float32)
    return x.astype(np.float64), w.astype(np.float64)


@pytest.mark.parametrize("float32_scale", [False, True], ids=["float64-scale", "float32-scale"])
@pytest.mark.parametrize("name", GEOMETRIES)
def test_taps_match_the_exact_convolution(always_taps, monkeypatch, name, float32_scale):
    if float32_scale:  # the scale's float32 GEMM with its rounding-up factor, as on large cases
        monkeypatch.setattr(M, "FLOAT32_WORK", 0)
    spec = spec_of(name)
    x, w = inputs(spec)
    ref = R.reference(spec, x, w)
    assert len(always_taps) == 1
    exact, absolute = naive_conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups)
    assert ref.value.shape == ref.scale.shape == spec.output_shape
    assert ref.value.flags.c_contiguous and ref.scale.dtype == np.float64
    n = ref.accumulation_length
    gamma = n * 2.0 ** -53 / (1 - n * 2.0 ** -53)
    slack = 1.001 if float32_scale else 1 + gamma  # the float32 scale is an upper bound at most 0.1 % above
    for index in np.ndindex(*exact.shape):
        assert abs(Fraction(ref.value[index]) - exact[index]) <= gamma * absolute[index], index
        assert absolute[index] * (1 - gamma) <= Fraction(ref.scale[index]) <= absolute[index] * Fraction(slack), index
        if float32_scale:
            assert Fraction(ref.scale[index]) >= absolute[index], index


def test_first_rows_and_cropping_pads(always_taps, monkeypatch):
    monkeypatch.setattr(T, "_MAX_WASTE", 10.0)  # 6 x 5 padded for 4 x 3 outputs: a small case's proportions
    spec = spec_of("2d-same")
    x, w = inputs(spec, seed=9)
    whole, _, whole_scale = R.conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1))
    first, _, first_scale = R.conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), rows=2)
    assert first.shape == (*whole.shape[:2], 2, whole.shape[3])
    exact, absolute = naive_conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    within_float64_rounding(first, exact[:, :, :2], absolute[:, :, :2], w[0].size)
    np.testing.assert_allclose(first_scale, whole_scale[:, :, :2], rtol=1e-13)  # sums of positive terms
    cropped, _, _ = R.conv(x, w, (1, 1), ((-1, 1), (1, -1)), (1, 1))
    exact, absolute = naive_conv(x[:, :, 1:, :-1], w, (1, 1), ((0, 1), (1, 0)), (1, 1), 1)
    within_float64_rounding(cropped, exact, absolute, w[0].size)
    assert len(always_taps) == 3


def within_float64_rounding(value: np.ndarray, exact: np.ndarray, absolute: np.ndarray, n: int) -> None:
    """Every element within float64 accumulation's bound of the exact sum, in any summation order."""
    assert value.shape == exact.shape
    gamma = n * 2.0 ** -53 / (1 - n * 2.0 ** -53)
    for index in np.ndindex(*exact.shape):
        assert abs(Fraction(value[index]) - exact[index]) <= gamma * absolute[index], index


def test_transposed_conv_takes_the_taps(always_taps):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 8, 4, 5)).astype(np.float32).astype(np.float64)
    w = rng.standard_normal((8, 3, 3, 2)).astype(np.float32).astype(np.float64)
    value, _, _ = R.conv_transpose(x, w, (1, 1), ((0, 0), (0, 0)), (0, 0), (1, 1), scaled=False)
    expected = np.zeros((1, 3, 6, 6))  # scatter-add from the definition
    for c, i, j in np.ndindex(8, 4, 5):
        expected[0, :, i:i + 3, j:j + 2] += x[0, c, i, j] * w[c]
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    assert len(always_taps) == 1


@pytest.mark.parametrize("change, reason", [
    (dict(strides=(2, 1)), "a stride"),
    (dict(dtype="float64"), "the exact path"),
    (dict(in_channels=4, out_channels=4), "fewer than 8 channels per group"),
    (dict(dilations=(3, 3), padding="VALID", spatial=(8, 8)), "a padded grid over twice the output"),
])
def test_other_convs_keep_im2col(always_taps, change, reason):
    base = dict(spatial=(6, 5), kernel=(3, 3), padding="SAME", in_channels=8, out_channels=4, dtype="float32")
    spec = ConvSpec(**{**base, **change})
    x, w = inputs(spec)
    R.reference(spec, x, w)
    assert always_taps == [], reason


def test_small_convs_keep_im2col_at_the_real_threshold(monkeypatch):
    calls = []
    monkeypatch.setattr(T, "conv", lambda *a, **k: calls.append(a))
    spec = spec_of("2d-same")
    R.reference(spec, *inputs(spec))
    assert calls == []


def test_the_scale_type_is_chosen_on_the_same_work_as_im2col(monkeypatch):
    """The float32 scale is picked by the gathered size (terms x outputs): the taps must report the same
    figure as the im2col path, on every output axis (they once dropped every other one)."""
    works = []

    def recording(x, w, terms, work):
        works.append((terms, work))
        return M.magnitudes(x, w, terms, work)

    monkeypatch.setattr(T, "magnitudes", recording)
    monkeypatch.setattr(R, "magnitudes", recording)
    spec = ConvSpec(spatial=(5, 6, 7), kernel=(2, 3, 2), padding="SAME", in_channels=8, out_channels=4, groups=2,
                    batch=2, dtype="float32")
    x, w = inputs(spec)
    R.reference(spec, x, w)  # im2col
    monkeypatch.setattr(T, "MIN_GATHERED_BYTES", 0)
    R.reference(spec, x, w)  # taps
    assert works[0] == works[1] == (4 * 12, 2 * 8 * 12 * 5 * 6 * 7)

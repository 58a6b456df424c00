"""A correctly rounded overflow is agreement: a finite exact result beyond a 16-bit type's range rounds to
infinity (helper-22: float16 120000 was 'Inf in output only', and parity check found it unexplained)."""
from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.core.spec import ConvSpec
from parity.porting.checking import check

SPEC = ConvSpec(spatial=(4,), kernel=2, dtype="float16")


def _reference(x_value: float, w_value: float):
    x, w = np.full((1, 1, 4), x_value, np.float16), np.full((1, 1, 2), w_value, np.float16)
    return x, w, parity.exact(SPEC, x, w)


@pytest.mark.parametrize("got, status", [(np.inf, "pass"), (-np.inf, "fail"), (65504.0, "fail")])
def test_an_exact_result_past_the_range_must_be_infinity(got, status):
    _, _, ref = _reference(300, 200)  # 2 x 60000 = 120000 > 65520: rounds to inf
    assert float(ref.value[0, 0, 0]) == 120000.0
    result = parity.compare(np.full((1, 1, 3), got, np.float16), ref, "float16")
    assert result.status == status, result


def test_an_exact_result_just_inside_the_range_is_not_infinity_with_exact_sums():
    spec = ConvSpec(spatial=(3,), kernel=3, dtype="float16")
    x, w = np.array([[[32752, 32752, 8]]], np.float16), np.ones((1, 1, 3), np.float16)
    ref = parity.exact(spec, x, w)  # 65512 < 65520: rounds to 65504
    y = np.full((1, 1, 1), np.inf, np.float16)
    exact_sums = parity.compare(y, ref, "float16", accumulation="float32")
    assert float(ref.value[0, 0, 0]) == 65512.0 and exact_sums.status == "fail"
    assert parity.compare(np.full((1, 1, 1), 65504, np.float16), ref, "float16", accumulation="float32").passed
    short_sums = parity.compare(y, ref, "float16")  # float16 partial sums may overflow on the way
    assert short_sums.status == "pass"


def test_parity_check_matches_an_overflow_to_infinity():
    x, w, _ = _reference(300, 200)
    result = check(x, w, np.full((1, 1, 3), np.inf, np.float16))
    assert result.matches, result.format()

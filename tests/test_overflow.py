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


def test_a_pair_judges_each_side_s_overflow_against_the_exact_value_in_either_order():
    """helper-24: only one side's infinity was accepted, and against the other side's rounded value, so
    inf (right) vs 65504 (wrong, exact 120000) passed with max_abs 0, and the reverse order failed."""
    _, _, ref = _reference(300, 200)
    right, wrong = np.full((1, 1, 3), np.inf, np.float16), np.full((1, 1, 3), 65504, np.float16)
    for a, b in ((right, wrong), (wrong, right)):
        assert parity.compare(a, ref, "float16", expected=b, computations=2).status == "fail"
    assert parity.compare(right, ref, "float16", expected=right.copy(), computations=2).passed
    spec = ConvSpec(spatial=(3,), kernel=3, dtype="float16")  # exact 65512: 65504 with exact sums, inf with float16 ones
    x, w = np.array([[[32752, 32752, 8]]], np.float16), np.ones((1, 1, 3), np.float16)
    near = parity.exact(spec, x, w)
    inf, finite = np.full((1, 1, 1), np.inf, np.float16), np.full((1, 1, 1), 65504, np.float16)
    verdicts = {parity.compare(a, near, "float16", expected=b, computations=2).status for a, b in ((inf, finite), (finite, inf))}
    assert verdicts == {"pass"}


def test_an_overflow_does_not_make_a_wide_bound_look_sensitive():
    """helper-24: a mutant rounding to the same infinity as the reference counted as rejected there, so a Y
    computed with the kernel flipped 'matched' once one pixel made 72 outputs overflow."""
    from parity.reference.conv import reference

    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=512, out_channels=8, padding="SAME", dtype="float16")
    x, w = parity.generate(spec)
    w = np.abs(w)
    x[0, :, 3, 3] = 4000
    with np.errstate(over="ignore"):
        flipped = reference(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1])).value.astype(np.float16)
    assert np.isinf(flipped).sum() == 72
    result = check(x, w, flipped, padding="SAME")
    assert not result.matches and "admits: kernel flipped" in result.doubt, result.format()


def test_the_closeness_test_of_a_pair_judges_each_side_s_overflow_against_the_exact_value():
    """helper-26: with one side a correct inf, the pair's distance was 0 in one order and inf in the other."""
    from parity.verdict.comparison import total_bound
    from parity.verdict.sensitivity import Mutant, indistinct

    spec = ConvSpec(spatial=(3,), kernel=3, dtype="float16")
    x, w = np.array([[[32752, 32752, 8]]], np.float16), np.ones((1, 1, 3), np.float16)
    ref = parity.exact(spec, x, w)  # 65512: 65504 or, with float16 sums, inf
    bound = total_bound(ref, "float16", 2, ("float16", "float16"))
    inf, finite = np.full((1, 1, 1), np.inf, np.float16), np.full((1, 1, 1), 65504, np.float16)
    close = [(Mutant("kernel flipped", lambda rows: np.full((1, 1, 1), 60000.0)), 1.5)]
    assert {indistinct(close, a, b, bound, "float16", ref.value, 2) for a, b in ((inf, finite), (finite, inf))} == {""}

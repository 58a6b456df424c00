"""Edges of the verdict that mutation testing showed no test pinned (helper-32's review): the integer
'correctly rounded' threshold in both directions, the bound a pair of backends is judged by, the weight
gradient's error scale and its double-double low part, the set of mutants, a non-finite mutant, and the
width of TF32 inputs. Each expectation is computed here, independently of the code under test."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from parity import adapters
from parity.core.inputs import generate
from parity.core.spec import ConvSpec
from parity.reference.conv import Reference, reference
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.verdict import sensitivity
from parity.verdict.comparison import compare, total_bound
from parity.verdict.fingerprint import fingerprint, round_to_bits


def _one(value: float, scale: float) -> Reference:
    """One integer-input output element of a 16-term sum."""
    return Reference(np.array([[[value]]]), None, np.array([[[scale]]]), 16, integer_inputs=True)


def test_integer_sums_a_float16_holds_must_be_correctly_rounded():
    """Scale 1600 <= 2**11: every partial sum is an integer float16 holds, so 1502 for 1501 is wrong."""
    assert compare(np.float16([[[1501]]]), _one(1501, 1600), "float16").passed
    assert compare(np.float16([[[1502]]]), _one(1501, 1600), "float16").status == "fail"


def test_integer_sums_beyond_what_float16_holds_may_round_on_the_way():
    """Scale 3100 > 2**11: partial sums round (float16's spacing is 2 there), so 3004 for 3001 is within
    gamma_16 * 3100 + 1 (about 25) and passes."""
    assert compare(np.float16([[[3004]]]), _one(3001, 3100), "float16").passed


class _Fixed:
    """An adapter returning ``make(spec, x, w)``."""

    def __init__(self, name: str, make) -> None:
        self.name, self._make = name, make

    def available(self):
        return None

    def supports(self, spec):
        return None

    def run(self, spec, x, w, dy=None):
        return self._make(spec, x, w)


@pytest.mark.parametrize("times, status", [(1.6, "pass"), (2.4, "fail")])
def test_a_pair_of_backends_is_judged_by_the_sum_of_their_two_bounds(monkeypatch, times, status):
    """One backend correctly rounded, the other off by ``times`` one result's bound: within two results'
    bounds at 1.6 (one side's bound alone would fail it), beyond them at 2.4 (1.5 times them would pass it)."""
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=3, dtype="float32")
    exact = reference(spec, *generate(spec))
    one = total_bound(exact, "float32", 1, ("float32",))
    fakes = {"right": _Fixed("right", lambda s, x, w: exact.value.astype(np.float32)),
             "off": _Fixed("off", lambda s, x, w: (exact.value + times * one).astype(np.float32))}
    get = adapters.get
    monkeypatch.setattr(adapters, "get", lambda name: fakes.get(name) or get(name))
    pair = CaseRun(Case("c", spec)).between("off", "right")
    assert pair.status == status, pair
    assert pair.bound_ratio == pytest.approx(times / 2, rel=0.02)  # and the right side's own rounding


def _exact_grad_weight(x: np.ndarray, dy: np.ndarray, kernel: int) -> list[list[list[Fraction]]]:
    """dL/dw[o, c, k] = sum over n, i of x[n, c, i + k] * dy[n, o, i] (1-D, VALID, stride 1), in Fractions."""
    return [[[sum((Fraction(float(x[n, c, i + k])) * Fraction(float(dy[n, o, i]))
                   for n in range(x.shape[0]) for i in range(dy.shape[2])), Fraction(0))
              for k in range(kernel)] for c in range(x.shape[1])] for o in range(dy.shape[1])]


def test_a_float64_weight_gradient_keeps_what_float64_rounding_leaves_out():
    """x holds 1 and 2**-60 side by side: each gradient element is a sum like 1 + 2**-60, which float64
    rounds to 1. value + low must be that sum to 2**-100 of its scale; value alone misses it by 2**-60."""
    spec = ConvSpec(spatial=(6,), kernel=2, in_channels=1, out_channels=1, dtype="float64", quantity="grad_weight")
    x = np.array([[[1.0, 2.0 ** -60, 1.0, 2.0 ** -60, 1.0, 2.0 ** -60]]])
    dy = np.ones((1, 1, 5))
    ref = reference(spec, x, np.zeros(spec.kernel_shape), dy)
    exact = _exact_grad_weight(x, dy, 2)
    assert ref.low is not None
    for o, c, k in np.ndindex(ref.value.shape):
        error = abs(Fraction(ref.value[o, c, k]) + Fraction(ref.low[o, c, k]) - exact[o][c][k])
        assert error <= Fraction(2) ** -100 * Fraction(ref.scale[o, c, k]), (o, c, k, float(error))
    assert any(Fraction(v) != e for v, e in zip(ref.value.ravel(), (exact[0][0][0], exact[0][0][1])))


def test_a_weight_gradients_error_scale_is_at_least_the_exact_one():
    """|x| conv |dy| over 8192 terms, long and large enough for the float32 scale (parity.reference.magnitudes):
    it must stay an upper bound, at most 0.1 % above."""
    spec = ConvSpec(spatial=(1024,), kernel=3, in_channels=16, out_channels=2, batch=8, dtype="float32",
                    quantity="grad_weight", padding="SAME")
    x, w = generate(spec)
    rng = np.random.default_rng(4)
    dy = rng.standard_normal(spec.output_shape).astype(np.float32)
    ref = reference(spec, x, w, dy)
    padded = np.pad(np.abs(x.astype(np.float64)), ((0, 0), (0, 0), (1, 1)))
    ad = np.abs(dy.astype(np.float64))
    exact = np.stack([np.einsum("ncl,nol->oc", padded[:, :, k:k + 1024], ad) for k in range(3)], axis=-1)
    assert np.all(ref.scale >= exact * (1 - 1e-12)) and np.all(ref.scale <= exact * 1.001)  # float64 sums here


def test_a_square_kernels_mutants_are_all_four_and_each_is_wrong():
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=3, out_channels=2, padding="SAME", dtype="float32")
    x, w = generate(spec)
    ref = reference(spec, x, w)
    found = sensitivity.mutants(spec, ref, x, w)
    assert [m.name for m in found] == ["kernel flipped", "kernel axes transposed", "padding shifted to the start",
                                       "padding shifted to the end"]
    assert not any(sensitivity.harmless(m.value, ref.value, ref.scale) for m in found)


def test_a_weight_gradients_kernel_mutants_change_the_gradient():
    """A backend with its kernel convention mistaken returns the true gradient changed the same way."""
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=3, out_channels=2, padding="SAME", dtype="float32",
                    quantity="grad_weight")
    x, w = generate(spec)
    dy = np.random.default_rng(2).standard_normal(spec.output_shape)
    ref = reference(spec, x, w, dy)
    found = {m.name: m.value for m in sensitivity.mutants(spec, ref, x, w, dy)}
    np.testing.assert_array_equal(found["kernel flipped"], ref.value[:, :, ::-1, ::-1])
    np.testing.assert_array_equal(found["kernel axes transposed"], ref.value.swapaxes(2, 3))


def test_a_mutant_that_is_not_finite_where_the_reference_is_is_not_admitted():
    value = np.array([[[1.0, 2.0]]])
    ref = Reference(value, None, np.ones_like(value), 4)
    nan = sensitivity.Mutant("nan somewhere", lambda _: np.array([[[1.0, np.nan]]]))
    close = sensitivity.Mutant("close", lambda _: value + 1e-4)
    admitted = sensitivity.near([nan, close], ref, "float32", np.full(value.shape, 1e-3))
    assert [m.name for m, _ in admitted] == ["close"]


def test_tf32_inputs_keep_eleven_significant_bits():
    """Integers of 13 bits whose 11-bit and 10-bit roundings differ: the exact result of the 11-bit ones is
    'TF32 inputs'; that of 10-bit ones is not."""
    spec = ConvSpec(spatial=(5,), kernel=3, in_channels=4, out_channels=2, dtype="float32", distribution="int")
    rng = np.random.default_rng(8)
    x, w = (rng.integers(4097, 8191, size=shape).astype(np.float32) for shape in (spec.input_shape, spec.kernel_shape))
    assert not np.array_equal(round_to_bits(x.astype(np.float64), 11), round_to_bits(x.astype(np.float64), 10))
    ref = reference(spec, x, w)
    for bits, label in ((11, "TF32 inputs"), (10, "not identified")):
        rounded = [round_to_bits(a.astype(np.float64), bits) for a in (x, w)]
        actual = reference(spec, *rounded).value.astype(np.float32)
        assert fingerprint(spec, ref, actual, [x, w]) == label

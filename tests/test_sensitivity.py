"""parity.verdict.sensitivity: mutants judged on their head first (the first eighth of the first output axis) give
the verdict of judging every mutant whole, which is written out here on its own."""
from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.verdict.comparison import total_bound
from parity.reference.conv import compute, reference
from parity.verdict.sensitivity import indistinct, mutants, near
from parity.core.spec import ConvSpec


def _whole_verdict(spec: ConvSpec, operands: list[np.ndarray], accumulation: str) -> str | None:
    """The name of the first mutant that differs from the reference and lies within the bound, computing
    every mutant whole (the definition); None if there is none."""
    ref = reference(spec, *operands)
    x, w, *rest = [a.astype(np.float64) for a in operands]
    axes = tuple(range(2, 2 + spec.rank))
    changes = [("kernel flipped", lambda k: np.flip(k, axes))] if max(spec.kernel) > 1 else []
    square = [(a, b) for a in axes for b in axes if a < b and spec.kernel[a - 2] == spec.kernel[b - 2] > 1]
    changes += [("kernel axes transposed", lambda k: np.swapaxes(k, *square[0]))] if square else []
    values = [(name, change(ref.value) if spec.quantity == "grad_weight" else
               compute(spec, x, np.ascontiguousarray(change(w)), *rest)[0]) for name, change in changes]
    for name, step in (("padding shifted to the start", 1), ("padding shifted to the end", -1)):
        values.append((name, compute(spec, x, w, *rest, pads=tuple((lo + step, hi - step) for lo, hi in spec.pads))[0]))
    target = ref.value
    bound = total_bound(ref, spec.dtype, 1, accumulation)
    for name, value in values:
        if np.all(np.abs(value - ref.value) <= 2.0 ** -40 * ref.scale):
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(value.astype(operands[0].dtype).astype(np.float64) - target)
        if np.all(error <= bound):
            return name
    return None


def _judged(spec: ConvSpec, operands: list[np.ndarray], accumulation: str):
    ref = reference(spec, *operands)
    found = mutants(spec, ref, *operands)
    with np.errstate(over="ignore"):
        bound = total_bound(ref, spec.dtype, 1, accumulation)
        # the reference itself as the result: only a mutant the bound admits makes it insensitive
        reason = indistinct(near(found, ref, spec.dtype, bound), ref.value, ref.value, bound, spec.dtype)
    return reason, found


def _operands(spec: ConvSpec, zero_rows: int = 0) -> list[np.ndarray]:
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    if zero_rows:
        x[:, :, :zero_rows] = 0
    return [a for a in (x, w, dy) if a is not None]


CASES = {
    "f32-output": (dict(spatial=(32, 32), in_channels=8), "float32"),
    "f64-output": (dict(spatial=(32, 32), in_channels=8, dtype="float64"), "float64"),
    "f16-declared-f16-admits-a-flip": (dict(spatial=(32, 16), in_channels=512, dtype="float16"), "float16"),
    "f16-declared-f32": (dict(spatial=(32, 16), in_channels=512, dtype="float16"), "float32"),
    "transposed-stride2": (dict(spatial=(16, 16), in_channels=8, op="conv_transpose", strides=2), "float32"),
    "grad-input": (dict(spatial=(32, 32), in_channels=8, quantity="grad_input"), "float32"),
    "grad-weight": (dict(spatial=(32, 32), in_channels=8, quantity="grad_weight"), "float32"),
    "conv1d": (dict(spatial=(64,), kernel=5, in_channels=4), "float32"),
}


@pytest.mark.parametrize("fields, accumulation", CASES.values(), ids=CASES.keys())
def test_head_first_gives_the_whole_verdict(fields, accumulation):
    spec = ConvSpec(**{"kernel": 3, "out_channels": 8, "padding": "SAME", "dtype": "float32", **fields})
    operands = _operands(spec)
    reason, found = _judged(spec, operands, accumulation)
    expected = _whole_verdict(spec, operands, accumulation)
    assert (reason == "") == (expected is None)
    if expected is not None:
        assert f"with the {expected} passes" in reason
    if spec.quantity != "grad_weight" and not reason:  # every mutant ruled out by its head alone
        assert all("value" not in vars(m) for m in found) and all(m.rows for m in found)


def test_a_mutant_with_a_clean_head_is_computed_whole():
    """Zero input rows make the head of every mutant equal to the reference: only the whole shows them."""
    spec = ConvSpec(spatial=(32, 32), kernel=3, in_channels=8, out_channels=8, padding="SAME")
    operands = _operands(spec, zero_rows=8)
    reason, found = _judged(spec, operands, "float32")
    assert reason == "" and _whole_verdict(spec, operands, "float32") is None
    assert all(not m.head.any() for m in found) and all("value" in vars(m) for m in found)


def test_the_insensitive_reason_names_the_mutant_and_its_ratio():
    spec = ConvSpec(spatial=(32, 16), kernel=3, in_channels=512, out_channels=8, padding="SAME", dtype="float16")
    operands = _operands(spec)
    reason, _ = _judged(spec, operands, "float16")
    assert reason.startswith(f"insensitive: a reference with the {_whole_verdict(spec, operands, 'float16')} "
                             "passes this bound too (its error is ") and reason.endswith("x the bound)")


def _mutant_at(value: float):
    from parity.verdict.sensitivity import Mutant

    return Mutant("kernel flipped", lambda rows: np.array([value]))


def test_the_closeness_test_discounts_the_result_s_own_rounding():
    """A correctly rounded bfloat16 result is half an ULP from the truth: against a mutant 3 ULPs away it is
    not 10x closer raw, but it is the truth correctly rounded; a result that is the mutant correctly rounded,
    or a pair of two such results, is doubted (helper-25, helper-26)."""
    import ml_dtypes

    exact, bound = np.array([4.3593]), np.array([0.1])  # 0.0155 from bfloat16 4.34375: nearly half an ULP
    mutant = _mutant_at(4.3593 + 3 * 2.0 ** -5)  # 0.109 from 4.34375: 7x, not 10x, raw
    rounded = exact.astype(ml_dtypes.bfloat16)
    assert indistinct([(mutant, 1.3)], rounded, exact, bound, "bfloat16") == ""
    wrong = mutant.value.astype(ml_dtypes.bfloat16)
    assert "not 10 times closer" in indistinct([(mutant, 1.3)], wrong, exact, bound, "bfloat16")
    pair = indistinct([(mutant, 1.3)], wrong, wrong.copy(), 2 * bound, "bfloat16", exact, 2)
    assert "not 10 times closer to what it is compared with (0) than to that one (0)" in pair


@pytest.mark.parametrize("kernel, names", [
    ((1, 1), ["padding shifted to the start", "padding shifted to the end"]),
    ((2, 1), ["kernel flipped", "padding shifted to the start", "padding shifted to the end"]),
    ((2, 2), ["kernel flipped", "kernel axes transposed", "padding shifted to the start", "padding shifted to the end"]),
])
def test_every_kernel_wider_than_one_has_its_flip_judged(kernel, names):
    """A 2-tap kernel flipped is a different convolution (mutation testing, helper-37: 'max(kernel) > 2' survived)."""
    spec = ConvSpec(spatial=(5, 5), kernel=kernel, in_channels=2, out_channels=2, padding="SAME", dtype="float32")
    x, w = parity.generate(spec)
    assert [m.name for m in mutants(spec, reference(spec, x, w), x, w)] == names


def test_closeness_at_exactly_the_margin_counts_and_a_pair_nets_half_an_ulp_per_side():
    """Edges from mutation testing (helper-37): 10 times closer is closer; a pair's distance is net of two
    roundings, one per backend."""
    from parity.verdict.sensitivity import MARGIN, closer, farthest

    assert MARGIN == 10 and closer(1.0, 10.0) and not closer(1.0, 9.99)
    one_ulp = np.array([1 + 2.0 ** -23], np.float32)
    assert farthest(one_ulp, np.array([1.0], np.float32), np.ones(1), "float32", net=True, computations=2) == 0.0
    assert farthest(one_ulp, np.array([1.0], np.float32), np.ones(1), "float32", net=True) == 2.0 ** -24


def test_a_mutant_within_a_float32_bound_is_judged_however_close_it_lies():
    """A flipped kernel 2**-26 of the error scale from the truth is a different convolution that a float32 bound
    (about 2**-18 of the scale over 72 terms) cannot see: insensitive. Only a mutant within 2**-40 of the scale is
    the reference's own result (mutation testing, helper-37 N01: 2**-20 there survived)."""
    spec = ConvSpec(spatial=(6, 6), kernel=(3, 3), in_channels=8, out_channels=2, padding="SAME", dtype="float32")
    x = parity.generate(spec)[0]
    w = np.ones((2, 8, 3, 3), np.float32)
    w[:, :, 0, 0] = 1 + 2.0 ** -20  # flipped, the extra 2**-20 moves to tap (2, 2): 2**-20 / 72 taps of the scale
    reason, _ = _judged(spec, [x, w], "float32")
    assert reason.startswith("insensitive: a reference with the kernel flipped passes this bound too")


def test_a_mutant_equal_to_the_reference_where_a_window_holds_only_zeros_is_harmless():
    """A symmetric kernel's flip and transpose are the reference itself, also on outputs whose window holds only
    zeros (error scale 0): not judged, so a bound that rejects the padding mutants is sensitive (helper-37 N10:
    '<' for '<=' there made every such case insensitive)."""
    spec = ConvSpec(spatial=(9, 9), kernel=(3, 3), in_channels=2, out_channels=2, padding="SAME", dtype="float32")
    x = parity.generate(spec)[0]
    x[:, :, 2:7, 2:7] = 0  # the 3x3 windows centred on (3..5, 3..5) see zeros only
    w = np.ones((2, 2, 3, 3), np.float32)
    reason, found = _judged(spec, [x, w], "float32")
    assert reason == "" and [m.name for m in found][:2] == ["kernel flipped", "kernel axes transposed"]
    assert np.all(found[0].value == reference(spec, x, w).value)


def test_the_transposed_kernel_mutant_swaps_the_first_two_square_axes():
    """With a cubic kernel the mutant swaps the first two spatial axes of the kernel, as the module says
    (helper-37 N26: the last two survived); its value is the independent loops' result."""
    import conv_oracle as oracle

    spec = ConvSpec(spatial=(5, 5, 5), kernel=(3, 3, 3), in_channels=2, out_channels=2, padding="SAME",
                    dtype="float64")
    x, w = parity.generate(spec)
    transposed = [m for m in mutants(spec, reference(spec, x, w), x, w) if m.name == "kernel axes transposed"][0]
    pads = [(1, 1)] * 3
    np.testing.assert_allclose(transposed.value, oracle.forward(x, np.swapaxes(w, 2, 3), (1, 1, 1), pads), rtol=1e-12)
    assert not np.allclose(transposed.value, oracle.forward(x, np.swapaxes(w, 3, 4), (1, 1, 1), pads), rtol=1e-6)

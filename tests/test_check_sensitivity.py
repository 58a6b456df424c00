"""`parity check` where Y's bound is wide (a short type over long sums): a match must be evidence, so a Y that
a flipped kernel, a shifted padding or zeros would explain as well is "cannot tell", never "matches"."""
from __future__ import annotations

import re

import ml_dtypes
import numpy as np
import pytest

import conv_oracle as oracle
from parity.cli.main import main
from parity.porting.checking import check

RNG = np.random.default_rng(31)
SAME = ((1, 1), (1, 1))


def _case(dtype, channels):
    """x, w exact in ``dtype`` (float64), and the correctly rounded output, flipped output and zeros."""
    x, w = (RNG.standard_normal(shape).astype(dtype).astype(np.float64)
            for shape in ((1, channels, 8, 8), (8, channels, 3, 3)))
    right = oracle.forward(x, w, (1, 1), SAME).astype(dtype)
    flipped = oracle.forward(x, w, (1, 1), SAME, reverse=(0, 1)).astype(dtype)
    return x.astype(dtype), w.astype(dtype), {"right": right, "flipped": flipped, "zeros": np.zeros_like(right)}


@pytest.mark.parametrize("dtype, channels", [(ml_dtypes.bfloat16, 32), (np.float16, 256)])
def test_a_wide_bound_matches_only_a_y_far_closer_to_the_stated_conventions(dtype, channels):
    x, w, outputs = _case(dtype, channels)
    right = check(x, w, outputs["right"], padding="SAME")
    assert right.matches and re.search(r"(also admits|admits or rejects by less than 2x): kernel flipped \(0\.",
                                       right.doubt), right.format()
    assert " times closer to the stated conventions than to any of them" in right.doubt
    flipped = check(x, w, outputs["flipped"], padding="SAME")
    assert (flipped.matches, flipped.bound_ratio <= 1) == (False, True), flipped.format()  # within the bound
    assert " times closer to the result with the kernel flipped (" in flipped.doubt
    zeros = check(x, w, outputs["zeros"], padding="SAME")
    assert not zeros.matches and "Y is exactly an all-zero output, " in zeros.doubt
    assert zeros.format().splitlines()[1].startswith("cannot tell: ")


def test_a_bound_that_rejects_every_mistake_by_a_little_is_no_evidence_for_a_copied_channel():
    """bfloat16 over 144 terms: each mutant leaves the bound on a few elements, by less than 10x; a Y whose last
    output channel is a copy of the one before (64 of 512 outputs wrong) is within the bound (helper-22)."""
    import parity

    spec = parity.ConvSpec(spatial=(8, 8), in_channels=16, out_channels=8, kernel=3, padding="SAME",
                           dtype="bfloat16", seed=1)
    x, w = parity.generate(spec)
    right = oracle.forward(x.astype(np.float64), w.astype(np.float64), (1, 1), SAME).astype(ml_dtypes.bfloat16)
    copied = right.copy()
    copied[:, -1] = copied[:, -2]
    result = check(x, w, copied, padding="SAME")
    assert not result.matches and result.bound_ratio <= 1, result.format()
    assert "admits or rejects by less than 2x: " in result.doubt and "Y is not 10 times closer" in result.doubt
    right = check(x, w, right, padding="SAME")
    assert right.matches and "Y is the stated result correctly rounded, " in right.doubt, right.format()


def test_a_correctly_rounded_short_sum_of_positive_terms_is_evidence():
    """helper-25: bfloat16 depthwise 3x3 (9 terms), positive kernels over a smooth positive image: a flipped
    kernel's result is 2-5 ULPs away, just outside the bound; the correct result, half an ULP from the truth,
    was not 10x closer to it than to the flipped one (0.0154 vs 0.0885) and was 'cannot tell'. Distances net
    of half an ULP make it the truth correctly rounded."""
    scipy = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(8552)
    smooth = scipy.gaussian_filter(rng.random((1, 32, 16, 16)), [0, 0, 3, 3], mode="wrap")
    x = (0.5 + 0.3 * (smooth - smooth.min()) / (smooth.max() - smooth.min())).astype(ml_dtypes.bfloat16)
    w = np.abs(rng.normal(0, np.sqrt(2 / 9), (32, 1, 3, 3))).astype(ml_dtypes.bfloat16)
    exact = oracle.forward(x.astype(np.float64), w.astype(np.float64), (1, 1), ((0, 0), (0, 0)), groups=32)
    result = check(x, w, exact.astype(ml_dtypes.bfloat16), groups=32)
    assert result.matches and "rejects by less than 2x: kernel flipped (1." in result.doubt, result.format()


def test_a_narrow_bound_has_no_doubt():
    x, w, outputs = _case(np.float16, 8)
    assert check(x, w, outputs["right"], padding="SAME").doubt == ""
    assert not check(x, w, outputs["flipped"], padding="SAME").matches


def test_cannot_tell_exits_1_and_is_in_the_json(tmp_path, capsys):
    x, w, outputs = _case(np.float16, 256)
    for name, array in (("x", x), ("w", w), ("y", outputs["zeros"])):
        np.save(tmp_path / f"{name}.npy", array)
    code = main(["check", "--input", str(tmp_path / "x.npy"), "--kernel", str(tmp_path / "w.npy"), "--output",
                 str(tmp_path / "y.npy"), "--padding", "SAME", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 1 and "cannot tell: " in out and "sensitivity: the float16 bound over sums of 2304 terms" in out
    assert "compare a float32 run of the same call" in (tmp_path / "r.json").read_text()


def test_a_y_only_a_few_times_closer_to_the_stated_conventions_cannot_tell():
    x, w, outputs = _case(np.float16, 256)
    right, flipped = (outputs[name].astype(np.float64) for name in ("right", "flipped"))
    between = (right + 0.25 * (flipped - right)).astype(np.float16)  # 3x closer to the right result
    result = check(x, w, between, padding="SAME")
    assert not result.matches and result.bound_ratio <= 1, result.format()
    assert "Y is not 10 times closer to the stated result" in result.doubt


def test_a_float32_result_stored_as_float64_is_compared_as_float32():
    x, w = (RNG.standard_normal(shape).astype(np.float32) for shape in ((1, 4, 9, 9), (5, 4, 3, 3)))
    right = oracle.forward(x, w, (1, 1), SAME).astype(np.float32).astype(np.float64)
    result = check(x, w, right, padding="SAME")
    assert result.matches and result.dtype == "float32", result.format()
    assert result.read[-1] == "Y: float64 holding float32 values only: compared as float32, the type it was computed in"
    flipped = oracle.forward(x, w, (1, 1), SAME, reverse=(0, 1)).astype(np.float32).astype(np.float64)
    found = check(x, w, flipped, padding="SAME")
    assert [e.changes for e in found.explanations[:1]] == [("flip",)] and found.dtype == "float32"
    wrong = right + 1e-3  # not float32 values: compared as stored, float64
    assert check(x, w, wrong, padding="SAME").dtype == "float64"


def test_integer_data_stored_wide_is_compared_as_stored():
    x = 8.0 * RNG.integers(-4, 5, (1, 4, 9, 9))  # exact in float16, as is every result
    w = RNG.integers(-3, 4, (5, 4, 3, 3)).astype(np.float64)
    y = oracle.forward(x, w, (1, 1), SAME)
    y[0, 0, 0, 0] += 16  # wrong, and within float16's bound
    result = check(x, w, y, padding="SAME")
    assert not result.matches and result.dtype == "float64", result.format()


def test_a_bfloat16_result_stored_as_float32_is_compared_as_bfloat16():
    x, w = (RNG.standard_normal(shape).astype(ml_dtypes.bfloat16) for shape in ((1, 8, 9, 9), (5, 8, 3, 3)))
    y = oracle.forward(x, w, (1, 1), SAME).astype(ml_dtypes.bfloat16).astype(np.float32)
    result = check(x.astype(np.float32), w.astype(np.float32), y, padding="SAME")
    assert result.matches and result.dtype == "bfloat16", result.format()


def test_a_nan_input_leaves_the_evidence_check_on():
    x, w, _ = _case(np.float16, 256)
    x[0, 0, 7, 7] = np.nan
    flipped = oracle.forward(x, w, (1, 1), SAME, reverse=(0, 1)).astype(np.float16)
    result = check(x, w, flipped, padding="SAME")
    assert not result.matches and "kernel flipped" in result.doubt, result.format()

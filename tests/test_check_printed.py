"""parity.check on what people hold: printed arrays (their rounding in the bound, which must still reject
a wrong convention), arrays without their size-1 axes, the closest readings when none reproduces Y, and
messages that say what to state."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import conv_oracle as oracle
from parity.porting.checking import check
from parity.porting.printed import parse, read

EXAMPLE = Path(__file__).parent.parent / "examples" / "porting"
RNG = np.random.default_rng(5)


def _reshaped(printed, shape):
    from dataclasses import replace

    return replace(printed, array=printed.array.reshape(shape), rounding=printed.rounding.reshape(shape))


def _printout(a: np.ndarray, digits: int):
    """``a`` printed to ``digits`` significant digits and read back by parity.porting.printed (float32 declared)."""
    text = "array([" + ", ".join(f"{v:.{digits}g}" for v in a.reshape(-1)) + "], dtype=float32)"
    return _reshaped(parse(text), a.shape)


# --- the porting question of examples/porting: Julia and numpy printouts, squeezed axes, 6 digits -------------
def test_julia_port_printed_to_six_digits_is_a_flip():
    x, w, y = (read(str(EXAMPLE / name), name) for name in ("x.txt", "w.txt", "y.txt"))
    assert (x.format, w.format, y.format) == ("numpy", "julia", "julia")
    assert (x.array.shape, w.array.shape, y.array.shape) == ((5, 5, 3), (3, 3, 3), (3, 3))
    result = check(x, w, y, layout="HWC", kernel_layout="HWI")
    assert list(result.explanations[0].changes) == ["flip"], result.format()
    assert result.explanations[0].fix == "w = w[::-1, ::-1]"
    assert "Y was printed to 6 significant digits" in result.printing and "compared within that rounding" in \
        result.printing
    assert any("read as HWC: NHWC without its batch axis" in line for line in result.read)
    # Read as exact numbers, the printing's rounding is far above float64's bound: only a closest reading
    exact = check(x.array, w.array, y.array, layout="HWC", kernel_layout="HWI")
    first = exact.explanations[0]
    assert first.changes == ("flip",) and not first.matches and first.closest > 1e5, exact.format()


def test_flip_is_still_caught_with_six_digit_printing_on_realistic_data():
    x, w = RNG.standard_normal((1, 64, 10, 10)), RNG.standard_normal((8, 64, 3, 3))  # n = 576
    right = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1)))
    flipped = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1)), reverse=(0, 1))
    px, pw = _printout(x, 6), _printout(w, 6)
    good = check(px, pw, _printout(right, 6), padding="SAME")
    assert good.matches and not good.ambiguous, good.format()
    bad = check(px, pw, _printout(flipped, 6), padding="SAME")
    assert not bad.matches and bad.bound_ratio > 1e3 and bad.explanations[0].changes == ("flip",), bad.format()


def test_printing_too_coarse_to_tell_a_flip_apart_cannot_tell():
    x = RNG.standard_normal((1, 2, 8, 8))
    base = RNG.standard_normal((3, 2, 3, 3))
    w = base + base[:, :, ::-1, ::-1] + 1e-3 * RNG.standard_normal((3, 2, 3, 3))  # almost symmetric
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)))
    coarse = check(_printout(x, 2), _printout(w, 2), _printout(y, 2))
    assert not coarse.matches and "kernel flipped" in coarse.doubt and "print more digits" in coarse.doubt
    assert coarse.format().splitlines()[-2].startswith("cannot tell: ")
    fine = check(_printout(x, 8), _printout(w, 8), _printout(y, 8))
    assert fine.matches and not fine.ambiguous, fine.format()


def test_printed_output_only_widens_by_its_own_rounding():
    x, w = RNG.standard_normal((1, 3, 9, 9)).astype(np.float32), RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)))
    result = check(x, w, _printout(y, 5))
    assert result.matches and result.printing.startswith("Y was printed to 5 significant digits")
    assert not check(x, w, _printout(y + 1e-3 * np.abs(y).max(), 5)).matches  # 1e-3 is beyond 5 digits


# --- closest explanations -----------------------------------------------------------------------------------
def test_closest_reading_when_none_is_within_the_bound():
    x, w = RNG.standard_normal((1, 3, 10, 10)).astype(np.float32), RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)), reverse=(0, 1))
    y[0, 1, 2, 3] += 1e-3  # one element off: no convention gives it
    result = check(x, w, y.astype(np.float32))
    first = result.explanations[0]
    assert first.changes == ("flip",) and not first.matches and first.closest > 100
    assert "1 of 256 outputs" in first.location and "(0, 1, 2, 3)" in first.location
    text = result.format()
    assert "closest, best first" in text and "1. [closest, flip]" in text and "nothing explains" not in text


def test_nothing_explains_a_random_output_and_hints_at_what_was_assumed():
    x, w = RNG.standard_normal((1, 2, 8, 8)).astype(np.float32), RNG.standard_normal((2, 2, 3, 3)).astype(np.float32)
    result = check(x, w, RNG.standard_normal((1, 2, 8, 8)).astype(np.float32))
    assert result.explanations == () and "nothing explains Y" in result.format()
    assert "not stated, so assumed: padding VALID" in result.hint and "--padding" in result.hint


def test_an_image_without_its_batch_axis_read_as_ncw_gets_a_hint():
    x, w, y = (read(str(EXAMPLE / name), name) for name in ("x.txt", "w.txt", "y.txt"))
    with pytest.raises(ValueError, match=r"x \(5, 5, 3\) was read as NCW .* state --layout HWC") as raised:
        check(x, w, y)
    assert "\n" not in str(raised.value)


# --- squeezed shapes ----------------------------------------------------------------------------------------
def test_squeezed_layouts_are_read_and_stated():
    x, w = RNG.standard_normal((7, 6, 3)).astype(np.float32), RNG.standard_normal((3, 3, 3)).astype(np.float32)
    y = oracle.forward(np.moveaxis(x, -1, 0)[None], np.moveaxis(w, -1, 0)[None], (1, 1), ((0, 0), (0, 0)))[0, 0]
    result = check(x, w, y.astype(np.float32), layout="HWC")  # kernel layout inferred: HWIO without O
    assert result.matches, result.format()
    assert result.read == ("x: (7, 6, 3) read as HWC: NHWC without its batch axis (size 1)",
                           "w: (3, 3, 3) read as HWI: HWIO without its output-channel axis (size 1)",
                           "Y: (5, 4) read as HW: NHWC without its batch axis and channel axis (size 1)")
    chw = check(np.moveaxis(x, -1, 0), np.moveaxis(w, -1, 0), y.astype(np.float32), layout="CHW", kernel_layout="IHW")
    assert chw.matches and "read as IHW: OIHW without its output-channel axis" in chw.read[1]


def test_single_channel_kernel_of_one_axis():
    x = RNG.standard_normal((1, 1, 12)).astype(np.float32)
    w = RNG.standard_normal(3).astype(np.float32)
    y = np.convolve(x[0, 0].astype(np.float64), w.astype(np.float64), mode="valid")
    result = check(x, w, y.astype(np.float32)[None, None])
    assert result.explanations[0].changes == ("flip",) and "read as W: OIW without" in result.read[0]


@pytest.mark.parametrize("x_shape, w_shape, kwargs, message", [
    ((1, 2, 12), (3,), {}, "kernel read as OIW must have shape (O, 2, W)"),
    ((5, 5), (3, 3), {}, "input must have 3 to 5 dimensions"),
    ((5, 5, 3), (3, 3, 3), {"layout": "NHWC"}, "for rank 1"),
    ((5, 5, 3), (3, 3, 3), {"layout": "HWC", "kernel_layout": "HWX"}, "kernel_layout must be O, I and HW"),
    ((5, 5, 3), (3, 3), {"layout": "HWC", "kernel_layout": "HWI"}, "kernel read as HWI must have 3 axes"),
])
def test_messages_name_the_expected_shape_and_what_to_state(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError) as raised:
        check(np.ones(x_shape, np.float32), np.ones(w_shape, np.float32), np.ones((1, 1, 3), np.float32), **kwargs)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    if "OIW" in message:
        assert "--kernel-layout" in str(raised.value)


def test_huge_ulp_counts_say_what_they_mean():
    x, w = RNG.standard_normal((1, 1, 9)), RNG.standard_normal((1, 1, 3))
    y = -oracle.forward(x, w, (1,), ((0, 0),))  # every sign wrong
    text = check(x, w, y).format()
    assert "max_ulp >2^52 (a sign or a factor 2 apart)" in text and "9197" not in text


def test_readings_that_compute_the_same_are_no_ambiguity():
    x, w = RNG.standard_normal((1, 2, 6, 6)), RNG.standard_normal((3, 2, 1, 1))  # 1x1: flipped or dilated, the same
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)))
    result = check(_printout(x, 6), _printout(w, 6), _printout(y, 6))
    assert result.matches and result.ambiguous == "" and result.doubt == "", result.format()

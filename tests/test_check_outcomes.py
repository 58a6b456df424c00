"""parity.check's other outcomes: nothing explains Y (and where the error sits), float64 through the exact
path, bad input as one-line errors, the JSON fields, and a kernel layout that was not given."""
from __future__ import annotations

import numpy as np
import pytest

import conv_oracle as oracle
from check_support import first_changes, normal
from parity.porting.checking import check

RNG = np.random.default_rng(20240602)


def _normal(*shape, dtype=np.float32):
    return normal(RNG, *shape, dtype=dtype)


_first = first_changes


# --- nothing explains, and where the error sits ------------------------------------------------------------------
def test_unexplained_error_reports_its_location():
    x, w = _normal(1, 3, 10, 10), _normal(4, 3, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1))).astype(np.float32)
    y[:, 2, 0, :] += 5.0  # only the top row of channel 2, where the window overlaps the padding
    result = check(x, w, y, padding="SAME")
    assert not result.matches and result.explanations == ()
    assert "overlaps the padding" in result.location and "only in output channels 2" in result.location
    assert "nothing explains Y" in result.format()


def test_a_nan_at_the_border_is_not_called_a_padding_difference():
    x, w = _normal(1, 3, 10, 10), _normal(4, 3, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1))).astype(np.float32)
    y[0, 0, 0, 0] = np.nan
    result = check(x, w, y, padding="SAME")
    assert "Y holds NaN at 1 of 400 outputs" in result.location and "0 of 400 outputs (0%) exceed" in result.location
    assert "padding" not in result.location


def test_a_border_error_beside_an_interior_nan_is_not_called_a_padding_difference():
    x, w = _normal(1, 3, 10, 10), _normal(4, 3, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((1, 1), (1, 1))).astype(np.float32)
    y[0, 0, 0, 0] += 5.0
    y[0, 1, 5, 5] = np.nan
    result = check(x, w, y, padding="SAME")
    assert "1 of 400 outputs (0.25%) exceed" in result.location and "padding" not in result.location


def test_an_error_where_every_window_overlaps_the_padding_is_not_blamed_on_it():
    """3x3 input, 5x5 kernel, SAME: no output's window misses the padding, so that says nothing."""
    x, w = _normal(1, 2, 3, 3), _normal(2, 2, 5, 5)
    y = oracle.forward(x, w, (1, 1), ((2, 2), (2, 2))).astype(np.float32)
    y[0, 0, 1, 1] += 5.0
    result = check(x, w, y, padding="SAME")
    assert "1 of 18 outputs" in result.location and "padding" not in result.location


def test_random_output_has_no_explanation():
    x, w = _normal(1, 2, 8, 8), _normal(2, 2, 3, 3)
    result = check(x, w, _normal(1, 2, 6, 6))
    assert not result.matches and result.explanations == () and result.bound_ratio > 1
    assert result.searched > 0


def test_search_on_a_batch_prefix_is_confirmed_on_the_whole_batch(monkeypatch):
    from parity.porting import checking as module

    monkeypatch.setattr(module, "SEARCH_OUTPUTS", 1)  # the search sees the first batch element only
    x, w = _normal(4, 2, 8, 8), _normal(3, 2, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)), reverse=(0, 1)).astype(np.float32)
    assert _first(check(x, w, y)) == ["flip"]
    y[3] = oracle.forward(x[3:], w, (1, 1), ((0, 0), (0, 0)))[0]  # the last element is not flipped
    result = check(x, w, y)
    assert not result.matches and result.explanations == ()


# --- float64 goes through the exact path -------------------------------------------------------------------------
def test_float64_flip_is_confirmed_exactly():
    x, w = _normal(1, 2, 9, 9, dtype=np.float64), _normal(2, 2, 3, 3, dtype=np.float64)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)), reverse=(0, 1))
    result = check(x, w, y)
    assert _first(result) == ["flip"]
    assert result.explanations[0].bound_ratio <= 1


# --- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("x, w, y, kwargs, message", [
    (np.zeros((3, 4)), np.zeros((3, 4)), np.zeros((3, 4)), {}, "input must have 3 to 5 dimensions"),
    (np.zeros((1, 2, 5)), np.zeros((1, 2, 3, 3)), np.zeros((1, 1, 3)), {}, "kernel must have 3 dimensions"),
    (np.zeros((1, 2, 5), np.int32), np.zeros((1, 2, 3)), np.zeros((1, 1, 3)), {}, "input must be a float16"),
    (np.zeros((1, 2, 5)), np.zeros((1, 2, 3)), np.zeros((1, 1, 3)), {"strides": 0}, "strides must"),
    (np.zeros((1, 2, 5)), np.zeros((1, 2, 3)), np.zeros((1, 1, 3)), {"layout": "NHWC"}, "for rank 1"),
    (np.zeros((1, 2, 5)), np.zeros((1, 2, 3)), np.zeros((1, 1, 3)), {"kernel_layout": "OIH"}, "kernel_layout must"),
    (np.zeros((1, 2, 5)), np.zeros((1, 7, 3)), np.zeros((1, 1, 3)), {}, "no convention change tried"),
    # a short kernel layout must keep every spatial letter (OIHW on a 3-D case raised KeyError: 'D')
    (np.zeros((1, 2, 4, 4, 4)), np.zeros((3, 2, 3, 3)), np.zeros((1, 3, 2, 2, 2)), {"kernel_layout": "OIHW"},
     r"kernel_layout must be O, I and DHW in some order .* got 'OIHW'"),
    # a layout family on an input of no rank (7 axes raised KeyError: 11)
    (np.zeros((1, 2, 3, 3, 3, 3, 3)), np.zeros((3, 2, 3, 3)), np.zeros((1, 3, 2, 2)), {"layout": "channels_last"},
     r"input must have 3 to 5 dimensions .* to be read as channels_last, got shape \(1, 2, 3, 3, 3, 3, 3\)"),
])
def test_bad_input_is_one_line_value_error(x, w, y, kwargs, message):
    with pytest.raises(ValueError, match=message) as raised:
        check(x, w, y, **kwargs)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("layout", [" Channels_First ", "CHANNELS_FIRST", " ncw"])
def test_a_data_layout_is_read_without_case_or_surrounding_spaces(layout):
    assert check(np.zeros((1, 2, 5)), np.zeros((1, 2, 3)), np.zeros((1, 1, 3)), layout=layout).matches


def test_as_dict_has_the_documented_fields():
    x, w = _normal(1, 1, 30), _normal(1, 1, 4)
    y = oracle.forward(x, w, (1,), ((0, 0),), reverse=(0,)).astype(np.float32)
    report = check(x, w, y).as_dict()
    assert {"matches", "max_abs", "max_ulp", "bound_ratio", "explanations"} <= report.keys()
    assert report["matches"] is False and report["bound_ratio"] > 1
    first = report["explanations"][0]
    assert set(first) == {"changes", "matches", "max_abs", "max_ulp", "bound_ratio", "sentence", "fix", "closest",
                          "location"}
    assert first["changes"] == ["flip"] and first["matches"] is True and first["bound_ratio"] <= 1


def test_channels_last_data_with_a_pytorch_layout_kernel_is_found_when_the_kernel_layout_was_not_given():
    x_nhwc, w_oihw = _normal(1, 6, 6, 8), _normal(5, 8, 3, 3)
    y = oracle.channels_last(oracle.forward(np.moveaxis(x_nhwc, -1, 1), w_oihw, (1, 1), ((1, 1), (1, 1))))
    result = check(x_nhwc, w_oihw, y.astype(np.float32), padding="SAME")
    assert _first(result) == ["layout:NHWC", "kernel-layout:OIHW"]
    assert "The kernel, whose layout was not given, stays OIHW (it does not follow the data)." in \
        result.explanations[0].sentence

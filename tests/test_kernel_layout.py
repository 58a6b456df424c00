"""Kernel-layout strings, per-axis flips and padding spellings (parity.core.convert), and the numpy code
parity.adapters._codegen writes for them, checked element by element. Imports no framework."""
from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest

from parity.adapters import _codegen as codegen
from parity.core import convert

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def _arange(shape):
    return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("transposed", [False, True])
def test_every_permutation_maps_elements_to_canonical(rank, transposed):
    canonical = ("IO" if transposed else "OI") + SPATIAL[rank]
    sizes = dict(zip(canonical, (2, 3, 4, 5, 6)))
    for letters in permutations(canonical):
        name = "".join(letters)
        layout = convert.kernel_layout(name.lower(), rank, transposed)
        stored = _arange(tuple(sizes[c] for c in name))
        result = convert.kernel_to_canonical(stored, layout)
        assert result.shape == tuple(sizes[c] for c in canonical)
        for index in np.ndindex(*stored.shape):
            assert result[tuple(index[name.index(c)] for c in canonical)] == stored[index]
        np.testing.assert_array_equal(convert.kernel_from_canonical(result, layout, groups=1), stored)


def test_depthwise_layout_is_tensorflows_multiplier_order():
    channels, multiplier = 3, 2
    stored = _arange((4, 5, channels, multiplier))  # [kh, kw, in, multiplier]
    result = convert.kernel_to_canonical(stored, convert.kernel_layout("HWIM", 2))
    assert result.shape == (channels * multiplier, 1, 4, 5)
    for h, w, c, m in np.ndindex(*stored.shape):
        assert result[c * multiplier + m, 0, h, w] == stored[h, w, c, m]
    back = convert.kernel_from_canonical(result, convert.kernel_layout("HWIM", 2), groups=channels)
    np.testing.assert_array_equal(back, stored)


@pytest.mark.parametrize("name, rank, transposed", [("OIH", 2, False), ("HWIOX", 2, False), ("HWIM", 2, True),
                                                     ("OIW", 2, False), ("", 1, False), ("OOHW", 2, False)])
def test_bad_kernel_layouts_are_one_line_errors(name, rank, transposed):
    with pytest.raises(ValueError, match=f"kernel_layout must be a permutation .* got {name!r}"):
        convert.kernel_layout(name, rank, transposed)


@pytest.mark.parametrize("rank, channels_last, transposed, expected", [
    (1, False, False, "OIW"), (1, True, False, "WIO"), (2, False, False, "OIHW"), (2, True, False, "HWIO"),
    (2, False, True, "IOHW"), (2, True, True, "HWOI"), (3, True, False, "DHWIO"), (3, False, True, "IODHW")])
def test_default_kernel_layouts(rank, channels_last, transposed, expected):
    assert convert.default_kernel_layout(rank, channels_last, transposed).name == expected


def test_letter_permutation_and_flip_axes():
    assert convert.letter_permutation("NHWC", "NCHW") == (0, 3, 1, 2)
    w = _arange((2, 3, 4, 5))
    flipped = convert.flip_axes(w, (1,))
    for o, i, h, k in np.ndindex(*w.shape):
        assert flipped[o, i, h, k] == w[o, i, h, 4 - k]
    np.testing.assert_array_equal(convert.flip_axes(w, (0, 1)), convert.flip(w))


def test_padding_spellings():
    assert convert.pads_text(((2, 3), (0, 1))) == "2:3,0:1"
    assert convert.parse_pads(convert.pads_text(((2, 3), (0, 1))), 2) == ((2, 3), (0, 1))
    assert convert.numpy_pad_arg(((1, 2),), channels_last=True) == [(0, 0), (1, 2), (0, 0)]
    assert convert.numpy_pad_arg(((1, 2),), channels_last=False) == [(0, 0), (0, 0), (1, 2)]


# --- codegen: the printed conversions do what convert does ---------------------------------------------------
def _run(lines, **arrays):
    space = {"np": np, **arrays}
    exec("\n".join(lines), space)
    return space


@pytest.mark.parametrize("source, target", [("HWIO", "OIHW"), ("OIHW", "HWIO"), ("HWIM", "OIHW"),
                                            ("OIHW", "HWIM"), ("HWIM", "HWIO"), ("OIWH", "OIHW")])
def test_kernel_conversion_code(source, target):
    groups, canonical_shape = 3, (6, 1, 4, 5)
    w = _arange(canonical_shape)
    src, dst = (convert.kernel_layout(n, 2) for n in (source, target))
    stored = convert.kernel_from_canonical(w, src, groups)
    converted = _run(codegen.kernel(src, dst, canonical_shape, groups), w=stored)["w"]
    np.testing.assert_array_equal(convert.kernel_to_canonical(converted, dst), w)


@pytest.mark.parametrize("pads, channels_last", [(((1, 2), (0, 3)), False), (((1, 2), (0, 3)), True),
                                                 (((-1, 2), (0, -2)), False), (((-1, 0),), True)])
def test_pad_code_matches_pad_array(pads, channels_last):
    x = _arange((1, 2, 6, 7)[: 2 + len(pads)])
    channels_first = x
    if channels_last:
        x = np.moveaxis(x, 1, -1)
    result = _run([codegen.pad("y", pads, channels_last, source="x")], x=x)["y"]
    if channels_last:
        result = np.moveaxis(result, -1, 1)
    np.testing.assert_array_equal(result, convert.pad_array(channels_first, pads))


def test_transpose_code_and_index():
    assert codegen.transpose("x", "NHWC", "NCHW") == ["x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW"]
    assert codegen.transpose("x", "NCHW", "NCHW") == []
    assert codegen.index(4, {2: "::-1"}) == "[:, :, ::-1]"


def test_a_depthwise_layout_of_a_kernel_with_several_input_channels_per_group_is_named():
    """`parity record --kernel-layout HWIM` of a dense case said 'cannot reshape array of size 135' (helper-36)."""
    from parity.core import convert

    layout = convert.kernel_layout("HWIM", 2, False)
    with pytest.raises(ValueError, match=r"^kernel layout HWIM \(depthwise\) must come with one input channel per "
                                         r"group \(groups = input channels\), got 3 per group$"):
        convert.kernel_from_canonical(np.zeros((5, 3, 3, 3)), layout, 1)

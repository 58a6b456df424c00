"""parity.core.convert: layout, kernel, flip and padding translations. Imports no framework."""
from __future__ import annotations

import math
import subprocess
import sys
from itertools import product

import numpy as np
import pytest

from parity.core import convert
from parity.core.spec import ConvSpec

RANKS = (1, 2, 3)
SPATIAL = {1: (5,), 2: (4, 3), 3: (2, 3, 4)}
KERNEL = {1: (3,), 2: (2, 3), 3: (2, 2, 3)}


def _arange(shape):
    return np.arange(math.prod(shape), dtype=np.float64).reshape(shape)


# --- data layout -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rank", RANKS)
def test_channels_last_moves_channel_axis_and_round_trips(rank):
    x = _arange((2, 3, *SPATIAL[rank]))
    y = convert.to_channels_last(x)
    assert y.shape == (2, *SPATIAL[rank], 3)
    for n, c, *s in np.ndindex(*x.shape):
        assert y[(n, *s, c)] == x[(n, c, *s)]
    np.testing.assert_array_equal(convert.to_channels_first(y), x)
    z = _arange((2, *SPATIAL[rank], 3))
    np.testing.assert_array_equal(convert.to_channels_last(convert.to_channels_first(z)), z)


@pytest.mark.parametrize("family, rank, name", [
    ("channels_first", 1, "NCW"), ("channels_last", 1, "NWC"), ("channels_first", 2, "NCHW"),
    ("channels_last", 2, "NHWC"), ("channels_first", 3, "NCDHW"), ("channels_last", 3, "NDHWC")])
def test_layout_name_and_family(family, rank, name):
    assert convert.layout_name(family, rank) == name
    assert convert.layout_family(name, rank) == family
    assert convert.layout_family(name.lower(), rank) == family
    assert convert.layout_family(family, rank) == family


@pytest.mark.parametrize("name, rank", [("NHWC", 1), ("NCW", 2), ("NCHW", 3), ("HWCN", 2), ("", 2)])
def test_layout_family_rejects_wrong_rank_or_name(name, rank):
    with pytest.raises(ValueError, match=f"rank {rank}"):
        convert.layout_family(name, rank)


# --- kernels -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rank", RANKS)
def test_spatial_first_kernel_element_mapping_and_round_trip(rank):
    w = _arange((5, 3, *KERNEL[rank]))  # (O, I, *k)
    spec = ConvSpec(spatial=(9,) * rank, kernel=KERNEL[rank], in_channels=3, out_channels=5)
    dims = convert.dimensions_for(spec, "channels_last", "spatial_first")
    assert dims.kernel.name == "DHW"[3 - rank:] + "IO" and dims.data == "N" + "DHW"[3 - rank:] + "C"
    w_tf = dims.kernel_from_canonical(w, 1)
    assert w_tf.shape == (*KERNEL[rank], 3, 5)
    for o, i, *k in np.ndindex(*w.shape):
        assert w_tf[(*k, i, o)] == w[(o, i, *k)]
    np.testing.assert_array_equal(dims.kernel_to_canonical(w_tf), w)


@pytest.mark.parametrize("rank, channels, multiplier", [(1, 3, 2), (2, 3, 2), (2, 4, 1), (3, 2, 3)])
def test_depthwise_to_tf_element_mapping_and_round_trip(rank, channels, multiplier):
    w = _arange((channels * multiplier, 1, *KERNEL[rank]))
    spec = ConvSpec(spatial=(9,) * rank, kernel=KERNEL[rank], in_channels=channels, out_channels=channels * multiplier,
                    groups=channels)
    dims = convert.dimensions_for(spec, kernel="depthwise")
    w_tf = dims.kernel_from_canonical(w, channels)
    assert w_tf.shape == (*KERNEL[rank], channels, multiplier)
    for *k, c, m in np.ndindex(*w_tf.shape):
        assert w_tf[(*k, c, m)] == w[(c * multiplier + m, 0, *k)]
    back = dims.kernel_to_canonical(w_tf)
    assert back.shape == w.shape
    np.testing.assert_array_equal(back, w)


@pytest.mark.parametrize("rank", RANKS)
def test_flip_reverses_spatial_axes_only(rank):
    w = _arange((2, 3, *KERNEL[rank]))
    flipped = convert.flip(w)
    np.testing.assert_array_equal(flipped, np.flip(w, axis=tuple(range(2, 2 + rank))))
    for o, i, *k in np.ndindex(*w.shape):
        mirrored = tuple(size - 1 - j for size, j in zip(KERNEL[rank], k))
        assert flipped[(o, i, *mirrored)] == w[(o, i, *k)]
    np.testing.assert_array_equal(convert.flip(flipped), w)


@pytest.mark.parametrize("n, k", [(7, 3), (10, 4), (5, 5), (9, 1)])
def test_flip_turns_np_convolve_into_cross_correlation(n, k):
    rng = np.random.default_rng(n * 10 + k)
    x = rng.integers(-9, 10, n).astype(np.float64)
    w = rng.integers(-9, 10, (1, 1, k)).astype(np.float64)
    correlation = [sum(x[i + j] * w[0, 0, j] for j in range(k)) for i in range(n - k + 1)]
    np.testing.assert_array_equal(np.convolve(x, convert.flip(w)[0, 0], "valid"), correlation)
    if k > 1 and not np.array_equal(w[0, 0], w[0, 0, ::-1]):  # without the flip it is a different result
        assert not np.array_equal(np.convolve(x, w[0, 0], "valid"), correlation)


@pytest.mark.parametrize("kernel, dilations", [((3,), (2,)), ((2, 3), (3, 2)), ((2, 2, 2), (1, 2, 3)),
                                               ((3, 3), (1, 1))])
def test_dilate_spatial_inserts_zeros(kernel, dilations):
    w = _arange((2, 3, *kernel)) + 1  # no zero taps
    out = convert.dilate_spatial(w, dilations)
    assert out.shape == (2, 3, *((k - 1) * d + 1 for k, d in zip(kernel, dilations)))
    for o, i, *pos in np.ndindex(*out.shape):
        on_tap = all(p % d == 0 for p, d in zip(pos, dilations))
        expected = w[(o, i, *(p // d for p, d in zip(pos, dilations)))] if on_tap else 0.0
        assert out[(o, i, *pos)] == expected


# --- padding -----------------------------------------------------------------------------------------------
def _brute_same(n, k, s, d):
    """Smallest total padding giving ceil(n/s) outputs, found by search; start gets total // 2."""
    span = (k - 1) * d + 1
    total = next(t for t in range(0, span + s + 1) if (n + t - span) >= 0 and (n + t - span) // s + 1 >= -(-n // s))
    return total // 2, total - total // 2


@pytest.mark.parametrize("n, k, s, d", list(product(range(1, 14), (1, 2, 3, 4, 7), (1, 2, 3), (1, 2, 3))))
def test_same_pads_match_brute_force(n, k, s, d):
    lo, hi = convert.same_pads(n, k, s, d)
    assert (lo, hi) == _brute_same(n, k, s, d)
    assert (n + lo + hi - (k - 1) * d - 1) // s + 1 == math.ceil(n / s)
    assert convert.same_pads(n, k, s, d, lower=True) == (hi, lo)


@pytest.mark.parametrize("n, k, s, d, same", [
    (224, 7, 2, 1, (2, 3)),   # tensornets #25: odd total, the extra goes at the end
    (9, 4, 2, 1, (1, 2)), (8, 4, 2, 1, (1, 1)), (16, 2, 3, 1, (0, 1)), (11, 3, 1, 3, (3, 3)),
    (10, 1, 4, 1, (0, 0)), (7, 2, 1, 1, (0, 1))])
def test_same_pads_known_values(n, k, s, d, same):
    assert convert.same_pads(n, k, s, d) == same
    assert convert.same_pads(n, k, s, d, lower=True) == same[::-1]


def test_explicit_pads_every_mode():
    spatial, kernel, strides, dilations = (9, 8), (4, 3), (2, 1), (1, 2)
    # SAME axis 0: ceil(9/2)=5, total = 4*2 + 3 + 1 - 9 = 3; axis 1: span 5, total = 7*1 + 5 - 8 = 4
    expected = {"VALID": ((0, 0), (0, 0)), "SAME": ((1, 2), (2, 2)), "SAME_LOWER": ((2, 1), (2, 2)),
                "FULL": ((3, 3), (4, 4))}
    for mode, pads in expected.items():
        assert convert.explicit_pads(mode, spatial, kernel, strides, dilations) == pads, mode
    assert convert.explicit_pads("CAUSAL", (20,), (3,), (1,), (4,)) == ((8, 0),)
    assert convert.explicit_pads(((1, 2), (0, 5)), spatial, kernel, strides, dilations) == ((1, 2), (0, 5))
    with pytest.raises(ValueError, match="'REFLECT'"):
        convert.explicit_pads("REFLECT", spatial, kernel, strides, dilations)


@pytest.mark.parametrize("text, rank, pads", [
    ("1:2,0:1", 2, ((1, 2), (0, 1))), ("3", 3, ((3, 3),) * 3), ("1:2", 2, ((1, 2), (1, 2))),
    (" 1 : 2 , 0:1 ", 2, ((1, 2), (0, 1))), ("0", 1, ((0, 0),)), ("4,5", 2, ((4, 4), (5, 5))),
    ("10:0,0:10,2:2", 3, ((10, 0), (0, 10), (2, 2)))])
def test_parse_pads_good(text, rank, pads):
    assert convert.parse_pads(text, rank) == pads


@pytest.mark.parametrize("text, rank", [("x", 1), ("1:2:3", 1), ("1,2,3", 2), ("-1:0", 1), ("", 1), ("1:", 1),
                                        ("1:2,0:1", 1), ("1;2", 1), ("0:-2,1", 2)])
def test_parse_pads_bad(text, rank):
    with pytest.raises(ValueError) as info:
        convert.parse_pads(text, rank)
    assert "padding" in str(info.value) and repr(text) in str(info.value)


@pytest.mark.parametrize("padding, slug", [
    ("SAME", "same"), ("SAME_LOWER", "samelower"), ("VALID", "valid"), ("CAUSAL", "causal"), ("FULL", "full"),
    (((1, 2), (0, 1)), "p12x01"), (((10, 2),), "p10.2"), (((1, 12),), "p1.12"), (((11, 2),), "p11.2")])
def test_padding_slug(padding, slug):
    assert convert.padding_slug(padding) == slug


def test_padding_slugs_are_distinct_for_distinct_pads():
    pads = [tuple(p) for p in product(product((0, 1, 2, 10, 11, 12), repeat=2), repeat=2)]
    assert len({convert.padding_slug(p) for p in pads}) == len(pads)


@pytest.mark.parametrize("pads, expected", [(((1, 1), (2, 2)), (1, 2)), (((0, 0),), (0,)), (((0, 1),), None),
                                            (((1, 1), (1, 2)), None), (((3, 3),) * 3, (3, 3, 3))])
def test_symmetric_pads(pads, expected):
    assert convert.symmetric_pads(pads) == expected


@pytest.mark.parametrize("pads, arg", [(((1, 2),), (1, 2)), (((1, 2), (3, 4)), (3, 4, 1, 2)),
                                       (((1, 2), (3, 4), (5, 6)), (5, 6, 3, 4, 1, 2))])
def test_torch_pad_arg_starts_from_last_axis(pads, arg):
    assert convert.torch_pad_arg(pads) == arg
    # F.pad semantics: the first pair pads the last axis; emulate it with np.pad and compare with pad_array.
    x = _arange((1, 1, *(3,) * len(pads)))
    pairs = [arg[i:i + 2] for i in range(0, len(arg), 2)][::-1]
    np.testing.assert_array_equal(np.pad(x, [(0, 0), (0, 0), *pairs]), convert.pad_array(x, pads))


TF_GEOMETRY = dict(spatial=(9, 8), kernel=(4, 4), strides=(2, 2), dilations=(1, 1))  # SAME = ((1, 2), (1, 1))


@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "channels_first"])
def test_tf_padding(channels_last):
    g = TF_GEOMETRY
    assert convert.tf_padding(((1, 2), (1, 1)), **g, channels_last=channels_last) == "SAME"
    assert convert.tf_padding(((0, 0), (0, 0)), **g, channels_last=channels_last) == "VALID"
    for pads in (((2, 1), (1, 1)), ((1, 1), (1, 1)), ((1, 2), (1, 2)), ((0, 0), (0, 1))):
        body = [list(p) for p in pads]
        expected = [[0, 0], *body, [0, 0]] if channels_last else [[0, 0], [0, 0], *body]
        assert convert.tf_padding(pads, **g, channels_last=channels_last) == expected


@pytest.mark.parametrize("rank", RANKS)
def test_tf_padding_axis_order_per_rank(rank):
    pads = tuple((i + 1, i + 3) for i in range(rank))  # neither VALID nor SAME
    args = dict(spatial=(6,) * rank, kernel=(3,) * rank, strides=(1,) * rank, dilations=(1,) * rank)
    assert convert.tf_padding(pads, **args, channels_last=True) == \
        [[0, 0]] + [[i + 1, i + 3] for i in range(rank)] + [[0, 0]]
    assert convert.tf_padding(pads, **args, channels_last=False) == \
        [[0, 0], [0, 0]] + [[i + 1, i + 3] for i in range(rank)]
    assert convert.tf_padding(((1, 1),) * rank, **args, channels_last=True) == "SAME"


def test_convert_imports_no_framework():
    code = ("import sys, parity.core.convert\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'tensorflow', 'jax', 'keras'))\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("pads, expected", [
    (((-2, 2),), [0.0]),            # the crop reaches into the padding of the other end
    (((2, -2),), [0.0]),            # two zeros in front, then the last two elements cut
    (((-1, -1),), []),
    (((1, -1),), [0.0]),
])
def test_pad_array_pads_before_cropping(pads, expected):
    out = convert.pad_array(np.full((1, 1, 1), 7.0), pads)
    assert out.shape == (1, 1, len(expected)) and out[0, 0].tolist() == expected

"""ConvSpec: normalization of user spellings, validation messages, derived geometry, slugs, immutability."""
from __future__ import annotations

import dataclasses
import json
import math
import re
from itertools import product

import ml_dtypes
import numpy as np
import pytest

from parity.core.spec import ConvSpec


# --- normalization -------------------------------------------------------------------------------------------
def test_ints_broadcast_to_every_spatial_axis():
    spec = ConvSpec(spatial=(9, 8, 7), kernel=3, strides=2, dilations=1)
    assert spec.kernel == (3, 3, 3)
    assert spec.strides == (2, 2, 2)
    assert spec.dilations == (1, 1, 1)
    assert spec.spatial == (9, 8, 7)


def test_lists_become_tuples():
    spec = ConvSpec(spatial=[9, 8], kernel=[3, 2], strides=[1, 2], dilations=[2, 1])
    assert (spec.spatial, spec.kernel, spec.strides, spec.dilations) == ((9, 8), (3, 2), (1, 2), (2, 1))
    assert all(type(v) is tuple for v in (spec.spatial, spec.kernel, spec.strides, spec.dilations))


@pytest.mark.parametrize("spatial, layout, family", [
    ((9,), "NWC", "channels_last"), ((9,), "NCW", "channels_first"),
    ((9, 8), "NHWC", "channels_last"), ((9, 8), "nchw", "channels_first"),
    ((5, 6, 7), "NDHWC", "channels_last"), ((5, 6, 7), "NCDHW", "channels_first"),
    ((9, 8), "channels_last", "channels_last"), ((9, 8), "channels_first", "channels_first"),
])
def test_layout_names_normalize_to_family(spatial, layout, family):
    assert ConvSpec(spatial=spatial, kernel=1, layout=layout).layout == family


@pytest.mark.parametrize("alias, name", [
    ("f32", "float32"), ("f16", "float16"), ("bf16", "bfloat16"), ("f64", "float64"), ("half", "float16"),
    ("single", "float32"), ("double", "float64"), ("float", "float32"), ("torch.float16", "float16"),
    ("tf.bfloat16", "bfloat16"), (np.float32, "float32"), (np.dtype("float64"), "float64"),
    (ml_dtypes.bfloat16, "bfloat16"), ("bfloat16", "bfloat16"),
], ids=str)
def test_dtype_aliases(alias, name):
    assert ConvSpec(spatial=(4,), kernel=1, dtype=alias).dtype == name


@pytest.mark.parametrize("spatial, padding, pads", [
    ((9, 8), "1:2,0:1", ((1, 2), (0, 1))),
    ((9, 8), "2", ((2, 2), (2, 2))),
    ((9, 8), 1, ((1, 1), (1, 1))),
    ((9, 8), [1, (0, 2)], ((1, 1), (0, 2))),
    ((9,), [[3, 0]], ((3, 0),)),
    ((5, 6, 7), "0:1,1:0,2:2", ((0, 1), (1, 0), (2, 2))),
], ids=["string-pairs", "string-int", "int", "mixed-list", "list-of-lists", "rank3-string"])
def test_explicit_padding_normalizes_to_pairs(spatial, padding, pads):
    spec = ConvSpec(spatial=spatial, kernel=1, padding=padding)
    assert spec.padding == pads
    assert spec.pads == pads


@pytest.mark.parametrize("text, mode", [("same", "SAME"), (" valid ", "VALID"), ("Same_Lower", "SAME_LOWER"),
                                        ("full", "FULL"), ("causal", "CAUSAL")])
def test_padding_modes_are_case_insensitive(text, mode):
    assert ConvSpec(spatial=(9,), kernel=3, padding=text).padding == mode


# --- validation ----------------------------------------------------------------------------------------------
BASE = dict(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4)
INVALID = {
    "groups-in": (dict(groups=3, out_channels=3), ["groups=3", "in_channels=4", "divide"]),
    "groups-out": (dict(groups=2, out_channels=3), ["groups=2", "out_channels=3", "divide"]),
    "output-empty": (dict(spatial=(3,), kernel=5), ["output size", "input 3", "dilated kernel 5", ">= 1"]),
    "output-empty-dilated": (dict(spatial=(5,), dilations=3), ["output size", "input 5", "dilated kernel 7"]),
    "causal-rank2": (dict(padding="CAUSAL"), ["padding='CAUSAL'", "rank 1", "got rank 2"]),
    "negative-pad-pairs": (dict(padding=((-1, 0), (0, 0))), ["padding", ">= 0", "-1"]),
    "negative-pad-int": (dict(padding=-2), ["padding", ">= 0", "-2"]),
    "negative-pad-string": (dict(padding="-1:0,0:0"), ["padding", "non-negative", "'-1:0,0:0'"]),
    "pad-count": (dict(padding=((1, 1),)), ["padding", "per spatial axis (2)", "((1, 1),)"]),
    "pad-text": (dict(padding="bogus"), ["padding", "VALID", "'bogus'"]),
    "pad-none": (dict(padding=None), ["padding", "None"]),
    "pad-float": (dict(padding=1.5), ["padding", "1.5"]),
    "pad-bool": (dict(padding=True), ["padding", "True"]),
    "pad-bool-item": (dict(padding=[True, 1]), ["padding", "True"]),
    "layout-rank": (dict(spatial=(6,), layout="NHWC"), ["layout", "'NHWC'", "rank 1", "NWC"]),
    "layout-rank3": (dict(spatial=(4, 4, 4), layout="NCHW"), ["layout", "'NCHW'", "rank 3", "NCDHW"]),
    "layout-unknown": (dict(layout="HWCN"), ["layout", "'HWCN'", "NHWC"]),
    "int-too-long-bf16": (dict(spatial=(5, 5), in_channels=32, out_channels=1, dtype="bf16", distribution="int"),
                          ["distribution='int'", "256", "bfloat16", "288"]),
    "int-too-long-f16": (dict(spatial=(5, 5), in_channels=228, out_channels=1, dtype="f16", distribution="int"),
                         ["distribution='int'", "2048", "float16", "2052"]),
    "bool-channels": (dict(in_channels=True, out_channels=1), ["in_channels", "True", ">= 1"]),
    "bool-kernel": (dict(kernel=True), ["kernel", "True"]),
    "bool-stride-item": (dict(strides=(1, True)), ["strides", ">= 1", "(1, True)"]),
    "bool-groups": (dict(groups=True), ["groups", "True"]),
    "bool-seed": (dict(seed=False), ["seed", "False", ">= 0"]),
    "bool-spatial": (dict(spatial=(True, 4)), ["spatial", "(True, 4)"]),
    "rank4": (dict(spatial=(4, 4, 4, 4)), ["spatial", "1 to 3", "(4, 4, 4, 4)"]),
    "rank0": (dict(spatial=()), ["spatial", "()"]),
    "kernel-zero": (dict(kernel=0), ["kernel", ">= 1", "0"]),
    "kernel-length": (dict(kernel=(3, 3, 3)), ["kernel", "one entry per spatial axis (2)", "(3, 3, 3)"]),
    "dilation-negative": (dict(dilations=-1), ["dilations", ">= 1", "-1"]),
    "batch-zero": (dict(batch=0), ["batch", ">= 1", "0"]),
    "dtype": (dict(dtype="f8"), ["dtype", "'f8'", "float32"]),
    "dtype-int": (dict(dtype=np.int32), ["dtype", "int32", "float16"]),
    "distribution": (dict(distribution="uniform"), ["distribution", "'uniform'", "normal"]),
    "seed-negative": (dict(seed=-1), ["seed", "-1", ">= 0"]),
}


@pytest.mark.parametrize("changes, fragments", INVALID.values(), ids=INVALID.keys())
def test_invalid_spec_raises_value_error_naming_field_value_rule(changes, fragments):
    with pytest.raises(ValueError) as info:
        ConvSpec(**{**BASE, **changes})
    message = str(info.value)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in {message!r}"


def test_int_distribution_at_the_limit_is_accepted():
    # bfloat16: p = 8, so n = 256 = 2**8 is the longest accumulation that stays exact.
    spec = ConvSpec(spatial=(4, 4), kernel=4, in_channels=16, dtype="bf16", distribution="int")
    assert spec.accumulation_length == 16 * 4 * 4 == 2 ** 8


# --- derived geometry, worked by hand ----------------------------------------------------------------------
# Each row: spec arguments, then pads, output_shape and accumulation length worked from the formulas
# (SAME total = max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0), lo = total//2; out = (n+lo+hi-span)//s + 1).
WORKED = {
    # n=9: ceil(9/2)=5, total=4*2+3+1-9=3 -> (1,2), out (9+3-4)//2+1=5; n=8: total=3*2+4-8=2 -> (1,1), out 4
    "same-s2-k4": (dict(spatial=(9, 8), kernel=4, strides=2, padding="SAME", in_channels=4, out_channels=8,
                        batch=2), ((1, 2), (1, 1)), (2, 8, 5, 4), 4 * 16),
    "same-lower-s2-k4": (dict(spatial=(9, 8), kernel=4, strides=2, padding="SAME_LOWER", in_channels=4,
                              out_channels=8, batch=2), ((2, 1), (1, 1)), (2, 8, 5, 4), 4 * 16),
    # tensornets #25: n=224, k=7, s=2: total = 111*2 + 7 - 224 = 5 -> (2, 3), out 112
    "same-224-k7-s2": (dict(spatial=(224,), kernel=7, strides=2, padding="SAME", in_channels=3),
                       ((2, 3),), (1, 1, 112), 21),
    # span = 2*(3-1)+1 = 5: FULL pads 4 both sides, out = 11+8-5+1 = 15
    "full-d2": (dict(spatial=(11,), kernel=3, dilations=2, padding="FULL", in_channels=2, out_channels=3),
                ((4, 4),), (1, 3, 15), 6),
    # Keras causal: (k-1)*d = 8 on the left, out = 20 + 8 - 9 + 1 = 20
    "causal-d4": (dict(spatial=(20,), kernel=3, dilations=4, padding="CAUSAL", in_channels=2, out_channels=3,
                       batch=3), ((8, 0),), (3, 3, 20), 6),
    # VALID, stride 2: ((5-3)//2+1, (6-3)//2+1, (7-3)//2+1) = (2, 2, 3); groups 2 -> n = 4/2 * 27
    "valid-3d-grouped": (dict(spatial=(5, 6, 7), kernel=3, strides=2, in_channels=4, out_channels=6, groups=2),
                         ((0, 0),) * 3, (1, 6, 2, 2, 3), 2 * 27),
    # explicit: (5+1+2-3+1, 5+0+1-3+1) = (6, 4); depthwise -> n = 1 * 9
    "explicit-depthwise": (dict(spatial=(5, 5), kernel=3, padding="1:2,0:1", in_channels=3, out_channels=6,
                                groups=3), ((1, 2), (0, 1)), (1, 6, 6, 4), 9),
    # SAME_LOWER k=2 s=3 n=16: ceil=6, total = 5*3+2-16 = 1 -> (1, 0), out (16+1-2)//3+1 = 6
    "same-lower-s3-k2": (dict(spatial=(16,), kernel=2, strides=3, padding="SAME_LOWER"), ((1, 0),), (1, 1, 6), 2),
    # SAME where the total would be negative: k=1 s=4 n=10 -> (0,0), out ceil(10/4) = 3
    "same-clamped": (dict(spatial=(10,), kernel=1, strides=4, padding="SAME"), ((0, 0),), (1, 1, 3), 1),
}


@pytest.mark.parametrize("kwargs, pads, output_shape, n", WORKED.values(), ids=WORKED.keys())
def test_hand_worked_geometry(kwargs, pads, output_shape, n):
    spec = ConvSpec(**kwargs)
    assert spec.pads == pads
    assert spec.output_shape == output_shape
    assert spec.accumulation_length == n
    assert spec.input_shape == (spec.batch, spec.in_channels, *kwargs["spatial"])
    assert spec.kernel_shape == (spec.out_channels, spec.in_channels // spec.groups, *spec.kernel)


@pytest.mark.parametrize("n, k, s, d", list(product((1, 5, 8, 13), (1, 2, 3), (1, 2, 3), (1, 2))),
                         ids=lambda v: str(v))
def test_same_output_is_ceil_n_over_s(n, k, s, d):
    for mode in ("SAME", "SAME_LOWER"):
        assert ConvSpec(spatial=(n,), kernel=k, strides=s, dilations=d, padding=mode).output_spatial == \
            (math.ceil(n / s),)


def test_depthwise_flag():
    assert ConvSpec(spatial=(5,), kernel=1, in_channels=3, out_channels=6, groups=3).is_depthwise
    assert not ConvSpec(spatial=(5,), kernel=1, in_channels=4, out_channels=4, groups=2).is_depthwise
    assert not ConvSpec(spatial=(5,), kernel=1).is_depthwise


# --- slug, equality, immutability, serialization -------------------------------------------------------------
def test_slug_is_readable():
    spec = ConvSpec(spatial=(9, 9), kernel=4, strides=2, padding="SAME", in_channels=4, out_channels=8,
                    layout="NHWC", dtype="f32", distribution="normal")
    assert spec.slug().startswith("conv2d-nhwc-same-s2-d1-g1-k4x4")
    assert spec.slug() == "conv2d-nhwc-same-s2-d1-g1-k4x4-n1c4x9x9-o8-f32-normal"
    assert dataclasses.replace(spec, seed=7).slug().endswith("-seed7")
    explicit = ConvSpec(spatial=(9, 9), kernel=3, padding="1:2,0:1", dtype="bf16", distribution="int")
    assert explicit.slug() == "conv2d-nchw-p12x01-s1-d1-g1-k3x3-n1c1x9x9-o1-bf16-int"


def _variety() -> list[ConvSpec]:
    specs = []
    for rank, padding, stride, dilation, dtype, layout, dist, seed in product(
            (1, 2, 3), ("VALID", "SAME", "SAME_LOWER", "FULL", "1:12", "11:2", "1:1"), (1, 2), (1, 2),
            ("f32", "bf16"), ("channels_first", "channels_last"), ("normal", "int", "wide"), (0, 1)):
        specs.append(ConvSpec(spatial=(9,) * rank, kernel=2, strides=stride, dilations=dilation,
                              padding=padding, dtype=dtype, layout=layout, distribution=dist, seed=seed))
    for rank, (groups, out) in product((1, 2), ((1, 4), (2, 4), (4, 4), (4, 8))):
        specs.append(ConvSpec(spatial=(7,) * rank, kernel=3, in_channels=4, out_channels=out, groups=groups))
    specs += [ConvSpec(spatial=(12, 3), kernel=1), ConvSpec(spatial=(1, 23), kernel=1),
              ConvSpec(spatial=(123,), kernel=1), ConvSpec(spatial=(3,), kernel=1, in_channels=12),
              ConvSpec(spatial=(8, 8), kernel=(1, 3)), ConvSpec(spatial=(8, 8), kernel=(3, 1)),
              ConvSpec(spatial=(8, 8), kernel=3, strides=(1, 2)), ConvSpec(spatial=(8, 8), kernel=3, strides=(2, 1))]
    return specs


def test_slugs_are_unique_and_readable():
    specs = _variety()
    distinct = set(specs)
    slugs = {spec.slug() for spec in distinct}
    assert len(distinct) > 1000
    assert len(slugs) == len(distinct)
    for slug in slugs:
        assert re.fullmatch(r"[a-z0-9.x-]+", slug), slug


def test_equal_spellings_give_equal_hashable_specs():
    a = ConvSpec(spatial=(9, 8), kernel=3, strides=2, padding="same", layout="NHWC", dtype="f32")
    b = ConvSpec(spatial=[9, 8], kernel=(3, 3), strides=(2, 2), padding="SAME", layout="channels_last",
                 dtype="float32")
    assert a == b and hash(a) == hash(b) and a.slug() == b.slug()
    assert a != dataclasses.replace(a, seed=1)


@pytest.mark.parametrize("field, value", [("groups", 2), ("padding", "SAME"), ("spatial", (3, 3)), ("seed", 5)])
def test_spec_is_frozen(field, value):
    spec = ConvSpec(spatial=(9, 8), kernel=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(spec, field, value)
    assert spec == ConvSpec(spatial=(9, 8), kernel=3)


@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 8), kernel=4, strides=2, padding="SAME", layout="NHWC", dtype="f32"),
    ConvSpec(spatial=(9, 8), kernel=(3, 2), padding="1:2,0:1", in_channels=4, out_channels=6, groups=2, seed=3),
    ConvSpec(spatial=(20,), kernel=3, dilations=4, padding="CAUSAL", dtype="bf16", distribution="int"),
    ConvSpec(spatial=(5, 6, 7), kernel=3, padding="FULL", dtype="f64", distribution="wide", batch=2),
], ids=lambda spec: spec.slug())
def test_as_dict_round_trip(spec):
    data = spec.as_dict()
    assert ConvSpec(**data) == spec
    assert ConvSpec(**json.loads(json.dumps(data))) == spec
    assert set(data) == {f.name for f in dataclasses.fields(ConvSpec)}
    assert data["kernel"] == list(spec.kernel)


@pytest.mark.parametrize("changes, field, rule", [
    ({"strides": 0}, "strides", "must contain only ints >= 1, got 0"),
    ({"dtype": "f33"}, "dtype", "must be one of "),
    ({"padding": "HALF"}, "padding", "must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or 'lo:hi"),
    ({"layout": "NCDHW"}, "layout", "must be one of NCHW, NHWC, channels_first, channels_last for rank 2"),
    ({"seed": -1}, "seed", "must be an int >= 0, got -1"),
])
def test_a_bad_field_says_its_field_and_rule_apart(changes, field, rule):
    """A front end renames the field (the CLI's --strides) from these attributes, not from the message."""
    from parity.core.errors import FieldError

    with pytest.raises(FieldError) as raised:
        ConvSpec(spatial=(5, 5), kernel=3, **changes)
    assert raised.value.field == field and raised.value.rule.startswith(rule)
    assert str(raised.value).startswith(f"{field} {rule}")

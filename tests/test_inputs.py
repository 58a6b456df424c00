"""parity.generate: deterministic, layout-independent, dtype-faithful inputs; 'int' and 'wide' distributions."""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import math
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from parity.core.inputs import _terms, cotangent, generate
from parity.running.registry import collect
from parity.core.spec import ConvSpec

R = importlib.import_module("parity.reference.conv")
NP_DTYPES = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32, "float64": np.float64}
PRECISION = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}
MAX_FINITE = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38, "float32": 3.4028234663852886e38,
              "float64": sys.float_info.max}

SPECS = [
    ConvSpec(spatial=(11,), kernel=3, in_channels=4, out_channels=3, batch=2, dtype="f32"),
    ConvSpec(spatial=(9, 8), kernel=4, in_channels=4, out_channels=8, groups=4, strides=2, padding="SAME",
             dtype="bf16", distribution="int", layout="NHWC"),
    ConvSpec(spatial=(5, 6, 7), kernel=3, in_channels=2, out_channels=4, dtype="f16", distribution="wide", seed=3),
    ConvSpec(spatial=(7, 7), kernel=(3, 2), in_channels=3, out_channels=2, dtype="f64", distribution="wide"),
]
IDS = [spec.slug() for spec in SPECS]


def _digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(f"{a.dtype.name}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_same_spec_gives_bit_identical_arrays(spec):
    first, again = generate(spec), generate(dataclasses.replace(spec))
    assert _digest(first) == _digest(again)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_same_arrays_in_another_process(spec):
    code = ("import hashlib, sys, numpy as np\n"
            "from parity.core.inputs import generate\nfrom parity.core.spec import ConvSpec\n"
            f"arrays = generate(ConvSpec(**{spec.as_dict()!r}))\n"
            "h = hashlib.sha256()\n"
            "for a in arrays:\n"
            "    h.update(f'{a.dtype.name}{a.shape}'.encode())\n"
            "    h.update(np.ascontiguousarray(a).tobytes())\n"
            "print(h.hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(generate(spec))


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_layout_does_not_change_the_data(spec):
    other = "channels_first" if spec.layout == "channels_last" else "channels_last"
    x, w = generate(spec)
    x2, w2 = generate(dataclasses.replace(spec, layout=other))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(w, w2)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_different_seeds_differ(spec):
    x, w = generate(spec)
    x2, w2 = generate(dataclasses.replace(spec, seed=spec.seed + 1))
    assert not np.array_equal(x, x2)
    assert not np.array_equal(w, w2)


@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_shapes_and_dtypes_are_the_cases(spec):
    x, w = generate(spec)
    assert x.dtype == np.dtype(NP_DTYPES[spec.dtype]) and w.dtype == x.dtype
    assert x.shape == (spec.batch, spec.in_channels, *spec.spatial)
    assert w.shape == (spec.out_channels, spec.in_channels // spec.groups, *spec.kernel)
    assert np.isfinite(x.astype(np.float64)).all() and np.isfinite(w.astype(np.float64)).all()
    assert np.unique(x.astype(np.float64)).size > 1  # not degenerate


def test_distributions_differ_in_character():
    base = dict(spatial=(16, 16), kernel=3, in_channels=4, out_channels=4)
    normal, _ = generate(ConvSpec(**base, distribution="normal"))
    integer, _ = generate(ConvSpec(**base, distribution="int"))
    wide, _ = generate(ConvSpec(**base, distribution="wide"))
    assert not (normal == np.round(normal)).all()
    assert (integer == np.round(integer)).all()
    magnitudes = np.abs(wide[wide != 0]).astype(np.float64)
    assert magnitudes.max() / magnitudes.min() > 2.0 ** 16  # spans many binades
    spread = np.abs(normal[normal != 0]).astype(np.float64)
    assert np.log2(magnitudes).std() > 2 * np.log2(spread).std()


# (dtype, in_channels, groups, kernel): accumulation lengths from tiny to the 2**p limit of each dtype
INT_CASES = [
    ("bfloat16", 1, 1, (3, 3)), ("bfloat16", 4, 1, (3, 3)), ("bfloat16", 16, 1, (4, 4)), ("bfloat16", 8, 2, (3, 3)),
    ("float16", 4, 1, (3, 3)), ("float16", 32, 1, (8, 8)), ("float16", 200, 1, (3, 3)),
    ("float32", 8, 1, (3, 3)), ("float32", 6, 3, (5, 5)), ("float64", 4, 1, (3, 3)),
]


@pytest.mark.parametrize("dtype, in_channels, groups, kernel", INT_CASES,
                         ids=[f"{d}-c{c}-g{g}-k{k[0]}x{k[1]}" for d, c, g, k in INT_CASES])
def test_int_distribution_keeps_every_partial_sum_exact(dtype, in_channels, groups, kernel):
    spec = ConvSpec(spatial=(9, 9), kernel=kernel, in_channels=in_channels, out_channels=groups, groups=groups,
                    dtype=dtype, distribution="int")
    n = in_channels // groups * math.prod(kernel)
    assert n <= 2 ** PRECISION[dtype]
    x, w = generate(spec)
    values = np.concatenate([x.astype(np.float64).ravel(), w.astype(np.float64).ravel()])
    assert (values == np.round(values)).all()
    m = np.abs(values).max()
    assert m >= 1, "all zeros would make the case meaningless"
    assert n * m ** 2 <= 2 ** PRECISION[dtype]
    # so the exact result (and every partial sum) is an integer the dtype holds exactly
    ref = R.reference(spec, x, w)
    assert np.abs(ref.scale).max() <= 2 ** PRECISION[dtype]
    np.testing.assert_array_equal(ref.value.astype(NP_DTYPES[dtype]).astype(np.float64), ref.value)


WIDE_DEFAULT = [case for case in collect("default") if case.spec.distribution == "wide"]


def test_default_tier_has_wide_cases_for_every_dtype():
    assert {case.spec.dtype for case in WIDE_DEFAULT} == set(NP_DTYPES)


@pytest.mark.parametrize("case", WIDE_DEFAULT, ids=[case.id for case in WIDE_DEFAULT])
def test_wide_reference_is_finite_in_the_dtype(case):
    x, w = generate(case.spec)
    ref = R.reference(case.spec, x, w, cotangent(case.spec))
    limit = MAX_FINITE[case.spec.dtype]
    assert np.isfinite(ref.value).all() and np.isfinite(ref.scale).all()
    assert np.abs(ref.value).max() <= limit
    assert np.isfinite(ref.value.astype(NP_DTYPES[case.spec.dtype]).astype(np.float64)).all()


@pytest.mark.parametrize("kernel, strides, dilations, taps", [
    ((4,), (2,), (1,), 2), ((2,), (2,), (2,), 2), ((3,), (2,), (2,), 3), ((3,), (4,), (2,), 2),
    ((1, 2), (1, 2), (1, 2), 2),
])
def test_scatter_taps_count_the_taps_that_meet_at_one_output(kernel, strides, dilations, taps):
    """Counted by hand: tap j of a transposed conv lands at offset j*d mod s; e.g. d = s = 2 puts every tap
    on the even outputs, so all k taps meet there."""
    spec = ConvSpec(op="conv_transpose", spatial=(5,) * len(kernel), kernel=kernel, strides=strides,
                    dilations=dilations, dtype="float16", distribution="canary")
    assert _terms(spec)[0] == taps

"""A strided transposed conv as one forward conv of the input per output phase (parity.reference.phases),
against the scatter definition (tests/conv_oracle.py) and against the stride-dilated path it replaces."""
from __future__ import annotations

import importlib
import math

import conv_oracle as oracle
import numpy as np
import pytest

from parity.reference import phases

R = importlib.import_module("parity.reference.conv")


def _geometries(count: int) -> list[tuple]:
    """Random strided transposed convs: rank 1-3, strides and dilations 1-3 (gcd > 1 included), crops
    from none to all but one element, output_padding below max(stride, dilation), groups, first rows."""
    rng = np.random.default_rng(2026)
    found = []
    while len(found) < count:
        rank = int(rng.integers(1, 4))
        kernel, strides = rng.integers(1, 5 - (rank == 3), rank), rng.integers(1, 4, rank)
        dilations, spatial = rng.integers(1, 4, rank), rng.integers(1, 6 - rank, rank)
        if strides.prod() == 1:
            continue
        full = (spatial - 1) * strides + dilations * (kernel - 1) + 1
        extra = [int(rng.integers(0, max(s, d))) for s, d in zip(strides, dilations)]
        crops = []
        for f, e in zip(full, extra):
            lo = int(rng.integers(0, f))
            crops.append((lo, int(rng.integers(-1, f - lo))))
        if any(f - lo - hi + e < 1 for f, (lo, hi), e in zip(full, crops, extra)):
            continue
        groups = int(rng.integers(1, 3))
        rows = int(rng.integers(1, 4)) if rng.random() < 0.2 else None
        found.append((tuple(int(n) for n in spatial), tuple(int(k) for k in kernel), tuple(int(s) for s in strides),
                      tuple(int(d) for d in dilations), tuple(crops), tuple(extra), groups, rows))
    return found


GEOMETRIES = _geometries(80)


def _operands(geometry, rng, integers):
    spatial, kernel, _, _, _, _, groups, _ = geometry
    shapes = ((2, 2 * groups, *spatial), (2 * groups, 2, *kernel))
    if integers:
        return [rng.integers(-8, 9, shape).astype(np.float64) for shape in shapes]
    return [rng.standard_normal(shape) * np.exp2(rng.integers(-20, 21, shape)) for shape in shapes]


def _by_phases(monkeypatch, phased: bool, x, w, geometry, **options):
    """conv_transpose with the phases forced on or off; asserts which path ran."""
    _, _, strides, dilations, crops, extra, groups, rows = geometry
    planned = []
    monkeypatch.setattr(R, "PHASED", 0 if phased else np.inf)
    monkeypatch.setattr(phases, "plan", lambda *a, plan=phases.plan: planned.append(a) or plan(*a))
    result = R.conv_transpose(x, w, strides, crops, extra, dilations, groups, rows=rows, **options)
    assert bool(planned) == phased
    return result


@pytest.mark.parametrize("exact", [False, True], ids=["float", "exact"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "-".join(map(str, g)).replace(" ", ""))
def test_phases_on_integers_are_the_scatter_definition(monkeypatch, geometry, exact):
    """Small integers: every sum is exact in float64, so the phases must give the definition exactly."""
    x, w = _operands(geometry, np.random.default_rng(1), integers=True)
    value, low, scale = _by_phases(monkeypatch, True, x, w, geometry, exact=exact)
    _, _, strides, dilations, crops, extra, groups, rows = geometry
    expected = oracle.transposed(x, w, strides, crops, extra, dilations, groups)[:, :, :rows]
    np.testing.assert_array_equal(value, expected)
    magnitudes = oracle.transposed(np.abs(x), np.abs(w), strides, crops, extra, dilations, groups)[:, :, :rows]
    np.testing.assert_array_equal(scale, magnitudes)  # integer magnitudes: the scale is exact
    assert low is None if not exact else not low.any()


@pytest.mark.parametrize("geometry", GEOMETRIES[::4], ids=lambda g: "-".join(map(str, g)).replace(" ", ""))
def test_phases_give_the_dilated_paths_exact_result(monkeypatch, geometry):
    """Wide-range normal inputs on the exact path: the same correctly rounded value as the stride-dilated
    conv, the same double-double to far below it, and scales within the 0.1 % of their float32 factor."""
    x, w = _operands(geometry, np.random.default_rng(2), integers=False)
    phased = _by_phases(monkeypatch, True, x, w, geometry, exact=True)
    dilated = _by_phases(monkeypatch, False, x, w, geometry, exact=True)
    np.testing.assert_array_equal(phased[0], dilated[0])
    assert (np.abs((phased[1] - dilated[1])) <= 2.0 ** -100 * dilated[2]).all()
    np.testing.assert_allclose(phased[2], dilated[2], rtol=2e-3)


@pytest.mark.parametrize("axis, expected", [
    # s=2, d=1, P=2: even outputs take taps 0 and 2 (x[m-1], x[m]), odd ones tap 1 (x[m]), 4 of them
    ((5, 9, 3, 2, 1, 2), [(0, 0, (1, 0), 1), (1, 1, (0, -1), 1)]),
    # s=2, d=2: every tap lands on even outputs (x[m-1], x[m], x[m+1]); odd outputs are zero
    ((5, 9, 3, 2, 2, 2), [(0, 0, (1, 1), 1)]),
    # s=3, d=1, P=1: outputs 0, 3, .. take tap 1, outputs 1, 4, 7 tap 0; outputs 2, 5, 8 are zero
    ((4, 10, 2, 3, 1, 1), [(0, 1, (0, 0), 1), (1, 0, (0, -1), 1)]),
    # n=1, s=2, k=2, P=0: output 0 reads x[0] by tap 0 (output 2 reads past it); output 1 would read x[1]
    # by tap 1, past the input: no phase, zero
    ((1, 3, 2, 2, 1, 0), [(0, 0, (0, 1), 1)]),
])
def test_plan_of_one_axis(axis, expected):
    """Phases written out by hand from o + j*d - P = i*s: (first output, first tap, pads, dilation)."""
    n, out, k, s, d, pad = axis
    got = phases.plan((n,), (out,), (k,), (s,), (d,), (pad,))
    step = s // math.gcd(s, d)
    assert [(p.output[0], p.taps[0], p.pads[0], p.dilations[0]) for p in got] == [
        (slice(o0, None, s), slice(j0, None, step), pads, dilation) for o0, j0, pads, dilation in expected]


def test_float32_operands_keep_their_dtype(monkeypatch):
    """The numpy backend computes in the case's dtype: by phases as without them."""
    geometry = GEOMETRIES[0]
    x, w = (a.astype(np.float32) for a in _operands(geometry, np.random.default_rng(3), integers=True))
    assert _by_phases(monkeypatch, True, x, w, geometry, scaled=False)[0].dtype == np.float32

"""Sparse tail slices of the exact float64 path: found from the input's nonzeros without gathering
(gather.WindowNonzeros against im2col) and added at their nonzeros (against the Fraction convolution)."""
from __future__ import annotations

import importlib
from fractions import Fraction

import numpy as np
import pytest

from tests.test_reference import naive_conv

R = importlib.import_module("parity.reference.conv")
G = importlib.import_module("parity.reference.gather")

# x shape, w shape, groups, strides, dilations, pads (negative: crop), rows
GEOMETRIES = {
    "1d-strided-dilated": ((2, 3, 17), (2, 3, 3), 1, (2,), (2,), ((2, 1),), None),
    "2d-grouped-cropped": ((2, 4, 9, 8), (4, 2, 3, 2), 2, (1, 2), (1, 1), ((1, -1), (0, 2)), None),
    "2d-first-rows": ((1, 2, 10, 7), (3, 2, 2, 3), 1, (1, 1), (2, 1), ((1, 1), (1, 1)), 4),
    "3d-depthwise": ((1, 2, 5, 6, 4), (2, 1, 2, 3, 2), 2, (1, 2, 1), (1, 1, 2), ((0, 1), (1, 1), (1, 0)), None),
    "2d-three-images": ((3, 2, 6, 5), (2, 2, 3, 3), 1, (1, 1), (1, 1), ((1, 1), (1, 1)), None),
}


def _batch_chunks(shape, itemsize):
    """Chunks of two images: the second one starts past the first image and holds fewer."""
    return [(slice(b, b + 2), slice(None)) for b in range(0, shape[0], 2)]


def _inputs(geometry, seed):
    """Normal inputs with one element 2**-40 below the rest (the last tap of the first window), one
    subnormal and a weight 2**-45 below the rest: their last bits land in sparse tail slices."""
    x_shape, w_shape, _, _, dilations, pads, _ = geometry
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    x[(0, 0, *((k - 1) * d - lo for k, d, (lo, _) in zip(w_shape[2:], dilations, pads)))] *= 2.0 ** -40
    x.flat[rng.integers(x.size)] = 3 * 2.0 ** -1074
    w.flat[rng.integers(w.size)] *= 2.0 ** -45
    return x, w


@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_window_nonzeros_are_the_nonzeros_of_the_gathered_columns(geometry):
    x_shape, w_shape, groups, strides, dilations, pads, rows = geometry
    x, _ = _inputs(geometry, 1)
    x[np.random.default_rng(2).random(x.shape) < 0.9] = 0.0  # a sparse input, as a tail slice is
    xp = G.pad(x, pads)
    window = G.Window(w_shape[2:], strides, dilations, rows)
    found = G.WindowNonzeros(xp, window, groups)
    view = window(xp)
    chunks = [(slice(None), slice(None))] + [(slice(b, b + 1), slice(o, o + 2))
                                             for b in range(x.shape[0]) for o in range(0, view.shape[2], 2)]
    for n, o in chunks:
        columns = G.im2col(view[n, :, o], groups)
        expected = sorted((*index, columns[index]) for index in zip(*np.nonzero(columns)))
        assert sorted(zip(*found.chunk(n, o))) == expected, (n, o)  # sorted lists: a duplicate shows


@pytest.mark.parametrize("chunked", [None, "rows", "images"], ids=["whole", "chunked", "two-images"])
@pytest.mark.parametrize("geometry", GEOMETRIES.values(), ids=GEOMETRIES.keys())
def test_exact_conv_with_tails_is_exact(monkeypatch, geometry, chunked):
    """value + low is the exact sum to 2**-100 of the |term| sum (a tail left out errs by about 2**-66 of
    it), value is its rounding, and the tails were taken as sparse."""
    x_shape, w_shape, groups, strides, dilations, pads, rows = geometry
    x, w = _inputs(geometry, 3)
    made = []
    monkeypatch.setattr(G, "WindowNonzeros", lambda *a, cls=G.WindowNonzeros: made.append(cls(*a)) or made[-1])
    if chunked:
        monkeypatch.setattr(G, "CHUNK_BYTES", 512)
    if chunked == "images":
        monkeypatch.setattr(G, "chunks", _batch_chunks)
    value, low, _ = R.conv(x, w, strides, pads, dilations, groups, exact=True, scaled=False, rows=rows)
    assert any((np.abs(m.value) > 2.0 ** -1000).any() for m in made)  # a tail above the subnormals
    exact, absolute = naive_conv(x, w, strides, pads, dilations, groups)
    if rows is not None:
        exact, absolute = exact[:, :, :rows], absolute[:, :, :rows]
    assert value.shape == exact.shape
    for index in np.ndindex(*exact.shape):
        error = abs(Fraction(value[index]) + Fraction(low[index]) - exact[index])
        assert error <= Fraction(2) ** -100 * absolute[index], index
        assert value[index] == float(exact[index]), index


def test_a_dense_slice_after_an_empty_one_is_gathered_not_a_tail(monkeypatch):
    """Inputs 2**-50 below one element per image: the second slice is empty and the three after it are
    dense. They are gathered as dense slices; only slices with nonzeros under half the windows become
    tails (found in a review: all three had been taken as tails, 16x slower and 4x the memory)."""
    rng = np.random.default_rng(0)
    x = 2.0 ** -50 * rng.uniform(0.5, 1, (2, 3, 8, 8))
    x[:, 0, 0, 0] = 1.0
    w = rng.standard_normal((2, 3, 3, 3))
    made = []
    monkeypatch.setattr(G, "WindowNonzeros", lambda *a, cls=G.WindowNonzeros: made.append(cls(*a)) or made[-1])
    value, low, _ = R.conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1, exact=True, scaled=False)
    positions = 2 * 8 * 8
    assert all(2 * tail.value.size < positions for tail in made)
    exact, absolute = naive_conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    for index in np.ndindex(*exact.shape):
        assert abs(Fraction(value[index]) + Fraction(low[index]) - exact[index]) <= Fraction(2) ** -100 * absolute[index]

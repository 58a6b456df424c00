"""Gathering windows for the reference: padding, the strided window view (N, C, *out, *k), im2col into
(g, C/g * kvol, positions) columns and back, and chunks over (batch, first output axis) that bound the
memory of gathered windows to CHUNK_BYTES.

Imports nothing but numpy (and parity.core.convert for the general padding).
"""
from __future__ import annotations

import math
from typing import Callable, Final, Sequence

import numpy as np

from parity.core import convert
from parity.core import geometry

Pads = tuple[tuple[int, int], ...]
Triple = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
CHUNK_BYTES: Final = 64 << 20  # memory for one chunk of gathered windows


class Window:
    """The strided window view (N, C, *out, *k) of padded data for one geometry, optionally only the
    first ``rows`` positions of the first output axis."""

    def __init__(self, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
                 rows: int | None) -> None:
        self.kernel, self.strides, self.dilations, self.rows = tuple(kernel), strides, dilations, rows

    def __call__(self, xp: np.ndarray) -> np.ndarray:
        view = windows(xp, self.kernel, self.strides, self.dilations)
        return view if self.rows is None else view[:, :, :self.rows]


def pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """:func:`parity.core.convert.pad_array` without its generality where it is not needed."""
    if not any(lo or hi for lo, hi in pads):
        return x
    if min(min(p) for p in pads) < 0:
        return convert.pad_array(x, pads)
    padded = np.zeros((*x.shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))), x.dtype)
    padded[(slice(None), slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads)))] = x
    return padded


def windows(xp: np.ndarray, kernel: Sequence[int], strides: Sequence[int],
             dilations: Sequence[int]) -> np.ndarray:
    """Strided view (N, C, *out, *k) of padded data: element [..., o, j] is xp[..., o*s + j*d]."""
    spatial = xp.shape[2:]
    out = geometry.output_lengths(spatial, kernel, strides, dilations)
    base = xp.strides[2:]
    shape = (*xp.shape[:2], *out, *kernel)
    steps = (*xp.strides[:2], *(b * s for b, s in zip(base, strides)), *(b * d for b, d in zip(base, dilations)))
    if not xp.flags.c_contiguous:
        return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=steps, writeable=False)
    view = np.ndarray(shape, xp.dtype, buffer=xp, strides=steps)  # the same view, without as_strided's cost
    view.flags.writeable = False  # im2col may return a view of it: never write through
    return view


def chunks(shape: tuple[int, ...], itemsize: int) -> list[tuple[slice, slice]]:
    """Slices over (batch, first output axis) so that each chunk's gathered windows fit CHUNK_BYTES."""
    rank = (len(shape) - 2) // 2
    batch, out0 = shape[0], shape[2]
    per_out0 = math.prod(shape[1:2]) * math.prod(shape[3:3 + rank - 1]) * math.prod(shape[2 + rank:]) * itemsize
    per_item = per_out0 * out0
    if per_item <= CHUNK_BYTES:
        step = max(1, CHUNK_BYTES // per_item)
        return [(slice(n, n + step), slice(None)) for n in range(0, batch, step)]
    step = max(1, CHUNK_BYTES // per_out0)
    return [(slice(n, n + 1), slice(o, o + step)) for n in range(batch) for o in range(0, out0, step)]


def im2col(view: np.ndarray, groups: int, out: np.ndarray | None = None) -> np.ndarray:
    """(N, C, *out, *k) windows -> (g, C/g * kvol, N * prod(out)) columns (one copy, into ``out`` if given).

    Output positions innermost: with stride 1 the copy moves contiguous runs of the input.
    """
    batch, channels = view.shape[:2]
    rank = (view.ndim - 2) // 2
    grouped = view.reshape(batch, groups, channels // groups, *view.shape[2:])
    moved = grouped.transpose(1, 2, *range(3 + rank, 3 + 2 * rank), 0, *range(3, 3 + rank))
    if out is None:
        return moved.reshape(groups, channels // groups * math.prod(view.shape[2 + rank:]), -1)
    np.copyto(np.reshape(out, moved.shape, copy=False), moved)  # a view of out, or an error
    return out


def output_to_columns(y: np.ndarray, groups: int) -> np.ndarray:
    """(N, O, *out) -> (g, O/g, N * prod(out)), the inverse of :func:`columns_to_output`."""
    batch, channels, *out = y.shape
    grouped = y.reshape(batch, groups, channels // groups, *out)
    return grouped.transpose(1, 2, 0, *range(3, 3 + len(out))).reshape(groups, channels // groups, -1)


def columns_to_output(result: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(g, O/g, N * prod(out)) -> (N, O, *out)."""
    groups, per_group, _ = result.shape
    batch, _, *out = shape
    return result.reshape(groups, per_group, batch, *out).transpose(
        2, 0, 1, *range(3, 3 + len(out))).reshape(shape)


class Scratch:
    """Buffers reused from chunk to chunk: a fresh array of many MiB is page-faulted in again on every chunk."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: Sequence[int], dtype: np.dtype = np.dtype(np.float64)) -> np.ndarray:
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != dtype:
            buffer = self._buffers[name] = np.empty(size, dtype)
        return buffer[:size].reshape(shape)


def stacked(views: list[np.ndarray], n: slice, o: slice, groups: int, axis: int,
            scratch: Scratch | None = None) -> np.ndarray:
    """Every slice's chunk gathered into one array (in ``scratch``'s buffer, if given), the slice index at
    ``axis`` of (g, C/g * kvol, P)."""
    first = views[0][n, :, o]
    kvol = math.prod(first.shape[2 + (first.ndim - 2) // 2:])
    shape = [groups, first.shape[1] // groups * kvol, first[:, 0].size // kvol]
    shape.insert(axis, len(views))
    stack = np.empty(shape) if scratch is None else scratch("stack", shape)
    for v, view in enumerate(views):
        im2col(view[n, :, o], groups, out=stack[(slice(None),) * axis + (v,)])
    return stack


def output_shape(view: np.ndarray, out_channels: int) -> tuple[int, ...]:
    """(N, O, *out) of a window view (N, C, *out, *k)."""
    return (view.shape[0], out_channels, *view.shape[2:2 + (view.ndim - 2) // 2])


def by_chunks(view_shape: tuple[int, ...], out_channels: int, itemsize: int,
              chunk: Callable[[slice, slice], Triple]) -> Triple:
    """``chunk(batch slice, first-output-axis slice)`` over chunks of at most CHUNK_BYTES of gathered
    windows, assembled into (N, O, *out) arrays; one chunk is returned as it is."""
    if math.prod(view_shape) * itemsize <= CHUNK_BYTES:
        return chunk(slice(None), slice(None))
    parts = chunks(view_shape, itemsize)
    if len(parts) == 1:
        return chunk(*parts[0])
    shape = (view_shape[0], out_channels, *view_shape[2:2 + (len(view_shape) - 2) // 2])
    whole: list[np.ndarray | None] | None = None
    for n, o in parts:
        results = chunk(n, o)
        whole = whole or [None if r is None else np.empty(shape, r.dtype) for r in results]
        for target, part in zip(whole, results):
            if target is not None:
                target[n, :, o] = part
    return tuple(whole)


class WindowNonzeros:
    """The nonzeros of ``im2col(window(xp), groups)`` found from xp's own nonzeros and the kernel taps, without
    gathering: for a sparse xp, (batch, group, term, output position, value) of each."""

    def __init__(self, xp: np.ndarray, window: Window, groups: int) -> None:
        index = np.nonzero(xp)
        kernel, rank = window.kernel, xp.ndim - 2
        taps = np.indices(kernel).reshape(rank, 1, -1)  # (rank, 1, kvol)
        self.out, self.images = window(xp).shape[2:2 + rank], xp.shape[0]
        spacing = (np.asarray(window.dilations).reshape(rank, 1, 1), np.asarray(window.strides).reshape(rank, 1, 1))
        position, remainder = np.divmod(np.asarray(index[2:]).reshape(rank, -1, 1) - taps * spacing[0], spacing[1])
        inside = ((remainder == 0) & (position >= 0) & (position < np.reshape(self.out, (rank, 1, 1)))).all(axis=0)
        element, tap = np.nonzero(inside)  # (element, tap) pairs whose window lies in the output grid
        per_group = xp.shape[1] // groups
        self.batch, channel = index[0][element], index[1][element]
        self.group, self.term = channel // per_group, channel % per_group * math.prod(kernel) + tap
        self.position, self.value = position[:, element, tap], xp[index][element]

    def chunk(self, n: slice, o: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(group, term, column, value) of the nonzeros in chunk (n, o), columns numbered as im2col of the
        chunk numbers them."""
        (b0, b1, _), (o0, o1, _) = n.indices(self.images), o.indices(self.out[0])
        first = self.position[0]
        keep = (self.batch >= b0) & (self.batch < b1) & (first >= o0) & (first < o1)
        grid = (o1 - o0, *self.out[1:])
        local = (first[keep] - o0, *(p[keep] for p in self.position[1:]))
        column = (self.batch[keep] - b0) * math.prod(grid) + np.ravel_multi_index(local, grid)
        return self.group[keep], self.term[keep], column, self.value[keep]

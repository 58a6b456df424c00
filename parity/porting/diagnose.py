"""The search behind `parity check`: which convention changes, alone or in pairs, reproduce Y.

Candidates are ranked before anything is computed (fewer changes first, then likelier ones) and pruned
by shape: only readings that give Y's exact shape are evaluated. Readings that differ only in padding,
stride (forward) or crop and output_padding (transposed) are windows of one full output (every window
position; see :func:`parity.core.reading.window`), so each kernel/layout/dilation reading costs one reference,
computed once (float64, not the exact path). Each window is first tested on a few probe elements and only
survivors are compared in full, against the same error bound as :func:`parity.verdict.comparison.compare` (twice it
for float64 Y, whose search reference is itself rounded once in float64). Pairs are tried only when no
single change explains Y. Readings that do not reproduce Y are ranked by the residual they leave on the
probes, so that the closest ones can be reported when none reproduces it. With printed
arrays the bound also allows each element's printing rounding (:func:`parity.core.reading.widening`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Final, Iterable, Sequence

import numpy as np

from parity.porting import changes as vocab
from parity.core import reading as rd
from parity.porting import framed
from parity.porting.changes import Change
from parity.verdict.comparison import error_bound
from parity.core.dtypes import canonical_name
from parity.core.reading import Frame, Reading
from parity.reference.conv import Reference
from parity.core.spec import ConvSpec
from parity.core import geometry

PROBES: Final = 64
CLOSEST: Final = 8  # readings kept as the closest when none reproduces Y
MAX_READINGS: Final = 50_000  # readings one depth of the search may list (~0.5 ms each; usually under 5000)


@dataclass(frozen=True)
class Found:
    changes: tuple[Change, ...]
    frame: Frame
    bound_ratio: float  # against the search reference (on the probes only, for one that does not reproduce Y)
    residual: float = 0.0  # largest |Y - reading| on the probes (a lower bound of the largest error)


@dataclass(frozen=True)
class Search:
    found: tuple[Found, ...]  # best first
    feasible: int  # readings tried that give Y's shape
    unlisted: int = 0  # readings of pairs of changes not tried, over MAX_READINGS (0: every depth was tried)
    closest: tuple[Found, ...] = ()  # when nothing is found: the readings with the smallest residual, best first


@dataclass(frozen=True)
class _Raw:
    x: np.ndarray
    w: np.ndarray
    y: np.ndarray
    integers: bool
    rounding: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def search(stated: Reading, x: np.ndarray, w: np.ndarray, y: np.ndarray,
           rounding: tuple[np.ndarray, ...] | None = None, *, depths: Sequence[int] = (1, 2)) -> Search:
    """Explanations of ``y`` as ``stated`` with one change, else with two, best first; ``rounding``: the
    printing's half-widths of x, w and y (None: exact)."""
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    exact = rounding is None or not (rounding[0].any() or rounding[1].any())
    raw = _Raw(x64, w64, y, exact and all(np.array_equal(a, np.round(a)) for a in (x64, w64)), rounding)
    check_memory(stated, raw)
    seen: set = set()
    try:
        spec = rd.frame(stated, x64, w64, y).spec
        seen.add((stated.core, rd.window(spec)))
    except ValueError:
        pass
    feasible = 0
    near: list[Found] = []
    for depth in depths:
        estimate = _estimate(stated, raw, depth)
        if estimate > MAX_READINGS and depth == 1:
            raise ValueError(f"the search must list at most {MAX_READINGS} readings, got an estimated {estimate} "
                             f"for {stated.describe()}; state conventions closer to Y's")
        if estimate > MAX_READINGS:
            return Search((), feasible, estimate, _closest(near))
        entries = _feasible(stated, _combinations(stated, raw, depth), raw, seen)
        found, close = _evaluate(entries, raw)
        feasible += len(entries)
        near += close
        if found:
            return Search(tuple(found), feasible)
    return Search((), feasible, closest=_closest(near))


def _closest(near: list[Found]) -> tuple[Found, ...]:
    return tuple(sorted(near, key=lambda item: (item.residual, vocab.cost(item.changes)))[:CLOSEST])


def _estimate(stated: Reading, raw: _Raw, depth: int) -> int:
    """How many readings :func:`_combinations` would list, counted without listing them."""
    core, place = vocab.core_changes(stated), vocab.placement_changes(stated)
    if depth == 1:
        return len(core) + len(place) + _explicit_count(stated, raw)
    firsts = sum(_explicit_count(change.apply(stated), raw) for change in core + place)
    return firsts + len(core) ** 2 + (len(core) + len(place)) * len(place)


def check_memory(stated: Reading, raw: _Raw) -> None:
    """``ValueError`` with the estimate when a full output of the search would exceed the memory budget
    (absurd strides or dilations), before anything is allocated."""
    from parity.core.limits import memory_budget

    core = [change.apply(stated) for change in vocab.core_changes(stated)]
    need, reading = max(((_full_bytes(reading, raw), reading) for reading in [stated, *core]), key=lambda t: t[0])
    budget = memory_budget()
    if need > budget * 2**30:
        raise ValueError(f"the search's full output must fit the memory budget of {budget:g} GiB (PARITY_MEMORY_GIB), "
                         f"got an estimated {need / 2**30:.3g} GiB for {reading.describe()}; state conventions "
                         "closer to Y's")


def _explicit_count(reading: Reading, raw: _Raw) -> int:
    xc, wc, yc = rd.canonical(reading, raw.x, raw.w, raw.y)
    return vocab.explicit_count(reading, xc.shape[2:], wc.shape[2:], yc.shape[2:])


def _full_bytes(reading: Reading, raw: _Raw) -> int:
    """Bytes of :func:`parity.core.reading.full_output` for ``reading``: value and scale, and the padded input."""
    xc, wc, _ = rd.canonical(reading, raw.x, raw.w, raw.y)
    spans = geometry.spans(wc.shape[2:], reading.dilations)
    if reading.transposed:
        channels, sizes = wc.shape[1] * reading.groups, [(n - 1) * s + span for n, s, span in
                                                         zip(xc.shape[2:], reading.strides, spans)]
    else:
        channels, sizes = wc.shape[0], [n + span - 1 for n, span in zip(xc.shape[2:], spans)]
    padded = xc.shape[0] * xc.shape[1] * math.prod(size + span - 1 for size, span in zip(sizes, spans))
    return 16 * xc.shape[0] * channels * math.prod(sizes) + 8 * padded


def _combinations(stated: Reading, raw: _Raw, depth: int) -> list[tuple[Change, ...]]:
    core, place = vocab.core_changes(stated), vocab.placement_changes(stated)
    if depth == 1:
        return [(c,) for c in core + place] + [(p,) for p in _explicit(stated, raw)]
    pairs = [(a, b) for i, a in enumerate(core) for b in core[i + 1:] if vocab.compatible(a, b)]
    pairs += [(a, vocab.kernel_kept(stated)) for a in core if a.category == "layout" and stated.kernel_follows]
    for first in core + place:
        reading = first.apply(stated)
        seconds = (place if first in core else place[place.index(first) + 1:]) + _explicit(reading, raw)
        pairs += [(first, second) for second in seconds if vocab.compatible(first, second)]
    return pairs


def _explicit(reading: Reading, raw: _Raw) -> list[Change]:
    xc, wc, yc = rd.canonical(reading, raw.x, raw.w, raw.y)
    return vocab.explicit_paddings(reading, xc.shape[2:], wc.shape[2:], yc.shape[2:])


def _feasible(stated: Reading, combos: Iterable[tuple[Change, ...]], raw: _Raw,
              seen: set) -> list[tuple[tuple[Change, ...], Frame]]:
    """Frames of the candidates that give Y's shape, in rank order, one per distinct computation."""
    entries, views = [], {}
    for combo in sorted(combos, key=vocab.cost):
        reading = vocab.apply(stated, combo)
        if reading.core not in views:
            rounding = None if raw.rounding is None else rd.canonical(reading, *raw.rounding)
            views[reading.core] = (*rd.canonical(reading, raw.x, raw.w, raw.y), rounding)
        xc, wc, yc, rounding = views[reading.core]
        try:
            spec = rd.make_spec(reading, xc, wc, yc, raw.w.shape, raw.y.shape)
        except ValueError:
            continue
        key = (reading.core, rd.window(spec))
        if key not in seen:
            seen.add(key)
            entries.append((combo, Frame(reading, spec, xc, wc, yc, rounding)))
    return entries


def _evaluate(entries: Sequence[tuple[tuple[Change, ...], Frame]],
              raw: _Raw) -> tuple[list[Found], list[Found]]:
    """(readings that reproduce Y, best first; the others with their residual)."""
    groups = defaultdict(list)
    for index, (_, fr) in enumerate(entries):
        groups[fr.reading.core].append(index)
    found, near = [], []
    for indices in groups.values():
        first = entries[indices[0]][1]
        full = (*framed.full_output(first), framed.widening(first, full=True))
        for index, ratio, residual in _matching(first, full, [entries[i][1].spec for i in indices], raw):
            changes, fr = entries[indices[index]]
            item = Found(changes, fr, ratio, residual)
            found.append((indices[index], item)) if ratio <= 1 else near.append(item)
    ranked = sorted(found, key=lambda item: (vocab.cost(item[1].changes), item[0], item[1].bound_ratio))
    return [item for _, item in ranked], near


def _matching(fr: Frame, full: tuple[np.ndarray, np.ndarray, np.ndarray | None], specs: list[ConvSpec],
              raw: _Raw) -> Iterable[tuple[int, float, float]]:
    """(index, bound ratio, residual) per spec: the ratio over all of Y where the spec's window of the full
    output reproduces Y on the probes, else the ratio on the probes (residual: see :class:`Found`)."""
    y, ry = fr.y, None if fr.rounding is None else fr.rounding[2]
    rng = np.random.default_rng(0)
    flat = rng.choice(y.size, size=min(PROBES, y.size), replace=False)
    batch, channel, *position = np.unravel_index(flat, y.shape)
    windows = np.array([rd.window(spec) for spec in specs])  # (P, rank, 2): start, step
    indices = [windows[:, a, :1] + windows[:, a, 1:] * np.asarray(o)[None] for a, o in enumerate(position)]
    gathered = _gather(full, (batch[None], channel[None]), indices)
    where = (batch, channel, *position)
    probe_y, probe_r = y[where][None], None if ry is None else ry[where][None]
    ratios = _ratio(probe_y, gathered, probe_r, fr.spec, raw.integers)
    with np.errstate(invalid="ignore"):
        errors = np.nanmax(np.abs(np.asarray(probe_y, np.float64) - gathered[0]), axis=1, initial=0.0)
    for index in range(len(specs)):
        ratio = float(np.nanmax(ratios[index], initial=0.0))
        if np.all(ratios[index] <= 1):
            grid = np.ix_(*[start + step * np.arange(m) for (start, step), m in zip(windows[index], y.shape[2:])])
            ratio = float(np.max(_ratio(y, _gather(full, (slice(None), slice(None)), grid), ry, fr.spec,
                                        raw.integers), initial=0.0))
        yield index, ratio, float(errors[index])


def _gather(arrays: Sequence[np.ndarray | None], lead: tuple,
            indices: Sequence[np.ndarray]) -> tuple[np.ndarray | None, ...]:
    """Elements of each full output at ``indices`` per spatial axis; positions outside it are 0."""
    value = arrays[0]
    inside = np.ones(np.broadcast_shapes(*(i.shape for i in indices)), dtype=bool)
    clipped = []
    for axis, index in enumerate(indices):
        size = value.shape[2 + axis]
        inside &= (index >= 0) & (index < size)
        clipped.append(np.clip(index, 0, size - 1))
    where = (*lead, *clipped)
    return tuple(None if a is None else np.where(inside, a[where], 0.0) for a in arrays)


def _ratio(y: np.ndarray, full: tuple[np.ndarray | None, ...], ry: np.ndarray | None, spec: ConvSpec,
           integers: bool) -> np.ndarray:
    """|y - value| over the error bound of y's dtype, widened by the printing's rounding (the x and w part
    ``full[2]``, Y's own ``ry``); NaN where y is not finite."""
    value, scale, widen = full
    dtype = canonical_name(y.dtype)
    arithmetic = error_bound(Reference(value, None, scale if widen is None else scale + widen,
                                       spec.accumulation_length, integers), dtype)
    bound = (2 if dtype == "float64" else 1) * arithmetic + (0 if widen is None else widen) + (0 if ry is None else ry)
    err = np.abs(np.asarray(y, np.float64) - value)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / bound)
    return np.where(np.isfinite(np.asarray(y, np.float64)), ratio, np.nan)

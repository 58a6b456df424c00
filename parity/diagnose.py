"""The search behind `parity check`: which convention changes, alone or in pairs, reproduce Y.

Candidates are ranked before anything is computed (fewer changes first, then likelier ones) and pruned
by shape: only readings that give Y's exact shape are evaluated. Readings that differ only in padding,
stride (forward) or crop and output_padding (transposed) are windows of one full output (every window
position; see :func:`parity.reading.window`), so each kernel/layout/dilation reading costs one reference,
computed once (float64, not the exact path). Each window is first tested on a few probe elements and only
survivors are compared in full, against the same error bound as :func:`parity.compare.compare` (twice it
for float64 Y, whose search reference is itself rounded once in float64). Pairs are tried only when no
single change explains Y.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Final, Iterable, Sequence

import numpy as np

from parity import changes as vocab
from parity import reading as rd
from parity.changes import Change
from parity.compare import error_bound
from parity.dtypes import canonical_name
from parity.reading import Frame, Reading
from parity.reference import Reference
from parity.spec import ConvSpec

PROBES: Final = 64
MAX_READINGS: Final = 50_000  # readings one depth of the search may list (~0.5 ms each; usually under 5000)


@dataclass(frozen=True)
class Found:
    changes: tuple[Change, ...]
    frame: Frame
    bound_ratio: float  # against the search reference


@dataclass(frozen=True)
class Search:
    found: tuple[Found, ...]  # best first
    feasible: int  # readings tried that give Y's shape
    references: int  # full outputs computed
    unlisted: int = 0  # readings of pairs of changes not tried, over MAX_READINGS (0: every depth was tried)


@dataclass(frozen=True)
class _Raw:
    x: np.ndarray
    w: np.ndarray
    y: np.ndarray
    integers: bool


def search(stated: Reading, x: np.ndarray, w: np.ndarray, y: np.ndarray) -> Search:
    """Explanations of ``y`` as ``stated`` with one change, else with two, best first."""
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    raw = _Raw(x64, w64, y, all(np.array_equal(a, np.round(a)) for a in (x64, w64)))
    check_memory(stated, raw)
    seen: set = set()
    try:
        spec = rd.frame(stated, x64, w64, y).spec
        seen.add((stated.core, rd.window(spec)))
    except ValueError:
        pass
    feasible = references = 0
    for depth in (1, 2):
        estimate = _estimate(stated, raw, depth)
        if estimate > MAX_READINGS and depth == 1:
            raise ValueError(f"the search must list at most {MAX_READINGS} readings, got an estimated {estimate} "
                             f"for {stated.describe()}; state conventions closer to Y's")
        if estimate > MAX_READINGS:
            return Search(tuple(found), feasible, references, estimate)
        entries = _feasible(stated, _combinations(stated, raw, depth), raw, seen)
        found, computed = _evaluate(entries, raw)
        feasible, references = feasible + len(entries), references + computed
        if found:
            break
    return Search(tuple(found), feasible, references)


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
    from parity.runner import memory_budget

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
    """Bytes of :func:`parity.reading.full_output` for ``reading``: value and scale, and the padded input."""
    xc, wc, _ = rd.canonical(reading, raw.x, raw.w, raw.y)
    spans = [d * (k - 1) + 1 for k, d in zip(wc.shape[2:], reading.dilations)]
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
            views[reading.core] = rd.canonical(reading, raw.x, raw.w, raw.y)
        xc, wc, yc = views[reading.core]
        try:
            spec = rd.make_spec(reading, xc, wc, yc, raw.w.shape, raw.y.shape)
        except ValueError:
            continue
        key = (reading.core, rd.window(spec))
        if key not in seen:
            seen.add(key)
            entries.append((combo, Frame(reading, spec, xc, wc, yc)))
    return entries


def _evaluate(entries: Sequence[tuple[tuple[Change, ...], Frame]], raw: _Raw) -> tuple[list[Found], int]:
    groups = defaultdict(list)
    for index, (_, fr) in enumerate(entries):
        groups[fr.reading.core].append(index)
    found = []
    for indices in groups.values():
        first = entries[indices[0]][1]
        value, scale = rd.full_output(first)
        for index, ratio in _matching(first, value, scale, [entries[i][1].spec for i in indices], raw):
            changes, fr = entries[indices[index]]
            found.append((indices[index], Found(changes, fr, ratio)))
    ranked = sorted(found, key=lambda item: (vocab.cost(item[1].changes), item[0], item[1].bound_ratio))
    return [item for _, item in ranked], len(groups)


def _matching(fr: Frame, value: np.ndarray, scale: np.ndarray, specs: list[ConvSpec],
              raw: _Raw) -> Iterable[tuple[int, float]]:
    """(index, bound ratio) of the specs whose window of the full output reproduces Y."""
    y = fr.y
    rng = np.random.default_rng(0)
    flat = rng.choice(y.size, size=min(PROBES, y.size), replace=False)
    batch, channel, *position = np.unravel_index(flat, y.shape)
    windows = np.array([rd.window(spec) for spec in specs])  # (P, rank, 2): start, step
    indices = [windows[:, a, :1] + windows[:, a, 1:] * np.asarray(o)[None] for a, o in enumerate(position)]
    values, scales = _gather(value, scale, (batch[None], channel[None]), indices)
    ratios = _ratio(y[(batch, channel, *position)][None], values, scales, fr.spec, raw.integers)
    for index in np.flatnonzero(np.all(ratios <= 1, axis=1)):
        full = [start + step * np.arange(m) for (start, step), m in zip(windows[index], y.shape[2:])]
        grid = np.ix_(*full)
        values, scales = _gather(value, scale, (slice(None), slice(None)), grid)
        ratio = float(np.max(_ratio(y, values, scales, fr.spec, raw.integers), initial=0.0))
        if ratio <= 1:
            yield int(index), ratio


def _gather(value: np.ndarray, scale: np.ndarray, lead: tuple, indices: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Elements of the full output at ``indices`` per spatial axis; positions outside it are 0."""
    inside = np.ones(np.broadcast_shapes(*(i.shape for i in indices)), dtype=bool)
    clipped = []
    for axis, index in enumerate(indices):
        size = value.shape[2 + axis]
        inside &= (index >= 0) & (index < size)
        clipped.append(np.clip(index, 0, size - 1))
    where = (*lead, *clipped)
    return np.where(inside, value[where], 0.0), np.where(inside, scale[where], 0.0)


def _ratio(y: np.ndarray, value: np.ndarray, scale: np.ndarray, spec: ConvSpec, integers: bool) -> np.ndarray:
    """|y - value| over the error bound of y's dtype; NaN where y is not finite."""
    dtype = canonical_name(y.dtype)
    bound = error_bound(Reference(value, None, scale, spec.accumulation_length, integers), dtype)
    err = np.abs(np.asarray(y, np.float64) - value)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / ((2 if dtype == "float64" else 1) * bound))
    return np.where(np.isfinite(np.asarray(y, np.float64)), ratio, np.nan)

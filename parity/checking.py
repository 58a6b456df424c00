"""`parity check`: does Y match x conv w under the stated conventions, and if not, which change explains it.

Y is compared with the exact reference for the stated conventions in Y's dtype (the error bound of
that dtype decides, as in :func:`parity.compare.compare`). On a mismatch :func:`parity.diagnose.search`
looks for convention changes that reproduce Y; each is confirmed against the reference for its own
conventions (exact for float64) and explained in a sentence with a concrete fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Iterator

import ml_dtypes
import numpy as np

from parity import diagnose, explain, files
from parity import reading as rd
from parity.compare import Comparison, compare
from parity.dtypes import DTYPES
from parity.reading import Frame
from parity.reference import Reference

_FLOATS: Final = ", ".join(DTYPES)
SEARCH_OUTPUTS: Final = 1 << 14  # the search looks at the first batch elements holding this many outputs


@dataclass(frozen=True)
class Explanation:
    changes: tuple[str, ...]  # identifiers from the vocabulary in parity.changes, e.g. ("flip",)
    sentence: str
    fix: str
    matches: bool
    max_abs: float
    max_ulp: int
    bound_ratio: float

    def as_dict(self) -> dict[str, Any]:
        return {"changes": list(self.changes), "matches": self.matches, "max_abs": self.max_abs,
                "max_ulp": self.max_ulp, "bound_ratio": self.bound_ratio, "sentence": self.sentence, "fix": self.fix}


@dataclass(frozen=True, eq=False)
class CheckResult:
    """Outcome of :func:`check`. Figures are None when the stated conventions cannot give Y's shape
    (``problem`` says why); ``error_map`` is |Y - reference| in canonical (N, C, *spatial) order."""

    matches: bool
    dtype: str
    conventions: str
    max_abs: float | None
    max_ulp: int | None
    bound_ratio: float | None
    problem: str
    location: str
    explanations: tuple[Explanation, ...]
    searched: int
    error_map: np.ndarray | None
    note: str = ""  # why nothing was searched, when nothing was
    nonfinite: str = ""  # NaN/Inf positions that differ from the reference's, when they do

    def as_dict(self) -> dict[str, Any]:
        return {"matches": self.matches, "dtype": self.dtype, "conventions": self.conventions,
                "max_abs": self.max_abs, "max_ulp": self.max_ulp, "bound_ratio": self.bound_ratio,
                "problem": self.problem, "location": self.location, "searched": self.searched, "note": self.note,
                "nonfinite": self.nonfinite,
                "explanations": [e.as_dict() for e in self.explanations]}

    def format(self) -> str:
        lines = [f"conventions: {self.conventions}; Y is {self.dtype}"]
        if self.problem:
            lines.append(f"does not match: these conventions cannot give Y: {self.problem}")
        else:
            verdict = "matches" if self.matches else "does not match"
            figures = _figures(self.max_abs, self.max_ulp, self.bound_ratio)
            lines.append(f"{verdict}: {self.nonfinite}; elsewhere {figures}" if self.nonfinite else
                         f"{verdict}: {figures}")
        if self.matches:
            return "\n".join(lines)
        if self.location:
            lines.append(f"error: {self.location}")
        if not self.explanations:
            lines.append(f"nothing explains Y: {self.note}" if self.note else f"nothing explains Y: no single change "
                         f"or pair of changes tried ({self.searched} readings) reproduces it")
            return "\n".join(lines)
        lines.append(f"explanations that reproduce Y, best first ({self.searched} readings tried):")
        for rank, item in enumerate(self.explanations, 1):
            fix = item.fix.replace("\n", "\n        ")
            lines += [f"{rank}. [{', '.join(item.changes)}] {item.sentence}", f"   fix: {fix}",
                      f"   {_figures(item.max_abs, item.max_ulp, item.bound_ratio)}"]
        return "\n".join(lines)


def _figures(max_abs: float | None, max_ulp: int | None, ratio: float | None) -> str:
    return f"max_abs {max_abs:.3g}  max_ulp {max_ulp}  bound_ratio {ratio:.3g}"


def check(x: np.ndarray, w: np.ndarray, y: np.ndarray, *, layout: str | None = None,
          kernel_layout: str | None = None, padding: str | tuple | int = "VALID",
          strides: int | tuple[int, ...] = 1, dilations: int | tuple[int, ...] = 1, groups: int = 1,
          transposed: bool = False, output_padding: int | tuple[int, ...] = 0, limit: int = 5) -> CheckResult:
    """Compare ``y`` with ``x`` conv ``w`` under the stated conventions; on a mismatch, explain it.

    ``layout`` is the data layout of x and y (NCHW, NHWC, ...; default channels-first), ``kernel_layout``
    the kernel's (OIHW, HWIO, IOHW, HWIM, ...; default OI.../...IO after the data, IO.../...OI when
    ``transposed``). ``padding`` is the crop for a transposed conv (PyTorch's padding). At most ``limit``
    explanations are kept. ``ValueError`` (one line) for bad input, including a Y whose shape no
    convention tried can give.
    """
    x, w, y = (validated(label, a) for label, a in (("input", x), ("kernel", w), ("output", y)))
    _check_ranks(x, w, y)
    stated = rd.stated(x.ndim - 2, layout=layout, kernel_layout=kernel_layout, padding=padding, strides=strides,
                       dilations=dilations, groups=groups, transposed=transposed, output_padding=output_padding)
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    integers = all(np.array_equal(a, np.round(a)) for a in (x64, w64))
    try:
        fr = rd.frame(stated, x64, w64, y)
    except ValueError as error:
        return _diagnose(stated, x, w, y, integers, limit, _Stated(None, problem=str(error)))
    comparison, value, low, scale = _compare(fr, integers)
    outcome = _Stated(fr, comparison, _error(fr, value, low))
    if comparison.passed:
        return _result(stated, y, outcome, True, explanations=(), searched=0, location="")
    return _diagnose(stated, x, w, y, integers, limit, outcome, explain.locate(fr, value, low, scale, integers))


@dataclass(frozen=True, eq=False)
class _Stated:
    """The stated conventions applied to the arrays: the comparison, or why there is none."""

    frame: Frame | None
    comparison: Comparison | None = None
    error_map: np.ndarray | None = None
    problem: str = ""


def _diagnose(stated: rd.Reading, x: np.ndarray, w: np.ndarray, y: np.ndarray, integers: bool, limit: int,
              outcome: _Stated, location: str = "") -> CheckResult:
    if outcome.frame is not None and _nonfinite_only_in_y(x, w, y):
        note = "Y holds NaN or Inf while x and w are finite, which no convention gives (no change was tried)"
        return _result(stated, y, outcome, False, explanations=(), searched=0, location=location, note=note)
    # Conventions do not depend on the batch: search on a prefix of it, confirm on everything.
    keep = _batch_prefix(x, y)
    found = diagnose.search(stated, x[:keep], w, y[:keep])
    if outcome.frame is None and not found.feasible:
        raise ValueError(f"{outcome.problem}; no convention change tried gives Y's shape either")
    arrays = (np.asarray(x, np.float64), np.asarray(w, np.float64), y)
    explanations = tuple(_explanations(found.found, stated, arrays, integers, limit))
    note = "" if not found.unlisted else (
        f"no single change tried ({found.feasible} readings) reproduces it; pairs of changes were not tried: "
        f"an estimated {found.unlisted} readings, over the limit of {diagnose.MAX_READINGS}")
    return _result(stated, y, outcome, False, explanations=explanations, searched=found.feasible, location=location,
                   note=note)


def _nonfinite_only_in_y(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> bool:
    finite = [bool(np.isfinite(np.asarray(a, np.float64)).all()) for a in (x, w, y)]
    return finite == [True, True, False]


def _batch_prefix(x: np.ndarray, y: np.ndarray) -> int:
    """The fewest leading batch elements whose outputs number at least SEARCH_OUTPUTS (all if batches differ)."""
    if x.shape[0] != y.shape[0]:
        return x.shape[0]
    per_element = max(1, y.size // max(1, y.shape[0]))
    return min(y.shape[0], -(-SEARCH_OUTPUTS // per_element))


def _result(stated: rd.Reading, y: np.ndarray, outcome: _Stated, matches: bool, **fields: Any) -> CheckResult:
    comparison = outcome.comparison
    figures = dict(max_abs=comparison.max_abs, max_ulp=comparison.max_ulp, bound_ratio=comparison.bound_ratio) \
        if comparison else dict(max_abs=None, max_ulp=None, bound_ratio=None)
    nonfinite = comparison.reason if comparison and comparison.kind == "nonfinite" else ""
    return CheckResult(matches, y.dtype.name, stated.describe(), **figures, problem=outcome.problem,
                       error_map=outcome.error_map, nonfinite=nonfinite, **fields)


def _compare(fr: Frame, integers: bool) -> tuple[Comparison, np.ndarray, np.ndarray | None, np.ndarray]:
    value, low, scale = rd.compute(fr, exact=fr.spec.dtype == "float64")
    ref = Reference(value, low, scale, fr.spec.accumulation_length, integers)
    return compare(fr.y, ref, fr.spec.dtype), value, low, scale


def _error(fr: Frame, value: np.ndarray, low: np.ndarray | None) -> np.ndarray:
    return np.abs(np.asarray(fr.y, np.float64) - value - (0 if low is None else low))


def _explanations(found: tuple[diagnose.Found, ...], stated: rd.Reading, arrays: tuple[np.ndarray, ...],
                  integers: bool, limit: int) -> Iterator[Explanation]:
    """Confirm each found reading on the whole arrays against its own reference (exact for float64)."""
    kept = 0
    for item in found:
        if kept == limit:
            return
        try:
            fr = rd.frame(item.frame.reading, *arrays)
        except ValueError:
            continue
        comparison = _compare(fr, integers)[0]
        if not comparison.passed:
            continue
        sentence, fix = explain.describe(item.changes, stated, fr)
        kept += 1
        yield Explanation(tuple(c.id for c in item.changes), sentence, fix, True, comparison.max_abs,
                          comparison.max_ulp, comparison.bound_ratio)


def validated(label: str, array: Any) -> np.ndarray:
    """A float array of one of parity's dtypes; a 2-byte void array (how numpy saves bfloat16) is read
    as bfloat16."""
    array = np.asarray(array)
    if array.dtype.kind == "V" and array.dtype.itemsize == 2 and array.dtype.names is None:
        array = array.view(ml_dtypes.bfloat16)
    if array.dtype.name not in DTYPES:
        raise ValueError(f"{label} must be a {_FLOATS} array, got dtype {array.dtype.str!r}")
    return array


def _check_ranks(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> None:
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"input must have 3 to 5 dimensions (batch, channels, 1 to 3 spatial), got shape {x.shape}")
    for label, array in (("kernel", w), ("output", y)):
        if array.ndim != x.ndim:
            raise ValueError(f"{label} must have {x.ndim} dimensions like the input, got shape {array.shape}")
    for label, array in (("input", x), ("kernel", w), ("output", y)):
        if array.size == 0:
            raise ValueError(f"{label} must have at least one element on every axis, got shape {array.shape}")


def load(path: str | Path, label: str) -> np.ndarray:
    """Load a .npy file safely (no pickles; its header's shape checked against the file and the memory budget
    first) as a validated float array in native byte order; ``ValueError`` says why not."""
    from parity.runner import memory_budget

    array = files.load_npy(path, label, memory_budget() * 2**30)
    array = validated(f"{label} {str(path)!r}", array)
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))

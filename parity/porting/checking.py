"""`parity check`: does Y match x conv w under the stated conventions, and if not, which change explains it.

Y is compared with the exact reference for the stated conventions in Y's dtype (the error bound of
that dtype decides, as in :func:`parity.verdict.comparison.compare`; for printed arrays the bound also allows
each element's printing rounding, see :mod:`parity.porting.printed`). On a mismatch
:func:`parity.porting.diagnose.search` looks for convention changes that reproduce Y; each is confirmed against the reference for its own
conventions (exact for float64) and explained in a sentence with a concrete fix. When none reproduces
Y, the readings that remove the most of the error (by :data:`CLOSEST_FACTOR` or more) are reported as
closest, with where their residual sits.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final, Iterator

import numpy as np

from parity.core import files
from parity.core.dtypes import np_dtype
from parity.porting import check_hints
from parity.porting import check_inputs
from parity.porting import diagnose
from parity.porting import evidence
from parity.porting import explain
from parity.core import reading as rd
from parity.porting import framed
from parity.verdict import sensitivity
from parity.porting.check_inputs import Inputs
from parity.porting.check_report import CheckResult, Explanation
from parity.verdict.comparison import Comparison, compare, total_bound
from parity.core.reading import Frame
from parity.reference.conv import Reference
from parity.reference.repeats import Repeats

SEARCH_OUTPUTS: Final = 1 << 14  # the search looks at the first batch elements holding this many outputs
CLOSEST_FACTOR: Final = 100.0  # a closest reading must cut the largest error by this factor at least


def check(x: Any, w: Any, y: Any, *, layout: str | None = None, kernel_layout: str | None = None,
          padding: str | tuple | int | None = None, strides: int | tuple[int, ...] | None = None,
          dilations: int | tuple[int, ...] | None = None, groups: int | None = None, transposed: bool = False,
          output_padding: int | tuple[int, ...] = 0, limit: int = 5) -> CheckResult:
    """Compare ``y`` with ``x`` conv ``w`` under the stated conventions; on a mismatch, explain it.

    x, w and y are arrays or :class:`parity.porting.printed.Printed` printouts (their rounding enters the bound).
    ``layout`` is the data layout of x and y (NCHW, NHWC, ...; default channels-first; size-1 batch and
    channel axes may be left out, e.g. HWC), ``kernel_layout`` the kernel's (OIHW, HWIO, IOHW, HWIM, ...;
    default OI.../...IO after the data, IO.../...OI when ``transposed``; a size-1 O or I may be left out,
    e.g. HWI). ``padding`` (default VALID) is the crop for a transposed conv (PyTorch's padding); strides,
    dilations and groups default to 1. At most ``limit`` explanations are kept. ``ValueError`` (one line)
    for bad input, including a Y whose shape no convention tried can give. A Y stored wider than it was
    computed in (a float32 result saved as float64: every element of x, w and Y exact in the narrower type)
    that does not match as stored is compared in that type too; if it matches there, or only there a change
    of conventions reproduces it, the result is that comparison, with a ``read`` line saying so.
    """
    options = dict(layout=layout, kernel_layout=kernel_layout, padding=padding, strides=strides, dilations=dilations,
                   groups=groups, transposed=transposed, output_padding=output_padding, limit=limit)
    result = _check(x, w, y, **options)
    narrow = None if result.matches or result.problem else check_inputs.computed_in(x, w, y)
    if narrow is None:
        return result if result.matches or result.problem else check_hints.y_narrow(result, x, w, y)
    narrowed = _check(x, w, files.float_array("output", y).astype(np_dtype(narrow)), **options)
    # within the narrow type's bound but no evidence there ('cannot tell'), it says what that bound admits
    within = narrowed.bound_ratio is not None and narrowed.bound_ratio <= 1
    if not (narrowed.matches or (_reproduced(narrowed) or within) and not _reproduced(result)):
        return result
    return dataclasses.replace(narrowed, read=(*narrowed.read, f"Y: {result.dtype} holding {narrow} values only: "
                                               f"compared as {narrow}, the type it was computed in"))


def _reproduced(result: CheckResult) -> bool:
    return any(e.matches for e in result.explanations)


def _check(x: Any, w: Any, y: Any, *, layout: str | None, kernel_layout: str | None, padding: str | tuple | int | None,
           strides: int | tuple[int, ...] | None, dilations: int | tuple[int, ...] | None, groups: int | None,
           transposed: bool, output_padding: int | tuple[int, ...], limit: int) -> CheckResult:
    """:func:`check` on Y as stored."""
    if not isinstance(transposed, bool):
        raise ValueError(f"transposed must be True or False, got {transposed!r}")
    assumed = {name: default for name, value, default in (("padding", padding, "VALID"), ("strides", strides, 1),
                                                          ("dilations", dilations, 1), ("groups", groups, 1))
               if value is None}
    given = {name: value for name, value in (("padding", padding), ("strides", strides), ("dilations", dilations),
                                             ("groups", groups)) if value is not None}
    inputs = check_inputs.prepare((x, w, y), layout, kernel_layout, given.get("groups", 1), transposed)
    _check_ranks(inputs.x, inputs.w, inputs.y)
    stated = rd.stated(inputs.x.ndim - 2, layout=inputs.layout, kernel_layout=inputs.kernel_layout,
                       transposed=transposed, output_padding=output_padding, **given)
    x64, w64 = np.asarray(inputs.x, np.float64), np.asarray(inputs.w, np.float64)
    context = _Context(stated, inputs, limit, assumed,
                       inputs.rounding is None and all(np.array_equal(a, np.round(a)) for a in (x64, w64)))
    try:
        fr = rd.frame(stated, x64, w64, inputs.y, inputs.rounding)
    except ValueError as error:
        return _diagnose(context, _Stated(None, problem=str(error)))
    comparison, ref, bound, arithmetic = _compare(fr, context.integers)
    widening = 1.0 if fr.rounding is None else float(np.median(bound / arithmetic))
    outcome = _Stated(fr, comparison, _error(fr, ref.value, ref.low), widening=widening)
    if comparison.status == "fail":
        return _diagnose(context, outcome, explain.locate(fr, ref.value, ref.low, bound))
    closer, doubt = evidence.doubt(fr, ref, bound, comparison.max_abs)
    if comparison.status == "insensitive":  # within a bound widened for repeated products: it cannot tell
        closer, doubt = False, doubt or comparison.reason
    if not closer:
        return _result(context, outcome, False, explanations=(), searched=0, location="", doubt=doubt)
    # where the bound admits a mutant, the margin decided: the printing's own ambiguity is that doubt, said once
    return _result(context, outcome, True, explanations=(), searched=0, location="",
                   ambiguous="" if doubt else _ambiguous_match(context), doubt=doubt)


@dataclass(frozen=True, eq=False)
class _Context:
    stated: rd.Reading
    inputs: Inputs
    limit: int
    assumed: dict[str, object]
    integers: bool


@dataclass(frozen=True, eq=False)
class _Stated:
    """The stated conventions applied to the arrays: the comparison, or why there is none."""

    frame: Frame | None
    comparison: Comparison | None = None
    error_map: np.ndarray | None = None
    problem: str = ""
    widening: float = 1.0  # median factor by which the printing widens the bound


def _diagnose(context: _Context, outcome: _Stated, location: str = "") -> CheckResult:
    inputs = context.inputs
    if outcome.frame is not None and _nonfinite_only_in_y(inputs):
        note = "Y holds NaN or Inf while x and w are finite, which no convention gives (no change was tried)"
        return _result(context, outcome, False, explanations=(), searched=0, location=location, note=note)
    # Conventions do not depend on the batch: search on a prefix of it, confirm on everything.
    keep = _batch_prefix(inputs.x, inputs.y)
    rounding = None if inputs.rounding is None else tuple(r[:keep] if i != 1 else r for i, r in
                                                          enumerate(inputs.rounding))
    found = diagnose.search(context.stated, inputs.x[:keep], inputs.w, inputs.y[:keep], rounding)
    if outcome.frame is None and not found.feasible:
        hint = check_hints.layout(inputs)
        raise ValueError(f"{outcome.problem}; no convention change tried gives Y's shape either"
                         + (f"; {hint}" if hint else ""))
    explanations = tuple(_explanations(found.found, context))
    if not explanations:
        baseline = outcome.comparison.max_abs if outcome.comparison else float(np.nanmax(np.abs(
            np.asarray(inputs.y, np.float64)), initial=0.0))
        explanations = tuple(_closest(found.closest, context, baseline))
    note = "" if not found.unlisted else (
        f"no single change tried ({found.feasible} readings) reproduces it; pairs of changes were not tried: "
        f"an estimated {found.unlisted} readings, over the limit of {diagnose.MAX_READINGS}")
    matched = [e for e in explanations if e.matches]
    ambiguous = "" if inputs.rounding is None or len(matched) < 2 else (
        f"the printing is too coarse to tell these {len(matched)} readings apart: print more digits")
    hint = check_hints.assumed(context.assumed, outcome.problem, inputs) if not explanations else ""
    return _result(context, outcome, False, explanations=explanations, searched=found.feasible,
                   location=location, note=note, ambiguous=ambiguous, hint=hint)


def _ambiguous_match(context: _Context) -> str:
    """With printed arrays, the single changes that also reproduce Y within the printing's rounding."""
    inputs = context.inputs
    if inputs.rounding is None:
        return ""
    keep = _batch_prefix(inputs.x, inputs.y)
    rounding = tuple(r[:keep] if i != 1 else r for i, r in enumerate(inputs.rounding))
    found = diagnose.search(context.stated, inputs.x[:keep], inputs.w, inputs.y[:keep], rounding, depths=(1,))
    if not found.found:
        return ""
    arrays = (np.asarray(inputs.x[:keep], np.float64), np.asarray(inputs.w, np.float64), inputs.y[:keep])
    stated, _, scale = framed.compute(rd.frame(context.stated, *arrays))
    # a 1x1 kernel flipped, transposed or dilated is the same computation: nothing for the printing to tell apart
    others = [item for item in found.found if not sensitivity.harmless(framed.compute(item.frame)[0], stated, scale)]
    if not others:
        return ""
    names = ", ".join(f"[{', '.join(c.id for c in item.changes)}]" for item in others[:3])
    return (f"the printing is too coarse to tell the stated conventions from {names}, which also reproduce Y "
            "within it: this match is no evidence against them; print more digits")


def _nonfinite_only_in_y(inputs: Inputs) -> bool:
    finite = [bool(np.isfinite(np.asarray(a, np.float64)).all()) for a in (inputs.x, inputs.w, inputs.y)]
    return finite == [True, True, False]


def _batch_prefix(x: np.ndarray, y: np.ndarray) -> int:
    """The fewest leading batch elements whose outputs number at least SEARCH_OUTPUTS (all if batches differ)."""
    if x.shape[0] != y.shape[0]:
        return x.shape[0]
    per_element = max(1, y.size // max(1, y.shape[0]))
    return min(y.shape[0], -(-SEARCH_OUTPUTS // per_element))


def _result(context: _Context, outcome: _Stated, matches: bool, **fields: Any) -> CheckResult:
    comparison = outcome.comparison
    figures = dict(max_abs=comparison.max_abs, max_ulp=comparison.max_ulp, bound_ratio=comparison.bound_ratio) \
        if comparison else dict(max_abs=None, max_ulp=None, bound_ratio=None)
    nonfinite = comparison.reason if comparison and comparison.kind == "nonfinite" else ""
    printing = context.inputs.printing
    if printing:
        printing += "; compared within that rounding"
        printing += f" (the bound widened {outcome.widening:.3g}x, median over Y)" if outcome.frame else ""
    repeats = "" if comparison is None or comparison.bound is None else (
        f"Y's sums repeat products (sqrt(sum m^2) up to {comparison.repeats:.3g} sqrt(n)); copies of one product "
        "round alike, so the bound counts them (up to the worst case)")
    return CheckResult(matches, context.inputs.y.dtype.name, context.stated.describe(), **figures,
                       problem=outcome.problem, error_map=outcome.error_map, nonfinite=nonfinite,
                       read=context.inputs.notes, printing=printing, repeats=repeats, **fields)


def _compare(fr: Frame, integers: bool) -> tuple[Comparison, Reference, np.ndarray, np.ndarray]:
    """(comparison, reference, total bound, arithmetic bound) per element: the total is the bound of Y's
    dtype plus the printing's rounding of x and w (through the convolution) and of Y."""
    value, low, scale = framed.compute(fr, exact=fr.spec.dtype == "float64")
    widen = framed.widening(fr)
    ref = Reference(value, low, scale if widen is None else scale + widen, fr.spec.accumulation_length, integers,
                    repeats=Repeats(fr.spec, fr.x, fr.w))
    arithmetic = total_bound(ref, fr.spec.dtype)
    bound = arithmetic if fr.rounding is None else arithmetic + (0 if widen is None else widen) + fr.rounding[2]
    comparison = compare(fr.y, ref, fr.spec.dtype, bound=bound)
    if comparison.bound is not None:  # repeated products widened it: every later figure uses that bound
        arithmetic, bound = arithmetic + comparison.bound - bound, comparison.bound
    return comparison, ref, bound, arithmetic


def _error(fr: Frame, value: np.ndarray, low: np.ndarray | None) -> np.ndarray:
    return np.abs(np.asarray(fr.y, np.float64) - value - (0 if low is None else low))


def _confirmed(item: diagnose.Found, context: _Context) -> tuple[Frame, Comparison, np.ndarray, tuple] | None:
    """The reading on the whole arrays: (frame, comparison, bound, (value, low)), or None if it does not fit."""
    inputs = context.inputs
    arrays = (np.asarray(inputs.x, np.float64), np.asarray(inputs.w, np.float64), inputs.y)
    try:
        fr = rd.frame(item.frame.reading, *arrays, inputs.rounding)
    except ValueError:
        return None
    comparison, ref, bound, _ = _compare(fr, context.integers)
    return fr, comparison, bound, (ref.value, ref.low)


def _explanations(found: tuple[diagnose.Found, ...], context: _Context) -> Iterator[Explanation]:
    """Confirm each found reading on the whole arrays against its own reference (exact for float64). A short
    type's bound over long sums admits readings far from Y (float16 over 2304 terms: a kernel read as WHIO
    197 away where the flip that made Y is 0.03 away); one that another confirmed reading is MARGIN times
    closer to Y than is no explanation (:func:`parity.verdict.sensitivity.closer`)."""
    confirmed = [(item, done) for item in found if (done := _confirmed(item, context)) is not None and done[1].passed]
    best = min((done[1].max_abs for _, done in confirmed), default=0.0)
    kept = [(item, done) for item, done in confirmed if not sensitivity.closer(best, done[1].max_abs)]
    for item, (fr, comparison, *_) in kept[:context.limit]:
        sentence, fix = explain.describe(item.changes, context.stated, fr)
        yield Explanation(tuple(c.id for c in item.changes), sentence, fix, True, comparison.max_abs,
                          comparison.max_ulp, comparison.bound_ratio, dtype=fr.spec.dtype)


def _closest(found: tuple[diagnose.Found, ...], context: _Context, baseline: float) -> Iterator[Explanation]:
    """The readings that cut the largest error by CLOSEST_FACTOR or more, with where their residual sits."""
    kept = 0
    for item in found:
        if kept == min(context.limit, 3):
            return
        if item.residual * CLOSEST_FACTOR > baseline:  # already too far on the probes alone
            continue
        confirmed = _confirmed(item, context)
        if confirmed is None:
            continue
        fr, comparison, bound, (value, low) = confirmed
        if not comparison.max_abs * CLOSEST_FACTOR <= baseline:
            continue
        sentence, fix = explain.describe(item.changes, context.stated, fr)
        kept += 1
        cut = baseline / max(comparison.max_abs, 1e-300)
        yield Explanation(tuple(c.id for c in item.changes), sentence, fix, comparison.passed, comparison.max_abs,
                          comparison.max_ulp, comparison.bound_ratio, closest=cut,
                          location=explain.locate(fr, value, low, bound), dtype=fr.spec.dtype)


def _check_ranks(x: np.ndarray, w: np.ndarray, y: np.ndarray) -> None:
    if not 3 <= x.ndim <= 5:
        raise ValueError(f"input must have 3 to 5 dimensions (batch, channels, 1 to 3 spatial), got shape {x.shape}")
    for label, array in (("kernel", w), ("output", y)):
        if array.ndim != x.ndim:
            raise ValueError(f"{label} must have {x.ndim} dimensions like the input, got shape {array.shape}")

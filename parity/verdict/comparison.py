"""The comparator: error as a fraction of the floating-point error bound.

For a dot product of n terms whose products and sums are rounded in a format with unit roundoff u (the
*accumulation* type), in any summation order, |fl(s) - s| <= ((1 + u)**n - 1) * sum|x_i w_i| (Higham,
*Accuracy and Stability*, section 3.1; gamma_n = n u / (1 - n u) is its usual upper estimate, infinite once
n u >= 1). For long sums in a short format that worst case is far above any real error, so the factor used is
the smaller of it and the probabilistic gamma~_n(lambda) of Higham and Mary (2019), which grows like
sqrt(n) u and holds with probability >= 1 - 2n exp(-lambda**2 (1-u)**2 / 2) when rounding errors behave as
independent, mean-zero variables; lambda is chosen per n so that this failure probability is
:data:`FAILURE_PROBABILITY` per element. Copies of one product do not round independently: elements beyond
that bound are judged again with sqrt(n) replaced by sqrt(sum m**2) over their sums' distinct products
(:mod:`parity.reference.repeats`), never above the worst case. Per output element the sum is the reference's ``scale``
(|x| conv |w|). Half an ULP of the output format is added for the final rounding. ``bound_ratio`` =
|error| / bound; a result passes when it is <= 1. There are no hand-picked atol/rtol: the bound follows from
the dtypes, the accumulation length and the data alone (integer data whose sums the accumulation type holds
exactly must come out correctly rounded).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal, Sequence, Union

import numpy as np

from parity.core.dtypes import canonical_name, np_dtype, precision_bits, ulp, unit_roundoff
from parity.reference.conv import Reference
from parity.verdict.ulp import ULP_INFINITE, max_distance, ulp_distance

Status = Literal["pass", "fail", "insensitive"]
Kind = Literal["ok", "bound", "nonfinite", "shape", "dtype"]
# Values this far beyond the bound are reported as absurd (garbage such as an old TF's -5.3e37).
ABSURD_RATIO: Final = 1e6
# Per-element probability that the probabilistic bound fails for a correct computation (see the docstring).
FAILURE_PROBABILITY: Final = 1e-9
Accumulation = Union[str, Sequence[str], None]
TAPS: Final = "-taps"


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing one output with the reference or with another backend's output."""

    status: Status
    kind: Kind
    max_abs: float
    max_rel: float
    max_ulp: int
    bound_ratio: float
    worst_index: tuple[int, ...] | None
    reason: str
    # Where elements beyond the sqrt(n) bound repeat products: the widened bound they were judged by, and
    # the largest sqrt(repeats / n) among them (1: the sqrt(n) bound decided).
    bound: np.ndarray | None = field(default=None, repr=False, compare=False)
    repeats: float = 1.0

    @property
    def passed(self) -> bool:
        return self.status == "pass"


def gamma(n: int, u: float, repeats: np.ndarray | None = None) -> float | np.ndarray:
    """The relative error factor of an n-term dot product accumulated with unit roundoff u: the smaller
    of the worst case (1 + u)**n - 1 and Higham and Mary's probabilistic gamma~_n(lambda). Always finite.
    With ``repeats`` (per element: sum(m**2) over its distinct products, :mod:`parity.reference.repeats`),
    sqrt(repeats) replaces sqrt(n): m copies of one product round alike, one error m times as large."""
    worst = math.expm1(n * math.log1p(u))
    lam = math.sqrt(2 * math.log(2 * n / FAILURE_PROBABILITY)) / (1 - u)
    if repeats is not None:
        return np.minimum(worst, np.expm1(lam * np.sqrt(np.maximum(repeats, n)) * u + n * u * u / (1 - u)))
    return min(worst, math.expm1(lam * math.sqrt(n) * u + n * u * u / (1 - u)))


def error_bound(ref: Reference, dtype: str, accumulation: str | None = None) -> np.ndarray:
    """gamma(n, u_acc) * (|x| conv |w|) + half an ULP of ``dtype`` at the result, per element; ``accumulation``
    (default: ``dtype``) is the format the products are summed in. ``"<type>-taps"`` (e.g. ``float16-taps``)
    means channels summed in float32 per kernel tap and the ``ref.taps`` tap sums added in ``<type>``.

    With integer inputs, an element whose |x| conv |w| is at most 2**p of every type involved has only
    integer partial sums those types hold exactly, so no order of summation rounds: its gamma term is 0
    and only the final rounding to ``dtype`` remains.
    """
    return _rounding(ref, dtype, accumulation) + 0.5 * ulp(ref.value, dtype)


def _rounding(ref: Reference, dtype: str, accumulation: str | None, repeats: np.ndarray | None = None) -> np.ndarray:
    """The accumulation part of :func:`error_bound` (everything but the final half ULP); ``repeats`` (see
    :func:`gamma`) per element of ``ref.scale``, or None."""
    short = canonical_name((accumulation or dtype).removesuffix(TAPS))
    if accumulation and accumulation.endswith(TAPS):
        wide = gamma(ref.accumulation_length, unit_roundoff("float32"), repeats)
        factor, exact_below = wide + gamma(ref.taps, unit_roundoff(short)) * (1 + wide), precision_bits(short)
    else:
        factor, exact_below = gamma(ref.accumulation_length, unit_roundoff(short), repeats), precision_bits(short)
    rounding = factor * ref.scale
    if ref.integer_inputs:
        rounding = np.where(ref.scale <= 2.0 ** exact_below, 0.0, rounding)
    return rounding


def compare(actual: np.ndarray, ref: Reference, dtype: str, *, expected: np.ndarray | None = None,
            computations: int = 1, accumulation: Accumulation = None, bound: np.ndarray | None = None,
            count_repeats: bool = True) -> Comparison:
    """Compare ``actual`` with the exact reference (or with ``expected``, another backend's output).

    ``computations`` is how many independently rounded results the difference contains: 1 against the
    reference, 2 between two backends (each may sit a full bound away, on opposite sides). ``accumulation``
    names the format each of them sums in (one name for all, or one per computation; default: ``dtype``).
    ``bound`` is the total error bound per element when the caller has it already: that of ``accumulation``,
    plus what the caller adds. Elements beyond it are judged again with their sums' repeated products
    counted (:func:`gamma`), where ``ref.repeats`` can count them and ``count_repeats``; the bound so widened
    is ``.bound``, and a result within it only is ``insensitive`` (not passed): near the worst case, a subtly
    wrong one fits too.
    """
    dtype = canonical_name(dtype)
    actual = np.asarray(actual)
    target = np.asarray(ref.value if expected is None else expected)
    problem = _structural_problem(actual, target, dtype, expected is None, ref.value.shape)
    if problem:
        return Comparison("fail", problem[0], np.nan, np.nan, int(ULP_INFINITE), np.inf, None, problem[1])
    actual64, target64 = np.asarray(actual, np.float64), np.asarray(target, np.float64)
    total = total_bound(ref, dtype, computations, accumulation) if bound is None else bound
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf, or beyond float64: judged below
        diff = actual64 - target64
    finite, low = bool(np.isfinite(diff).all()), ref.low if expected is None else None  # no overflow, NaN or Inf
    if finite:
        err, max_ulp, nonfinite = _finite_errors(diff, low, actual, target)
    else:
        actual64, target64 = _overflows_judged(ref, dtype, computations, total, actual64, target64, expected is None)
        err, max_ulp, nonfinite = _errors(actual, target, actual64, target64, low, expected is None)
    ratio, widened = _ratio(err, total), None
    worst, largest = _worst(ratio)
    if count_repeats and ref.repeats is not None and largest > 1:
        widened = _repeated(ref, dtype, computations, accumulation, total, err, ratio > 1)
        if widened is not None:
            ratio = _ratio(err, widened[0])
            worst, largest = _worst(ratio)
    summary = dict(max_abs=float(err.max(initial=0.0)), max_rel=_largest_relative(err, target64, finite and low is None),
                   max_ulp=max_ulp, bound_ratio=largest, worst_index=worst,
                   **({} if widened is None else dict(bound=widened[0], repeats=widened[1])))
    if nonfinite:  # a NaN or Inf where the other side is finite is no finite error: the figures say so
        summary.update(max_abs=np.inf, max_rel=np.inf, max_ulp=int(ULP_INFINITE), bound_ratio=np.inf)
        return Comparison("fail", "nonfinite", **summary, reason=nonfinite)
    if summary["bound_ratio"] > 1:
        reason = _bound_reason(summary, actual64, target64)
        return Comparison("fail", "bound", **summary, reason=reason + (f"; {_counted(widened[1], True)}" if widened else ""))
    if widened is not None:
        return Comparison("insensitive", "ok", **summary, reason=_counted(widened[1], False))
    return Comparison("pass", "ok", **summary, reason="")


def _counted(repeats: float, failed: bool) -> str:
    """What counting repeated products did to a comparison: a failure says how it was judged; a result within
    the widened bound cannot tell, since near the worst case a subtly wrong result fits as well."""
    counted = f"the sums repeat products, so the bound counted them (sqrt(sum m^2) up to {repeats:.3g} sqrt(n))"
    if failed:
        return counted
    return (f"{counted}; within it a subtly wrong result (inputs rounded to TF32, a shorter accumulation) fits as "
            "well as a correct one: compare a float64 run of the same call")


def _largest_relative(err: np.ndarray, target64: np.ndarray, finite: bool) -> float:
    """The largest err / |target|: infinite where the target is 0 and the error is not, 0 where both are.
    Where both sides and the error are finite (``finite``) the quotient's only NaNs are those 0 / 0, which fmax
    passes over (a NaN ``low`` of a float64 reference makes the error NaN: that takes the general path)."""
    if finite:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.fmax.reduce(err / np.abs(target64), axis=None, initial=0.0))
    rel = np.divide(err, np.abs(target64), out=np.where(err > 0, np.inf, 0.0), where=target64 != 0)
    return float(rel.max(initial=0.0))


def _worst(ratio: np.ndarray) -> tuple[tuple[int, ...] | None, float]:
    """(the index of the largest ratio, that ratio): (None, 0.0) for an empty result; NaN wins, as in max."""
    if not ratio.size:
        return None, 0.0
    at = int(np.argmax(ratio))
    return tuple(int(i) for i in np.unravel_index(at, ratio.shape)), float(max(ratio.flat[at], 0.0))


def _ratio(err: np.ndarray, total: np.ndarray) -> np.ndarray:
    """err / total; where the error is 0 the ratio is 0, even where the bound is 0 (exact integer sums; half
    an ULP of 0 underflowing float64); elsewhere a 0 bound makes any error infinitely many bounds."""
    with np.errstate(divide="ignore"):
        return np.divide(err, total, out=np.zeros_like(err), where=err > 0)


def _repeated(ref: Reference, dtype: str, computations: int, accumulation: Accumulation, total: np.ndarray,
              err: np.ndarray, beyond: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(``total`` widened where ``beyond`` by counting the repeated products of those sums, the largest
    sqrt(repeats / n) among them), or None where no sum there repeats a product, the factor is the worst
    case already, or ``err`` exceeds even the worst case (those are not counted)."""
    n, names = ref.accumulation_length, _names(accumulation, computations)
    repeats = np.full(ref.value.shape, float(n))
    ceiling = _widening(ref, dtype, names, np.full(ref.value.shape, float(n) ** 2))  # the worst case
    beyond = beyond & (err <= total + ceiling)  # only those the worst case could still admit are counted
    if not beyond.any():
        return None
    repeats[beyond] = ref.repeats(beyond)
    extra = _widening(ref, dtype, names, repeats)
    if not np.any(extra > 0):
        return None
    return total + extra, math.sqrt(float(repeats.max()) / n)


def _widening(ref: Reference, dtype: str, names: list[str | None], repeats: np.ndarray) -> np.ndarray:
    """How much counting ``repeats`` widens the summed accumulation bounds of ``names``."""
    return sum(_rounding(ref, dtype, name, repeats) - _rounding(ref, dtype, name) for name in names)


def _errors(actual: np.ndarray, target: np.ndarray, actual64: np.ndarray, target64: np.ndarray,
            low: np.ndarray | None, against_reference: bool) -> tuple[np.ndarray, int, str]:
    """(|actual - exact| per element, max ULP distance, NaN/Inf problem) with non-finite elements counted
    as error 0 and distance 0; ``low`` (float64 references) is the part of the exact value below
    ``target``. The common case, every difference finite, skips the NaN/Inf bookkeeping."""
    diff = actual64 - target64
    if np.isfinite(diff).all():  # then both sides are finite everywhere
        return _finite_errors(diff, low, actual, target)
    finite = np.isfinite(actual64) & np.isfinite(target64)
    diff = np.where(finite, diff, 0.0)
    if low is not None:
        diff = np.where(finite, diff - low, 0.0)
    with np.errstate(over="ignore"):
        ulps = ulp_distance(actual, target.astype(actual.dtype))
    return (np.abs(diff), int(np.where(finite, ulps, 0).max(initial=0)),
            _nonfinite_problem(actual64, target64, against_reference))


def _overflows_judged(ref: Reference, dtype: str, computations: int, total: np.ndarray, actual64: np.ndarray,
                      target64: np.ndarray, against_reference: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both sides with each correctly rounded overflow replaced by the exact value (:func:`overflowed`), each
    judged against the exact value, so that the verdict does not depend on the order of the sides."""
    actual64 = overflowed(actual64, ref.value, total, dtype, computations)
    return actual64, target64 if against_reference else overflowed(target64, ref.value, total, dtype, computations)


def _finite_errors(diff: np.ndarray, low: np.ndarray | None, actual: np.ndarray, target: np.ndarray
                   ) -> tuple[np.ndarray, int, str]:
    """:func:`_errors` where every difference (``diff``: actual - target in float64) is finite."""
    return np.abs(diff if low is None else diff - low), max_distance(actual, target), ""


def overflowed(values64: np.ndarray, exact: np.ndarray, total: np.ndarray, dtype: str,
               computations: int = 1) -> np.ndarray:
    """``values64`` (a result rounded to ``dtype``, in float64) with each infinity that is a correctly rounded
    overflow replaced by the exact value (agreement: error 0): one of the exact value's sign where the exact
    value plus the bound's accumulation error (``total`` less its final half ULPs) reaches the values that
    round to infinity. 1.2e5 is inf in float16, whose largest finite value is 65504 and whose values from
    65520 on round to inf; exact 65512 is not, unless float16 partial sums may overflow on the way."""
    if dtype == "float64" or not np.isinf(values64).any():
        return values64
    largest = float(np.finfo(np_dtype(dtype)).max)
    half = 0.5 * float(ulp(np.asarray(largest), dtype))
    with np.errstate(invalid="ignore"):
        reach = np.abs(exact) + total - computations * half
        agree = np.isinf(values64) & (np.sign(values64) == np.sign(exact)) & (reach >= largest + half)
    return np.where(agree, exact, values64) if agree.any() else values64


def total_bound(ref: Reference, dtype: str, computations: int = 1, accumulation: Accumulation = None) -> np.ndarray:
    """The sum of the error bounds of ``computations`` results, each accumulated as ``accumulation`` says."""
    half = 0.5 * ulp(ref.value, dtype)  # the same for every computation: computed once
    return sum(_rounding(ref, dtype, name) + half for name in _names(accumulation, computations))


def _names(accumulation: Accumulation, computations: int) -> list[str | None]:
    names = [accumulation] * computations if accumulation is None or isinstance(accumulation, str) else list(accumulation)
    if len(names) != computations:
        raise ValueError(f"accumulation must name one format or one per computation ({computations}), got {accumulation!r}")
    return names


def _structural_problem(actual: np.ndarray, target: np.ndarray, dtype: str, against_reference: bool,
                        result_shape: tuple[int, ...]) -> tuple[Kind, str] | None:
    if actual.shape != target.shape and not against_reference:  # neither side is the expectation
        return "shape", (f"shape mismatch: this side has {actual.shape}, the other side {target.shape}; the case's "
                         f"result has {result_shape}")
    if actual.shape != target.shape:
        return "shape", f"shape mismatch: got {actual.shape}, expected {target.shape}"
    if actual.shape != result_shape:  # two backends agreeing on a wrong shape: no bound to judge them by
        return "shape", f"shape mismatch: both sides have {actual.shape}, the case's result has {result_shape}"
    sides = [("got", actual)] + ([] if against_reference else [("other side has", target)])
    for label, array in sides:
        if _dtype_name(array.dtype) != dtype:
            return "dtype", f"dtype mismatch: {label} {array.dtype}, expected {dtype}"
    return None


def _dtype_name(dtype: np.dtype) -> str | None:
    try:
        return canonical_name(dtype)
    except ValueError:
        return None


def _nonfinite_problem(actual: np.ndarray, target: np.ndarray, against_reference: bool) -> str:
    """Name NaN/Inf positions that differ between the two sides ('' when they agree)."""
    for label, test in (("NaN", np.isnan), ("Inf", np.isinf)):
        got, want = test(actual), test(target)
        wrong = got != want
        if wrong.any():
            first = tuple(int(i) for i in np.argwhere(wrong)[0])
            sides = ("output", "expected") if against_reference else ("this side", "the other side")
            return f"{label} in {sides[0] if got[first] else sides[1]} only: {int(wrong.sum())} element(s), first at {first}"
    return ""


def _bound_reason(summary: dict, actual: np.ndarray, target: np.ndarray) -> str:
    index = summary["worst_index"]
    absurd = " (absurd value)" if summary["bound_ratio"] > ABSURD_RATIO else ""
    return (f"error {summary['bound_ratio']:.3g}x the bound{absurd}: at {index} got {actual[index]:.9g}, "
            f"expected {target[index]:.9g} ({summary['max_ulp']} ULP max)")

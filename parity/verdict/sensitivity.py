"""Could a comparison have failed? Each case's own mutated references (the conventions people get wrong)
are judged against the comparison's bound: a bound that admits one of them cannot tell the mistake from
the right answer, so a result within it is ``insensitive``, not a pass (oneDNN's benchdnn: MISTRUSTED).

Mutants: the kernel flipped along every spatial axis, the kernel's first two equal spatial axes transposed,
and the padding shifted by one towards the start or the end (same padded length, so every shape holds).
A mutant that equals the reference (a 1x1 kernel flipped, a symmetric kernel) is harmless and not judged.

A mutant is computed lazily, and first only on its *head*: the first eighth (at least one position) of
the first output spatial axis. One element of the head outside the bound makes the mutant
distinguishable, whatever the rest holds (and such a mutant is not harmless either: a harmless one lies
within 2**-40 of the error scale, inside every bound), so the whole mutant is computed only when its head
shows no violation. The head's elements are the same sums as the whole mutant's first rows, possibly added
in another BLAS blocking, so the verdict is the whole evaluation's unless an element's error equals its
bound to within float64 rounding. A weight gradient sums over every output position: its padding mutants
are computed whole.

A bound that rejects a mutant by less than NEAR (its largest error is under NEAR x the bound) is about as wide
as the differences a changed convention makes: it rejects the mutant on a few elements by a little, and a
wrong result of that size confined to a part of the output (one output channel copied from another) still
fits. A result within such a bound counts only if it is MARGIN times closer to what it is compared with than
to each such mutant, both distances net of half an ULP, the final rounding a correct result has anyway
(:func:`indistinct`): a correct result is typically hundreds of times closer, or the truth correctly
rounded. A bound that rejects every mutant by NEAR or more needs no such test: it also rejects a result
rounded to the nearest of the output type that differs from the truth by a few units in the last place, so
a closeness test there would doubt correctly rounded results.
"""
from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Callable, Final, Iterator

import numpy as np

from parity.core.dtypes import np_dtype, ulp
from parity.reference.conv import Reference, compute
from parity.verdict.comparison import overflowed

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

# A mutant within this fraction of the error scale of the reference is numerically the same result.
_HARMLESS: Final = 2.0 ** -40
HEAD: Final = 8  # the head is the first 1/HEAD of the first output spatial axis (at least one position)
NEAR: Final = 2.0  # a bound that rejects a mutant by less than this needs a result MARGIN times closer to the truth
MARGIN: Final = 10.0


class Mutant:
    """A reference computed with one convention mistaken, in canonical layout, float64: ``value`` (whole)
    and ``head`` (its first ``rows`` positions of the first output spatial axis; None without a head),
    each computed on first use by ``evaluate(rows)`` (rows None: whole)."""

    def __init__(self, name: str, evaluate: Callable[[int | None], np.ndarray], rows: int | None = None) -> None:
        self.name, self.rows, self._evaluate = name, rows, evaluate

    @cached_property
    def value(self) -> np.ndarray:
        return self._evaluate(None)

    @cached_property
    def head(self) -> np.ndarray | None:
        return None if self.rows is None else self._evaluate(self.rows)


def mutants(spec: "ConvSpec", ref: Reference, x: np.ndarray, w: np.ndarray,
            dy: np.ndarray | None = None) -> list[Mutant]:
    """The case's mutants (see the module docstring), not yet computed."""
    operands = [np.asarray(a, np.float64) for a in (x, w, dy) if a is not None]
    axes = tuple(range(2, 2 + spec.rank))
    kernel_changes = [("kernel flipped", lambda k: np.flip(k, axes))] if max(spec.kernel) > 1 else []
    square = [(a, b) for a in axes for b in axes if a < b and spec.kernel[a - 2] == spec.kernel[b - 2] > 1]
    if square:
        kernel_changes.append(("kernel axes transposed", lambda k: np.swapaxes(k, *square[0])))
    whole = spec.quantity == "grad_weight"
    rows = None if whole or ref.value.shape[2] < 2 else max(1, ref.value.shape[2] // HEAD)
    found = [_kernel_mutant(spec, ref, operands, name, change, rows) for name, change in kernel_changes]
    for name, step in (("padding shifted to the start", 1), ("padding shifted to the end", -1)):
        pads = tuple((lo + step, hi - step) for lo, hi in spec.pads)
        found.append(Mutant(name, lambda r, pads=pads: compute(spec, *operands, pads=pads, scaled=False, rows=r)[0],
                            rows))
    return found


def _kernel_mutant(spec: "ConvSpec", ref: Reference, operands: list[np.ndarray], name: str, change,
                   rows: int | None) -> Mutant:
    # A weight gradient does not depend on the kernel: a backend with the kernel convention mistaken
    # returns the gradient of its own kernel layout, i.e. the true gradient changed the same way.
    if spec.quantity == "grad_weight":
        return Mutant(name, lambda _: change(ref.value))
    x, w, *rest = operands
    changed = np.ascontiguousarray(change(w))
    return Mutant(name, lambda r: compute(spec, x, changed, *rest, scaled=False, rows=r)[0], rows)


def harmless(value: np.ndarray, reference: np.ndarray, scale: np.ndarray) -> bool:
    """Whether ``value`` is numerically the reference's result: within 2**-40 of its error scale everywhere."""
    return bool(np.all(np.abs(value - reference) <= _HARMLESS * scale))


def near(found: list[Mutant], ref: Reference, dtype: str, bound: np.ndarray,
         computations: int = 1) -> list[tuple[Mutant, float]]:
    """The mutants that ``bound`` (the sum of ``computations`` results' bounds) admits or rejects by less than
    NEAR (see the module docstring), with their largest errors as fractions of the bound."""
    return list(admitted(found, ref, dtype, bound, NEAR, computations))


def indistinct(close: list[tuple[Mutant, float]], output: np.ndarray, target: np.ndarray, bound: np.ndarray,
               dtype: str, exact: np.ndarray | None = None, computations: int = 1) -> str:
    """Why a result ``output`` within ``bound`` (that of :func:`near`'s ``close``) could not have failed against
    ``target`` ('' if it could): the bound admits a mutant, or ``output`` is not MARGIN times closer (largest
    absolute difference, :func:`farthest`) to ``target`` than to a mutant it rejects by less than NEAR.
    ``exact``: the exact result, when ``target`` is another rounded result (a pair of ``computations``)."""
    for mutant, ratio in close:
        if ratio <= 1:
            return _passes_too(mutant, ratio)
    distance = farthest(output, target, bound, dtype, True, exact, computations) if close else 0.0
    for mutant, ratio in close:
        away = farthest(output, mutant.value, bound, dtype, True, None, computations)
        if not closer(distance, away):
            return (f"insensitive: this bound rejects a reference with the {mutant.name} by only {ratio:.3g}x, and the "
                    f"result is not {MARGIN:g} times closer to what it is compared with ({distance:.3g}) than to "
                    f"that one ({away:.3g}), beyond half an ULP")
    return ""


def closer(distance: float, away: float) -> bool:
    """Whether a result ``distance`` from what it is compared with and ``away`` from a mutant is MARGIN times
    closer to the former (never where it is the mutant as well: ``away`` 0)."""
    return away > 0 and distance * MARGIN <= away


def _passes_too(mutant: Mutant, ratio: float) -> str:
    return f"insensitive: a reference with the {mutant.name} passes this bound too (its error is {ratio:.3g}x the bound)"


def farthest(result: np.ndarray, other: np.ndarray, bound: np.ndarray, dtype: str, net: bool = False,
             exact: np.ndarray | None = None, computations: int = 1) -> float:
    """The largest |result - other| in float64, NaNs left out, where an infinity that is a correct overflow
    (:func:`~parity.verdict.comparison.overflowed`) of ``exact`` (default: ``other``) is no distance, on either
    side; ``net``: less half an ULP of ``dtype`` at ``other`` per element and rounded result (``computations``),
    the final rounding a result has even where it is ``other`` correctly rounded (measured raw, a correctly
    rounded result of a short sum of positive terms was not 10x closer to the truth than to a flipped
    kernel's result 2-5 ULPs away)."""
    other = np.asarray(other, np.float64)
    base = other if exact is None else np.asarray(exact, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        result = overflowed(np.asarray(result, np.float64), base, bound, dtype, computations)
        other = other if exact is None else overflowed(other, base, bound, dtype, computations)
        gap = np.abs(result - other)
        if net:
            gap = np.maximum(gap - computations * 0.5 * ulp(other, dtype), 0.0)
        return float(np.nanmax(gap, initial=0.0))


def admitted(found: list[Mutant], ref: Reference, dtype: str, bound: np.ndarray, within: float = 1.0,
             computations: int = 1) -> Iterator[tuple[Mutant, float]]:
    """Each mutant that differs from the reference but lies within ``within`` x ``bound`` (the sum of
    ``computations`` results' bounds) once rounded to ``dtype``, with its largest error as a fraction of the
    bound; computed lazily, in order."""
    target = ref.value  # a float64 case's ref.low is within half an ULP of ref.value: their sum is ref.value
    limit = bound if within == 1.0 else within * bound
    for mutant in found:
        if mutant.head is not None:
            head = (slice(None), slice(None), slice(mutant.rows))
            if not _inside(_error(mutant.head, target[head], dtype, bound[head], computations), limit[head]):
                continue
        if harmless(mutant.value, ref.value, ref.scale):
            continue
        error = _error(mutant.value, target, dtype, bound, computations)
        if _inside(error, limit):
            yield mutant, float(np.max(np.divide(error, bound, out=np.zeros_like(error), where=bound > 0)))


def _error(value: np.ndarray, target: np.ndarray, dtype: str, bound: np.ndarray, computations: int) -> np.ndarray:
    """|value rounded to ``dtype`` - target|, as :func:`parity.verdict.comparison.compare` judges a result: 0
    where the rounding is a correct overflow (:func:`~parity.verdict.comparison.overflowed`) or both are the same
    non-finite value (a NaN input reaches a mutant's outputs as it reaches the reference's), NaN where only one
    is non-finite (never within a bound)."""
    with np.errstate(over="ignore", invalid="ignore"):  # beyond the type's range: the infinity a correct result holds
        rounded = value.astype(np_dtype(dtype)).astype(np.float64)
        error = rounded - target
        if np.isfinite(error).all():  # no overflow, no NaN: the common case, without their bookkeeping
            return np.abs(error)
        rounded = overflowed(rounded, target, bound, dtype, computations)
    with np.errstate(invalid="ignore"):
        error = np.abs(rounded - target)
    undefined = np.isnan(error)  # NaN on either side, or the same infinity on both
    if undefined.any():
        error[undefined & ((rounded == target) | (np.isnan(rounded) & np.isnan(target)))] = 0.0
    return error


def _inside(error: np.ndarray, bound: np.ndarray) -> bool:
    """Every error within its bound (an error of 0 is, even where the bound is NaN: a NaN input's outputs)."""
    within = error <= bound
    return bool(within.all()) or bool((within | (error == 0)).all())

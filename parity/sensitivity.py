"""Could a comparison have failed? Each case's own mutated references (the conventions people get wrong)
are judged against the comparison's bound: a bound that admits one of them cannot tell the mistake from
the right answer, so a result within it is ``insensitive``, not a pass (oneDNN's benchdnn: MISTRUSTED).

Mutants: the kernel flipped along every spatial axis, the kernel's first two equal spatial axes transposed,
and the padding shifted by one towards the start or the end (same padded length, so every shape holds).
A mutant that equals the reference (a 1x1 kernel flipped, a symmetric kernel) is harmless and not judged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

from parity.dtypes import np_dtype
from parity.reference import Reference, compute

if TYPE_CHECKING:
    from parity.spec import ConvSpec

# A mutant within this fraction of the error scale of the reference is numerically the same result.
_HARMLESS: Final = 2.0 ** -40


@dataclass(frozen=True)
class Mutant:
    """A reference computed with one convention mistaken: ``value`` in canonical layout, float64."""

    name: str
    value: np.ndarray


def mutants(spec: "ConvSpec", ref: Reference, x: np.ndarray, w: np.ndarray,
            dy: np.ndarray | None = None) -> list[Mutant]:
    """The case's mutants that differ from ``ref`` (see the module docstring)."""
    operands = [np.asarray(a, np.float64) for a in (x, w, dy) if a is not None]
    axes = tuple(range(2, 2 + spec.rank))
    kernel_changes = [("kernel flipped", lambda k: np.flip(k, axes))] if max(spec.kernel) > 1 else []
    square = [(a, b) for a in axes for b in axes if a < b and spec.kernel[a - 2] == spec.kernel[b - 2] > 1]
    if square:
        kernel_changes.append(("kernel axes transposed", lambda k: np.swapaxes(k, *square[0])))
    found = [Mutant(name, _kernel_mutant(spec, ref, operands, change)) for name, change in kernel_changes]
    for name, step in (("padding shifted to the start", 1), ("padding shifted to the end", -1)):
        pads = tuple((lo + step, hi - step) for lo, hi in spec.pads)
        found.append(Mutant(name, compute(spec, *operands, pads=pads, scaled=False)[0]))
    return [m for m in found if not _harmless(m.value, ref)]


def _kernel_mutant(spec: "ConvSpec", ref: Reference, operands: list[np.ndarray], change) -> np.ndarray:
    # A weight gradient does not depend on the kernel: a backend with the kernel convention mistaken
    # returns the gradient of its own kernel layout, i.e. the true gradient changed the same way.
    if spec.quantity == "grad_weight":
        return change(ref.value)
    x, w, *rest = operands
    return compute(spec, x, np.ascontiguousarray(change(w)), *rest, scaled=False)[0]


def _harmless(value: np.ndarray, ref: Reference) -> bool:
    return bool(np.all(np.abs(value - ref.value) <= _HARMLESS * ref.scale))


def insensitivity(found: list[Mutant], ref: Reference, dtype: str, bound: np.ndarray) -> str:
    """'' when every mutant, rounded to ``dtype``, lies outside ``bound`` somewhere; else the reason."""
    target = ref.value if ref.low is None else ref.value + ref.low
    for mutant in found:
        rounded = mutant.value.astype(np_dtype(dtype)).astype(np.float64)
        with np.errstate(invalid="ignore"):
            error = np.abs(rounded - target)
        if np.all(error <= bound):
            ratio = float(np.max(np.divide(error, bound, out=np.zeros_like(error), where=bound > 0)))
            return (f"insensitive: a reference with the {mutant.name} passes this bound too "
                    f"(its error is {ratio:.3g}x the bound)")
    return ""

"""How `parity check` reports: explanations (confirmed or closest) and the text of a result."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from parity.core.dtypes import precision_bits


@dataclass(frozen=True)
class Explanation:
    changes: tuple[str, ...]  # identifiers from the vocabulary in parity.porting.changes, e.g. ("flip",)
    sentence: str
    fix: str
    matches: bool
    max_abs: float
    max_ulp: int
    bound_ratio: float
    closest: float = 0.0  # for a reading that does not reproduce Y: by how much it cuts the largest error
    location: str = ""  # for a closest reading: where its residual sits
    dtype: str = "float32"

    def as_dict(self) -> dict[str, Any]:
        return {"changes": list(self.changes), "matches": self.matches, "max_abs": self.max_abs,
                "max_ulp": self.max_ulp, "bound_ratio": self.bound_ratio, "sentence": self.sentence, "fix": self.fix,
                "closest": self.closest or None, "location": self.location}


def figures(max_abs: float, max_ulp: int, ratio: float, dtype: str) -> str:
    return f"max_abs {max_abs:.3g}  max_ulp {ulp_text(max_ulp, dtype)}  bound_ratio {ratio:.3g}"


def ulp_text(max_ulp: int, dtype: str) -> str:
    """The ULP count, or, past a binade (2**(p-1) ULPs: a sign or a factor of 2 apart), what it means."""
    binade = 1 << (precision_bits(dtype) - 1)
    if max_ulp > binade:
        return f">2^{precision_bits(dtype) - 1} (a sign or a factor 2 apart)"
    return str(max_ulp) if max_ulp < 10**6 else f"{max_ulp:.3g}"


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
    read: tuple[str, ...] = ()  # how squeezed arrays were read
    printing: str = ""  # how printed arrays were printed and what that did to the bound
    ambiguous: str = ""  # readings the printing is too coarse to tell apart
    hint: str = ""  # conventions that were assumed, when nothing explains Y
    doubt: str = ""  # what else Y's bound admits (a mistaken convention, zeros), and whether Y is closer to the stated
    repeats: str = ""  # how the sums' repeated products widened the bound, when they did

    def as_dict(self) -> dict[str, Any]:
        return {"matches": self.matches, "dtype": self.dtype, "conventions": self.conventions,
                "max_abs": self.max_abs, "max_ulp": self.max_ulp, "bound_ratio": self.bound_ratio,
                "problem": self.problem, "location": self.location, "searched": self.searched, "note": self.note,
                "nonfinite": self.nonfinite, "read": list(self.read), "printing": self.printing,
                "ambiguous": self.ambiguous, "hint": self.hint, "doubt": self.doubt, "repeats": self.repeats,
                "explanations": [e.as_dict() for e in self.explanations]}

    def format(self) -> str:
        return format_result(self)


def format_result(result: CheckResult) -> str:
    lines = [f"read: {note}" for note in result.read]
    lines.append(f"conventions: {result.conventions}; Y is {result.dtype}")
    if result.printing:
        lines.append(f"printing: {result.printing}")
    if result.problem:
        lines.append(f"does not match: these conventions cannot give Y: {result.problem}")
    else:
        verdict = "matches" if result.matches else "cannot tell" if result.doubt else "does not match"
        numbers = figures(result.max_abs, result.max_ulp, result.bound_ratio, result.dtype)
        lines.append(f"{verdict}: {result.nonfinite}; elsewhere {numbers}" if result.nonfinite else
                     f"{verdict}: {numbers}")
    lines += [f"bound: {result.repeats}"] if result.repeats else []
    lines += [f"sensitivity: {result.doubt}"] if result.doubt else []
    if result.matches or result.doubt:
        return "\n".join(lines + ([f"warning: {result.ambiguous}"] if result.ambiguous else []))
    if result.location:
        lines.append(f"error: {result.location}")
    lines += _explained(result)
    if result.ambiguous:
        lines.append(f"warning: {result.ambiguous}")
    if result.hint:
        lines.append(f"hint: {result.hint}")
    return "\n".join(lines)


def _explained(result: CheckResult) -> list[str]:
    exact = [e for e in result.explanations if not e.closest]
    if not result.explanations:
        return [f"nothing explains Y: {result.note}" if result.note else "nothing explains Y: no single change or "
                f"pair of changes tried ({result.searched} readings) reproduces it, or cuts its error 100-fold"]
    if exact:
        lines = [f"explanations that reproduce Y, best first ({result.searched} readings tried):"]
    else:
        lines = [f"nothing reproduces Y within the bound ({result.searched} readings tried); closest, best first:"]
    if any(" read as " in note for note in result.read):
        lines.append("(each fix works on x, w and Y with every axis, as your call takes them: the size-1 axes read "
                     "above put back, e.g. x = x[None])")
    for rank, item in enumerate(result.explanations, 1):
        fix = item.fix.replace("\n", "\n        ")
        tag = "closest, " if item.closest else ""
        lines += [f"{rank}. [{tag}{', '.join(item.changes)}] {item.sentence}", f"   fix: {fix}",
                  f"   {figures(item.max_abs, item.max_ulp, item.bound_ratio, item.dtype)}"]
        if item.closest:
            lines.append(f"   residual: the largest error cut {item.closest:.3g}-fold; {item.location}")
    return lines

"""The fingerprint table: what each backend's arithmetic is per quantity and dtype, read off a run's results
(the labels are :mod:`parity.verdict.fingerprint`'s), and the short forms the run table shows."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Iterable

from parity.verdict.comparison import TAPS
from parity.verdict.fingerprint import CORRECTLY_ROUNDED, NOT_IDENTIFIED, contradicts

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec
    from parity.running.result import Result


def quantity_label(spec: "ConvSpec | None") -> str:
    """``conv``, ``conv_transpose``, ``conv.grad_input``, ...: what a result compares (``unknown`` without a
    spec: an unreadable recording)."""
    if spec is None:
        return "unknown"
    return spec.op if spec.quantity == "output" else f"{spec.op}.{spec.quantity}"

_SHORT: Final = {CORRECTLY_ROUNDED: "exact", "TF32 inputs": "tf32-in", "TF32 inputs, ties away": "tf32-in-away",
                 "TF32 inputs, truncated": "tf32-in-trunc", "bfloat16 inputs": "bf16-in",
                 "bfloat16 inputs and output": "bf16-in-out",
                 "float32 inputs": "f32-in", NOT_IDENTIFIED: "?"}
_DTYPE_SHORT: Final = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}


def short(label: str) -> str:
    """A table-width form: ``exact``, ``tf32-in``, ``f16-acc``, ``f16-taps``, ..."""
    if label in _SHORT:
        return _SHORT[label]
    summed_in = label.removesuffix(" accumulation")
    kind = "taps" if summed_in.endswith(TAPS) else "acc"
    return f"{_DTYPE_SHORT[summed_in.removesuffix(TAPS)]}-{kind}"


@dataclass(frozen=True)
class FingerprintRow:
    """What one backend's arithmetic is for one quantity and dtype, read off its integer cases."""

    backend: str
    quantity: str
    dtype: str
    declared: str
    fingerprint: str
    cases: int
    contradicts: bool


def summarize(results: Iterable["Result"]) -> list[FingerprintRow]:
    """One row per (backend, quantity, dtype) over the results against the reference that carry a
    fingerprint: ``correctly rounded`` only if every case was; else the other labels seen."""
    groups: dict[tuple[str, str, str], list["Result"]] = {}
    for r in results:
        if r.against == "reference" and r.fingerprint:
            groups.setdefault((r.backend, quantity_label(r.spec), r.spec.dtype), []).append(r)
    rows = []
    for (backend, quantity, dtype), members in sorted(groups.items()):
        labels = sorted({r.fingerprint for r in members} - {CORRECTLY_ROUNDED}) or [CORRECTLY_ROUNDED]
        declared = ", ".join(sorted({r.accumulation or "" for r in members}))
        wrong = any(contradicts(r.fingerprint, (r.accumulation or "").removesuffix(" (probed)")) for r in members)
        rows.append(FingerprintRow(backend, quantity, dtype, declared, "; ".join(labels), len(members), wrong))
    return rows


def row_label(results: Iterable["Result"]) -> str:
    """The fingerprint column of a table row that may span dtypes: ``exact``, or ``f16:f16-taps`` and such."""
    seen: dict[str, set[str]] = {}
    for r in results:
        if r.fingerprint:
            seen.setdefault(r.spec.dtype, set()).add(short(r.fingerprint))
    odd = [f"{_DTYPE_SHORT[d]}:{'/'.join(sorted(labels - {'exact'}))}" for d, labels in sorted(seen.items())
           if labels - {"exact"}]
    return " ".join(odd) if odd else ("exact" if seen else "")

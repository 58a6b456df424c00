"""One comparison's result, as every report reads and writes it (JSON-ready, read back identically).

Imports no framework and no part of the run: reports read results without importing what made them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Literal

from parity.core import files
from parity.core.spec import ConvSpec

Status = Literal["pass", "fail", "skip", "error", "insensitive", "known"]
REFERENCE = "reference"
@dataclass(frozen=True)
class Result:
    """One comparison: ``backend`` against the reference or against another backend."""

    case: str
    spec: ConvSpec | None  # None: a result with no spec to read (an unreadable recording)
    backend: str
    against: str
    status: Status
    reason: str = ""
    max_abs: float | None = None
    max_rel: float | None = None
    max_ulp: int | None = None
    bound_ratio: float | None = None
    worst_index: tuple[int, ...] | None = None
    accumulation: str | None = None
    fingerprint: str | None = None
    error_map: str | None = None  # failures: base64 PNG of |difference| per output channel (the first 64)

    @property
    def decisive(self) -> bool:
        """Whether this comparison could have failed (it was neither skipped nor insensitive)."""
        return self.status not in ("skip", "insensitive")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite figures become strings ("inf", "nan")."""
        return {f.name: self.spec.as_dict() if f.name == "spec" and self.spec else _jsonable(getattr(self, f.name))
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Result":
        figures = {k: float(data[k]) if data.get(k) is not None else None for k in ("max_abs", "max_rel", "bound_ratio")}
        index, spec = data.get("worst_index"), data.get("spec")
        return cls(**{**data, **figures, "worst_index": tuple(index) if index is not None else None,
                      "spec": _spec(_frozen(list(spec.items()))) if spec else None})


@lru_cache(maxsize=4096)
def _spec(items: tuple[tuple[str, Any], ...]) -> ConvSpec:
    """One validated ConvSpec per distinct spec read back: a case's results repeat it (the xdist controller read
    6,000 results of 1,028 cases, 0.45 s of its CPU in validating them)."""
    return ConvSpec(**dict(items))


def _frozen(value: Any) -> Any:
    """JSON lists as tuples, at every depth (explicit padding is a list of pairs): a hashable spec."""
    return tuple(map(_frozen, value)) if isinstance(value, (list, tuple)) else value


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else files.json_float(value)

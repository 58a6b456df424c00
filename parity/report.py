"""Summaries of results: the per-pair table (CLI and pytest print the same one) and the JSON report."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from parity.runner import Result

STATUSES = ("pass", "fail", "skip", "error", "insensitive")


@dataclass
class PairSummary:
    backend: str
    against: str
    quantity: str
    group: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    max_abs: float = 0.0
    max_ulp: int = 0
    bound_ratio: float = 0.0
    worst_case: str = ""

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        if result.bound_ratio is None:
            return
        self.max_abs = max(self.max_abs, result.max_abs)
        self.max_ulp = max(self.max_ulp, result.max_ulp)
        # Ties go to the smallest id, so the table does not depend on the order results arrive in (xdist).
        if (-result.bound_ratio, result.case) < (-self.bound_ratio, self.worst_case or "~"):
            self.bound_ratio, self.worst_case = result.bound_ratio, result.case


def summarize(results: Iterable[Result], by: str | None = None) -> list[PairSummary]:
    """One row per (backend, against) pair and compared quantity (``conv``, ``conv_transpose``,
    ``conv.grad_input``, ...), reference rows first; with ``by`` (a spec field such as ``dtype``), one row
    per pair, quantity and value of that field."""
    rows: dict[tuple[str, str, str, str], PairSummary] = {}
    for result in results:
        key = (result.backend, result.against, quantity_label(result.spec), str(result.spec.get(by, "")) if by else "")
        rows.setdefault(key, PairSummary(*key)).add(result)
    return sorted(rows.values(), key=lambda r: (r.against != "reference", r.backend, r.against, r.quantity, r.group))


def quantity_label(spec: dict[str, Any]) -> str:
    """``conv``, ``conv_transpose``, ``conv.grad_input``, ...: what a result compares (``unknown`` without a
    spec: an unreadable recording)."""
    if not spec:
        return "unknown"
    op, quantity = spec.get("op", "conv"), spec.get("quantity", "output")
    return op if quantity == "output" else f"{op}.{quantity}"


def format_table(rows: list[PairSummary], by: str | None = None) -> str:
    header = ["backend", "against", "quantity", *([by] if by else []), *STATUSES, "max_abs", "max_ulp",
              "bound_ratio", "worst case"]
    body = [[r.backend, r.against, r.quantity, *([r.group] if by else []), *(str(r.counts[s]) for s in STATUSES),
             f"{r.max_abs:.3g}", str(r.max_ulp), f"{r.bound_ratio:.3g}", r.worst_case] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def json_text(results: list[Result], meta: dict[str, Any]) -> str:
    """The JSON report: ``meta`` and every result."""
    return json.dumps({**meta, "results": [r.as_dict() for r in results]}, indent=1) + "\n"


def reproduce(result: Result, tier: str) -> list[str]:
    """The exact commands that reproduce a result: a ``parity run`` line and a Python snippet."""
    backends = result.backend if result.against == "reference" else f"{result.backend},{result.against}"
    spec = ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in result.spec.items())
    return [
        f"reproduce: parity run --tier {tier} --backends {backends} -k {result.case}",
        "or in Python:",
        "    import parity",
        f"    spec = parity.ConvSpec({spec})",
        "    x, w, dy = *parity.generate(spec), parity.cotangent(spec)",
        f"    y = parity.adapters.get({result.backend!r}).run(spec, x, w, dy)",
        "    print(parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype))",
    ]

"""Summaries of results: the per-pair table (CLI and pytest print the same one), the fingerprint table and
the worst figures per pair as a markdown matrix, and reproducers. Everything here reads results; nothing runs
a backend or recomputes a figure."""
from __future__ import annotations

import math
import os
import shlex
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

from parity.report.fingerprints import quantity_label, row_label
from parity.report.fingerprints import summarize as fingerprints
from parity.running.result import Result
from parity.verdict.ulp import ULP_INFINITE

STATUSES = ("pass", "fail", "skip", "error", "insensitive", "known")


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
    results: list[Result] = field(default_factory=list)

    @property
    def compared(self) -> bool:
        """Whether any result of the row has figures (an all-skip row shows none)."""
        return any(r.bound_ratio is not None for r in self.results)

    @property
    def concern(self) -> tuple:
        """Sort key of the short view: failures, errors and insensitive first, then the worst ratio."""
        return (-(self.counts["fail"] + self.counts["error"]), -self.counts["insensitive"], -self.counts["known"],
                -severity(self.bound_ratio))

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        self.results.append(result)
        if result.bound_ratio is None:
            return
        self.max_abs = worse(self.max_abs, result.max_abs)
        self.max_ulp = max(self.max_ulp, result.max_ulp)
        # Ties go to the smallest id, so the table does not depend on the order results arrive in (xdist).
        if (-severity(result.bound_ratio), result.case) < (-severity(self.bound_ratio), self.worst_case or "~"):
            self.bound_ratio, self.worst_case = result.bound_ratio, result.case


def summarize(results: Iterable[Result], by: str | None = None) -> list[PairSummary]:
    """One row per (backend, against) pair and compared quantity (``conv``, ``conv_transpose``,
    ``conv.grad_input``, ...), reference rows first; with ``by`` (a spec field such as ``dtype``), one row
    per pair, quantity and value of that field."""
    rows: dict[tuple[str, str, str, str], PairSummary] = {}
    for result in results:
        key = (result.backend, result.against, quantity_label(result.spec), _field(result, by) if by else "")
        rows.setdefault(key, PairSummary(*key)).add(result)
    return sorted(rows.values(), key=lambda r: (r.against != "reference", r.backend, r.against, r.quantity, r.group))


def _field(result: Result, name: str) -> str:
    """A spec field as the JSON report spells it ('' without a spec)."""
    return str(result.spec.as_dict().get(name, "")) if result.spec else ""


def format_table(rows: list[PairSummary], by: str | None = None, most: int | None = None) -> str:
    """The per-pair table. Rows without a comparison show no figures. With ``most``, only that many rows:
    failures, errors and insensitive first, then the largest bound ratios, and a line saying what was left."""

    shown = sorted(rows, key=lambda r: r.concern)[:most] if most is not None else rows
    header = ["backend", "against", "quantity", *([by] if by else []), *STATUSES, "max_abs", "max_ulp",
              "bound_ratio", "fingerprint", "worst case"]
    body = [[r.backend, r.against, r.quantity, *([r.group] if by else []), *(str(r.counts[s]) for s in STATUSES),
             *((f"{r.max_abs:.3g}", ulp_cell(r.max_ulp), f"{r.bound_ratio:.3g}", row_label(r.results), r.worst_case)
               if r.compared else ("", "", "", "", "no comparison"))] for r in shown]
    lines = _columns(header, body)
    left = len(rows) - len(shown)
    return "\n".join(lines + ([f"... {left} more rows, none failing (--full shows every row)"] if left else []))


def _columns(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in [header, *body]]
    return [lines[0], "  ".join("-" * w for w in widths).rstrip(), *lines[1:]]


def count_line(count: int, backend: str, reason: str) -> str:
    """``  <count>  backend: reason`` on one line (a multi-line reason joined)."""
    return f"  {count:6d}  {backend}: {' '.join(reason.split())}"


def format_declared(meta: Mapping[str, Any]) -> list[str]:
    """The pytest summary's declared-unsupported lines, as a JSON report of it stores them ([] without)."""
    rows = meta.get("declared_unsupported")
    if rows is None:
        return []
    tests = meta.get("parity_tests") or {}
    tier = f" {meta['tier']}" if isinstance(meta.get("tier"), str) else ""
    scope = (f" in the whole tier{tier} (the selection ran {tests.get('selected')} of its "
             f"{tests.get('parametrized')} parity tests; combinations never collected cannot be selected)"
             if meta.get("declared_unsupported_scope") == "tier" else "")
    counted = sorted(rows, key=lambda row: -row["cases"])
    return [f"declared unsupported (not collected){scope}: {sum(row['cases'] for row in rows)} case x backend "
            "combinations", *(count_line(row["cases"], row["backend"], row["reason"]) for row in counted[:20])]


def format_skips(results: Iterable[Result], most: int = 10) -> list[str]:
    """The skipped comparisons with the reference, counted per backend and reason, most first (none: [])."""
    counts = Counter((r.backend, r.reason) for r in results if r.status == "skip" and r.against == "reference")
    if not counts:
        return []
    lines = [f"skipped against the reference, by backend and reason ({sum(counts.values())}):"]
    lines += [count_line(n, backend, reason) for (backend, reason), n in counts.most_common(most)]
    return lines + ([f"  ... {len(counts) - most} more reasons (see --json)"] if len(counts) > most else [])


def format_fingerprints(results: Iterable[Result]) -> str:
    """Per backend, quantity and dtype: the declared accumulation and what the integer cases showed."""

    rows = fingerprints(results)
    if not rows:
        return ""
    body = [[r.backend, r.quantity, r.dtype, r.declared, r.fingerprint, str(r.cases),
             "CONTRADICTS THE DECLARATION" if r.contradicts else ""] for r in rows]
    return "\n".join(_columns(["backend", "quantity", "dtype", "declared", "fingerprint", "cases", ""], body))


def format_matrix(results: Iterable[Result], by: str) -> str:
    """A markdown table: one row per (backend, against) pair, one column per value of the spec field ``by``,
    each cell the worst ``max_ulp / bound_ratio`` of the pair's comparisons with figures ('-': none)."""
    worst: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for r in results:
        if r.bound_ratio is not None:
            cells = worst.setdefault((r.backend, r.against), {})
            ulp, ratio = cells.get(_field(r, by), (0, 0.0))
            cells[_field(r, by)] = (max(ulp, r.max_ulp), worse(ratio, r.bound_ratio))
    if not worst:
        return f"--matrix {by}: no comparison with figures"
    columns = sorted({value for cells in worst.values() for value in cells}, key=_column_order)
    pairs = sorted(worst, key=lambda pair: (pair[1] != "reference", pair))
    rows = [[f"{backend} vs {against}", *(f"{ulp_cell(worst[backend, against][v][0])} / {worst[backend, against][v][1]:.2f}"
                                          if v in worst[backend, against] else "-" for v in columns)]
            for backend, against in pairs]
    return "\n".join(f"| {' | '.join(line)} |" for line in
                     [["pair (max_ulp / bound_ratio)", *columns], ["---"] * (len(columns) + 1), *rows])


def severity(ratio: float) -> float:
    """A bound ratio as reports order them: NaN (no bound could judge it) above every number."""
    return math.inf if math.isnan(ratio) else ratio


def worse(a: float, b: float) -> float:
    """The larger figure, NaN if either is (``max`` alone keeps whichever comes first beside a NaN)."""
    return max(a, b, key=severity)


def _column_order(value: str) -> tuple:
    """dtypes narrow to wide (float16, bfloat16, float32, float64), numbers by value, the rest as text."""
    order = ("float16", "bfloat16", "float32", "float64")
    if value in order:
        return (0, order.index(value), "")
    return (1, int(value), "") if value.isdigit() else (2, 0, value)


def ulp_cell(max_ulp: int) -> str:
    """A ULP count as tables show it: ``inf`` where there is no distance (a shape, dtype or NaN mismatch; the
    JSON keeps the integer, 2**64 - 1)."""
    return "inf" if max_ulp >= ULP_INFINITE else str(max_ulp)


def reproduce(result: Result, tier: str | None, environment: Mapping[str, Any] = MappingProxyType({})) -> list[str]:
    """The exact commands that reproduce a result: a ``parity run`` line and a Python snippet that runs the
    compared side(s) and prints the very comparison that failed (for a pair, each side against the exact
    result too, so that the snippet shows which side is off). ``environment``: the run's, whose
    ``recordings`` is the folder it replayed (named for a recorded case or backend) and whose frameworks give
    the ``source`` of a ``module:ATTR`` backend imported from outside the installed packages
    (:func:`parity.running.environment.source`). Every word of the shell line is quoted as the shell needs
    it (a report may come from elsewhere)."""
    pair = result.against != "reference"
    names = [result.backend, result.against] if pair else [result.backend]
    old = environment.get("frameworks", {}).get("recorded")  # a report of the release before: the backend's own
    folder = environment.get("recordings", old.get("folder") if isinstance(old, Mapping) else None)
    folder = folder if isinstance(folder, str) and ("recorded" in names or result.case.startswith("recorded-")) else None
    isolate = environment.get("isolate")
    isolate = f" --isolate --timeout {isolate:g}" if type(isolate) in (int, float) and isolate > 0 else ""
    run = (f"reproduce: {_pythonpath(names, environment.get('frameworks', {}))}parity run"
           f"{f' --tier {shlex.quote(tier)}' if tier else ''}"
           f"{f' --recorded {shlex.quote(folder)}' if folder else ''} --backends {shlex.quote(','.join(names))}"
           f"{isolate} -k {shlex.quote(result.case)}")
    if result.spec is None:  # no spec to rebuild (an unreadable recording): the run line alone
        return [run]
    spec = ", ".join(f"{k}={tuple(v) if isinstance(v, list) else v!r}" for k, v in result.spec.as_dict().items())
    lines = [
        run,
        "or in Python:",
        *([f"    import os; os.environ['PARITY_RECORDED'] = {folder!r}"] if folder else []),
        "    import parity",
        f"    spec = parity.ConvSpec({spec})",
        "    x, w, dy = *parity.generate(spec), parity.cotangent(spec)",
        "    ref = parity.exact(spec, x, w, dy)",
        f"    y = parity.adapters.get({result.backend!r}).run(spec, x, w, *([dy] if dy is not None else []))",
    ]
    declared = [name.removesuffix(" (probed)") for name in (result.accumulation or "").split("+") if name]
    mine = f", accumulation={declared[0]!r}" if declared else ""
    if not pair:
        return lines + [f"    print(parity.compare(y, ref, spec.dtype{mine}))"]
    theirs = f", accumulation={declared[1]!r}" if len(declared) == 2 else ""
    both = f", accumulation={tuple(declared)!r}" if len(declared) == 2 else ""
    return lines + [
        f"    other = parity.adapters.get({result.against!r}).run(spec, x, w, *([dy] if dy is not None else []))",
        f"    print({result.backend!r}, parity.compare(y, ref, spec.dtype{mine}))",
        f"    print({result.against!r}, parity.compare(other, ref, spec.dtype{theirs}))",
        f"    print('pair', parity.compare(y, ref, spec.dtype, expected=other, computations=2{both}))",
    ]


def _pythonpath(backends: list[str], frameworks: Mapping[str, Any]) -> str:
    """``PYTHONPATH=<folders> `` for the ``module:ATTRIBUTE`` backends the run imported from outside the installed
    packages (their ``source`` in the run's environment), else ''."""
    infos = [frameworks.get(name) for name in backends]
    roots = [info["source"] for info in infos if isinstance(info, Mapping) and isinstance(info.get("source"), str)]
    return f"PYTHONPATH={shlex.quote(os.pathsep.join(dict.fromkeys(roots)))} " if roots else ""



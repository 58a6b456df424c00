"""``parity run --html``: one self-contained page (inline CSS, JS and PNGs, nothing fetched).

It shows the backend-pair matrix (worst ULP and bound ratio per pair, coloured by the ratio), a sortable
table of every comparison, and for each failing comparison the map of |difference| per output channel
that the run drew and the exact calls to reproduce it. It reads results only: it never runs a backend.
"""
from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from parity.report.fingerprints import quantity_label
from parity.report.text import STATUSES, format_declared, reproduce, severity, ulp_cell
from parity.running.result import REFERENCE, Result

_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eee;cursor:pointer}
td:first-child,th:first-child{text-align:left}.fail,.error{color:#b00;font-weight:bold}
#matrix td{min-width:9em;text-align:center}pre{background:#f6f6f6;padding:8px;overflow:auto}
img{image-rendering:pixelated;border:1px solid #999;min-width:320px;max-width:100%}
#cases td:first-child,#cases td:last-child{text-align:left;word-break:break-all;max-width:40em}
.legend span{display:inline-block;padding:2px 10px;margin-right:4px;border:1px solid #999}
.insensitive,.known{color:#a60}details{margin:1em 0}
"""
_SORT = """
document.querySelectorAll('table.sortable th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const ascending = th.dataset.order !== 'asc';
  th.dataset.order = ascending ? 'asc' : 'desc';
  const key = row => { const text = row.cells[column].textContent; const n = parseFloat(text);
                       return isNaN(n) ? text : n; };
  const rows = Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1); });
  rows.forEach(row => body.appendChild(row));
}));
"""
_COLUMNS = ("case", "backend", "against", "quantity", "dtype", "status", "max_abs", "max_ulp", "bound_ratio",
            "fingerprint", "reason")


def write(path: Path, results: list[Result], meta: dict[str, Any]) -> None:
    from parity.core.files import write_atomic

    write_atomic(path, render(results, meta))


def render(results: list[Result], meta: dict[str, Any], drift: list[str] | None = None) -> str:
    """The HTML report; ``drift``: the lines of a --baseline verdict, shown first."""
    counts = {status: sum(r.status == status for r in results) for status in STATUSES}
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    parts = [f"<h1>parity report</h1><p>tier <b>{escape(str(meta.get('tier')))}</b>, backends "
             f"<b>{escape(', '.join(meta.get('backends', [])))}</b>: {len(results)} comparisons, {summary}"
             f"{' (partial: the run was interrupted)' if meta.get('partial') else ''}</p>", *_drift(drift),
             _environment(meta),
             "<h2>Backend pairs</h2>", _LEGEND, _matrix(results, meta.get("backends", [])),
             "<h2>Arithmetic fingerprints</h2>", _fingerprints(results),
             "<h2>Failures</h2>", _failures(results, meta.get("tier"), meta.get("environment", {})),
             *_declared(meta), "<h2>Comparisons</h2><p>Click a column header to sort.</p>", _table(results)]
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>parity report</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}<script>{_SORT}</script></body></html>")


_LEGEND = ("<p class=legend>Each cell: the largest ULP distance and the largest bound ratio (|error| / error bound) "
           "of the pair; a result passes at ratio &le; 1. Colour by the ratio: "
           "<span style='background:hsl(120,70%,75%)'>0</span><span style='background:hsl(60,70%,75%)'>0.5</span>"
           "<span style='background:hsl(0,70%,75%)'>1</span><span style='background:#c33;color:#fff'>fail or "
           "error</span><span style='background:#ddd'>no comparison</span></p>")


def _drift(lines: list[str] | None) -> list[str]:
    return [f"<h2>Baseline</h2><pre>{escape(chr(10).join(lines))}</pre>"] if lines else []


def _environment(meta: dict[str, Any]) -> str:
    environment = meta.get("environment")
    if not environment:
        return ""
    from parity.running.environment import headline

    return (f"<p>{escape(headline(environment))}</p><details><summary>environment</summary>"
            f"<pre>{escape(json.dumps(environment, indent=1))}</pre></details>")


def _declared(meta: dict[str, Any]) -> list[str]:
    """A pytest session's declared-unsupported counts, as its summary printed them (none for parity run)."""
    lines = format_declared(meta)
    return ["<h2>Declared unsupported</h2>", f"<pre>{escape(chr(10).join(lines))}</pre>"] if lines else []


def _fingerprints(results: list[Result]) -> str:
    from parity.report.fingerprints import summarize

    rows = summarize(results)
    if not rows:
        return "<p>No integer-valued case was compared.</p>"
    head = "".join(f"<th>{name}</th>" for name in ("backend", "quantity", "dtype", "declared", "fingerprint", "cases"))
    body = "".join(f"<tr><td>{escape(r.backend)}</td><td>{escape(r.quantity)}</td><td>{r.dtype}</td>"
                   f"<td>{escape(r.declared)}</td><td class={'fail' if r.contradicts else 'pass'}>"
                   f"{escape(r.fingerprint)}{' (contradicts the declaration)' if r.contradicts else ''}</td>"
                   f"<td>{r.cases}</td></tr>" for r in rows)
    return f"<table id=fingerprints><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _matrix(results: list[Result], backends: list[str]) -> str:
    head = "".join(f"<th>{escape(name)}</th>" for name in [REFERENCE, *backends])
    rows = []
    for backend in backends:
        cells = [_cell([r for r in results if {r.backend, r.against} == {backend, other}])
                 if other != backend else "<td>&mdash;</td>" for other in [REFERENCE, *backends]]
        rows.append(f"<tr><th>{escape(backend)}</th>{''.join(cells)}</tr>")
    return f"<table id=matrix><thead><tr><th>backend</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(results: list[Result]) -> str:
    measured = [r for r in results if r.bound_ratio is not None]
    if not measured:
        return "<td style='background:#ddd'>no data</td>"
    ratio = max((r.bound_ratio for r in measured), key=severity)  # the text table's worst: NaN above all
    ulp = max(r.max_ulp for r in measured)
    failed = sum(r.status in ("fail", "error") for r in results)
    # green at ratio 0 to red at the bound; failures dark red
    colour = "#c33" if not ratio <= 1 or failed else f"hsl({120 * (1 - ratio):.0f},70%,75%)"
    return (f"<td style='background:{colour}' title='{len(measured)} compared, {failed} failed'>"
            f"{ulp_cell(ulp)} ULP<br>ratio {ratio:.3g}</td>")


def _table(results: list[Result]) -> str:
    head = "".join(f"<th>{name}</th>" for name in _COLUMNS)
    body = "".join("<tr>" + "".join(f"<td class={r.status if name == 'status' else name}>{escape(_value(r, name))}</td>"
                                    for name in _COLUMNS) + "</tr>" for r in results)
    return f"<table id=cases class=sortable><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value(result: Result, name: str) -> str:
    if name in ("quantity", "dtype"):
        return quantity_label(result.spec) if name == "quantity" else result.spec.dtype if result.spec else ""
    value = getattr(result, name)
    if name == "max_ulp" and value is not None:
        return ulp_cell(value)
    return "" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _failures(results: list[Result], tier: str | None, environment: dict[str, Any]) -> str:
    """Each failing case once, with every failing comparison of it."""
    by_case: dict[str, list[Result]] = {}
    for result in results:
        if result.status in ("fail", "error"):
            by_case.setdefault(result.case, []).append(result)
    if not by_case:
        return "<p>None.</p>"
    return "".join(_failure(case, failing, tier, environment) for case, failing in by_case.items())


def _failure(case: str, failing: list[Result], tier: str | None, environment: dict[str, Any]) -> str:
    items = []
    for result in failing:
        image = (f"<p>|difference| per output channel (the first 64), black 0 to white "
                 f"{result.max_abs:.3g}:</p><img alt='difference map' "
                 f"src='data:image/png;base64,{escape(result.error_map)}'>") if result.error_map else ""
        items.append(f"<h4>{escape(result.backend)} vs {escape(result.against)}</h4><p class={result.status}>"
                     f"{escape(result.reason)}</p>{image}<pre>{escape(chr(10).join(reproduce(result, tier, environment)))}</pre>")
    return f"<section class=failure><h3>{escape(case)}</h3>{''.join(items)}</section>"

"""What ``parity run`` prints and writes about its results, and ``parity report``, which does the same from a
saved JSON report (a CI artifact): the table, the fingerprints, the failures, the HTML report, a baseline
saved or compared, and the worst figures per pair as a markdown matrix. ``report`` runs nothing and imports
no framework: every figure it shows is the one the run stored.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parity.cli.common import one_line, print_lines
from parity.cli.common import text as non_blank
from parity.core import files

if TYPE_CHECKING:
    from parity.running.result import Result

GROUPABLE = ("dtype", "distribution", "layout", "groups", "padding")
_SHOWN = 20  # failures printed; the rest are in --json
_ROWS = 30  # table rows printed without --full


def output_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``run`` and ``report`` that decide what is printed and written."""
    parser.add_argument("--by", choices=GROUPABLE, help="also split the table by this spec field")
    parser.add_argument("--full", action="store_true",
                        help=f"print every table row (default: the {_ROWS} most concerning, failures first)")
    parser.add_argument("--matrix", choices=GROUPABLE, metavar="FIELD",
                        help="also print the worst max_ulp / bound_ratio of every pair per value of FIELD "
                        f"({', '.join(GROUPABLE)}) as a markdown table")
    parser.add_argument("--html", metavar="PATH", help="write a self-contained HTML report")
    parser.add_argument("--save-baseline", metavar="PATH", help="write every comparison's figures and the "
                        "environment to this file, for a later --baseline")
    parser.add_argument("--baseline", metavar="PATH", help="compare with a saved baseline: exit 1 on drift "
                        "(a pass that no longer passes, a changed fingerprint, a figure beyond its tolerance)")


def report_parser(commands: Any) -> None:
    parser = commands.add_parser("report", help="print and write the reports of a saved JSON report (parity run "
                                 "--json, pytest --parity-json) without running anything")
    parser.add_argument("report", metavar="REPORT", help="the JSON report to read")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", type=non_blank,
                        help="only the results of cases whose id matches EXPR: substrings with and/or/not, "
                        "like pytest -k")
    parser.add_argument("--backends", metavar="A,B", help="only the results of these backends of the report, "
                        "against the reference and against each other")
    output_options(parser)


def check_outputs(args: argparse.Namespace, inputs: dict[str, str | None],
                  recordings: Path | None = None) -> dict[str, Any] | None:
    """Check the output paths before any work (none may be an input, nor in the ``recordings`` replayed); the
    saved baseline, if one is given."""
    from parity.report import baseline

    outputs = {"--json": getattr(args, "json", None), "--html": args.html, "--save-baseline": args.save_baseline}
    for flag, path in outputs.items():
        files.check_writable(path, flag)
    files.check_distinct(outputs, {**inputs, "--baseline": args.baseline})
    files.check_outside(outputs, recordings, "the folder of recordings")
    return baseline.load(args.baseline) if args.baseline else None


def report(args: argparse.Namespace) -> int:
    from parity.report import stored

    saved = check_outputs(args, {"REPORT": args.report})
    results, meta = selected(*stored.read_json(args.report), args.keyword, args.backends)
    if saved is not None:
        from parity.report import baseline

        baseline.check_comparable(saved, meta.get("tier"), "--baseline")
    cases, backends = len({r.case for r in results}), meta.get("backends") or sorted({r.backend for r in results})
    partial = " (partial: the run was interrupted)" if meta.get("partial") else ""
    from parity.report.text import format_declared

    declared = format_declared(meta)  # a pytest session's: what it never collected
    print_lines(summary(results, args) + ([""] + declared if declared else []) + [
        f"{cases} cases x {len(backends)} backends, {len(results)} comparisons, read from {args.report}{partial}"])
    drifted, drift = against_baseline(saved, results, meta) if saved is not None else (False, [])
    write_reports(args, results, meta, drift)
    print_lines(drift)
    code = exit_code(results, drifted)
    if partial and code == 0:  # what the run never reached is neither a pass nor, against a baseline, vanished
        print(f"parity: {args.report} holds a partial run (interrupted): its {cases} cases are those finished before "
              "the stop, so it passes nothing (exit 1)", file=sys.stderr)
        return 1
    return code


def exit_code(results: list["Result"], drifted: bool) -> int:
    """What a run, or its report, exits with: 2 when no comparison could have failed (one line on stderr, with
    the most common reasons), 1 on a failure, an error or a baseline drift, else 0."""
    if not any(r.decisive for r in results):
        reasons = "; ".join(f"{reason} ({n}x)" for reason, n in Counter(r.reason for r in results).most_common(3))
        got = (f"all {len(results)} comparisons skipped or insensitive (none could have failed): "
               f"{one_line(reasons)[:400]}") if results else "no comparison"
        print(f"parity: error: a run must compare at least one output, got {got}", file=sys.stderr)
        return 2
    return 1 if drifted or any(r.status in ("fail", "error") for r in results) else 0


def selected(results: list["Result"], meta: dict[str, Any], keyword: str | None,
             backends: str | None) -> tuple[list["Result"], dict[str, Any]]:
    """The results of the cases matching ``keyword`` and of the backends named in ``backends`` (and the
    report's meta, narrowed the same way); ``ValueError`` for a selection the report has nothing of."""
    from parity.core.keyword import matcher

    if keyword:
        match = matcher(keyword)
        results = [r for r in results if match(r.case)]
        if not results:
            raise ValueError(f"-k {keyword!r} must match at least one case of the report, got none")
        meta = {**meta, "keyword": f"({meta['keyword']}) and ({keyword})" if meta.get("keyword") else keyword}
    if backends is not None:
        stored = meta.get("backends") or sorted({r.backend for r in results})
        chosen = [name.strip() for name in backends.split(",")]
        if not set(chosen) <= set(stored):
            raise ValueError(f"--backends must name backends of the report ({', '.join(stored)}), got {backends!r}")
        kept = {*chosen, "reference"}  # and an unreadable recording's error (no spec), which every run reports
        results = [r for r in results if r.backend in kept and r.against in kept or r.spec is None]
        environment = meta.get("environment", {})
        frameworks = {name: info for name, info in environment.get("frameworks", {}).items() if name in chosen}
        meta = {**meta, "backends": [name for name in stored if name in chosen],
                **({"environment": {**environment, "frameworks": frameworks}} if environment else {})}
    return results, meta


def summary(results: list["Result"], args: argparse.Namespace) -> list[str]:
    """The table (short unless --full), the fingerprints, the --matrix table and the first failures."""
    from parity.report import text

    lines = [text.format_table(text.summarize(results, args.by), args.by, None if args.full else _ROWS), "",
             text.format_fingerprints(results)]
    skips = text.format_skips(results)
    lines += ["", *skips] if skips else []
    if args.matrix:
        lines += ["", text.format_matrix(results, args.matrix)]
    failures = [r for r in results if r.status in ("fail", "error")]
    lines += [f"{r.status.upper()} {r.case} {r.backend} vs {r.against}: {r.reason}" for r in failures[:_SHOWN]]
    if len(failures) > _SHOWN:
        lines.append(f"... and {len(failures) - _SHOWN} more (see --json)")
    return lines


def against_baseline(saved: dict, results: list["Result"], meta: dict) -> tuple[bool, list[str]]:
    """Whether anything drifted, and the drift report's lines (the terminal's and the HTML report's)."""
    from parity.report import baseline

    verdict = baseline.compare(saved, results)
    lines = baseline.format_verdict(verdict, saved.get("environment", {}), meta.get("environment", {}))
    if "keyword" in saved and "keyword" in meta and saved["keyword"] != meta["keyword"]:
        lines.insert(1, f"note: the baseline was saved with -k {saved['keyword']!r}, this run with -k "
                        f"{meta['keyword']!r}: what only one of them selects is new or vanished, not compared")
    return bool(verdict.drifts), lines


def write_reports(args: argparse.Namespace, results: list["Result"], meta: dict, drift: list[str]) -> None:
    """--json, --save-baseline and --html, each of every result (unreadable recordings included); ``drift``: the
    --baseline verdict's lines, which the HTML report shows first."""
    from parity.report import baseline, html, stored

    texts = {}
    if getattr(args, "json", None):
        texts["--json", args.json] = stored.json_text(results, meta)
    if args.save_baseline:
        kept = {k: meta.get(k) for k in ("tier", "backends", "keyword")} | ({"partial": True} if meta.get("partial") else {})
        document = baseline.snapshot(results, meta.get("environment", {}), kept)
        texts["--save-baseline", args.save_baseline] = json.dumps(document, indent=1) + "\n"
    if args.html:
        texts["--html", args.html] = html.render(results, meta, drift)
    for (flag, path), document_text in texts.items():
        try:
            files.write_atomic(path, document_text)
        except OSError as error:  # the folder was checked before the run; a full disk shows only now
            raise ValueError(f"{flag} must be writable, got {path!r}: {error.strerror or error}") from None

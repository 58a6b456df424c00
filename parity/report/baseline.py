"""Baselines: the figures of every comparison of a run, saved with its environment, and the drift of a later
run against them (what a CI maintainer upgrading a framework wants to see).

Drift (fails the run): a comparison that passed and now fails, errors, is skipped or is insensitive; a
fingerprint that changed; or a figure that grew beyond its tolerance:
- ``bound_ratio`` above ``RATIO_FACTOR`` x the baseline + ``RATIO_SLACK``. Another CPU or BLAS sums in
  another order, which moves the error of a random-data sum by a small factor; 4x with 0.05 of slack
  keeps those quiet and still flags an error that moved towards the bound.
- ``max_ulp`` above ``ULP_FACTOR`` x the baseline + ``ULP_SLACK``, on integer-valued cases only (those with a
  fingerprint): their results are exact or correctly rounded whatever the order, so a new ULP is real.
  On random data ULP counts swing by orders of magnitude where outputs cancel, so they are not compared.
New and vanished comparisons are listed, not failed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Iterable

from parity.core import files
from parity.report import stored
from parity.report.text import STATUSES
from parity.running.result import Result

RATIO_FACTOR: Final = 4.0
RATIO_SLACK: Final = 0.05
ULP_FACTOR: Final = 2
ULP_SLACK: Final = 1
FIGURES: Final = ("status", "max_ulp", "bound_ratio", "fingerprint", "accumulation")
_FORMAT: Final = "parity-baseline/1"


def key(result: Result) -> str:
    return f"{result.case} | {result.backend} vs {result.against}"


def snapshot(results: Iterable[Result], environment: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The baseline document of a run."""
    figures = {key(r): {name: files.json_float(getattr(r, name)) for name in FIGURES} for r in results}
    return {"format": _FORMAT, **meta, "environment": environment, "comparisons": figures}


def with_saved_backends(saved: dict[str, Any], installed: list[str], registered: Iterable[str]) -> list[str]:
    """The backends of a run without an explicit backend list against ``saved``: the ``installed`` ones, then
    each ``registered`` backend the baseline ran that is not installed here (its comparisons become skips with
    the reason, drift from a pass, instead of vanishing unnoticed)."""
    known = set(registered)
    return installed + [b for b in saved.get("backends") or [] if b in known and b not in installed]


def check_comparable(saved: dict, tier: str | None, flag: str) -> None:
    """``ValueError`` unless ``saved`` can tell drift: saved from ``tier`` (None: unknown; accepted) by a run
    that finished. Against another tier's baseline, or an interrupted run's, most comparisons would be new,
    which never fails, so nothing could drift."""
    if tier is not None and saved.get("tier") not in (None, tier):
        raise ValueError(f"{flag} must be saved from the run's tier {tier!r}, got a baseline of the "
                         f"{saved['tier']!r} tier")
    if saved.get("partial"):
        raise ValueError(f"{flag} must be saved from a run that finished, got the baseline of an interrupted "
                         f"run ({len(saved.get('comparisons', {}))} comparisons)")


def load(path: Path) -> dict[str, Any]:
    """A saved baseline; ``ValueError`` naming the file, the field and the rule it breaks (checked whole before
    any run starts: a run must not end in a crash on a file it could have refused)."""
    try:
        document = files.read_json(path)
    except ValueError as error:
        raise ValueError(f"baseline {str(path)!r} must be a readable JSON file, got {error}") from None
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise ValueError(f"baseline {str(path)!r} must be a file written by --save-baseline ({_FORMAT}), got "
                         f"format {document.get('format') if isinstance(document, dict) else type(document).__name__!r}")
    problem = _problem(document)
    if problem:
        raise ValueError(f"baseline {str(path)!r} {problem}")
    return document


def _problem(document: dict[str, Any]) -> str:
    """What is wrong with a baseline's fields ('' if nothing)."""
    backends = document.get("backends", [])
    checks = (("comparisons", isinstance(document.get("comparisons"), dict), "an object of comparisons"),
              ("environment", isinstance(document.get("environment", {}), dict), "an object"),
              ("tier", isinstance(document.get("tier"), (str, type(None))), "a tier name or null"),
              ("partial", isinstance(document.get("partial", False), bool), "true or false"),
              ("backends", isinstance(backends, list) and all(isinstance(b, str) for b in backends)
               and len(set(backends)) == len(backends), "a list of distinct backend names"))
    for name, good, rule in checks:
        if not good:
            return f"{name} must be {rule}, got {json.dumps(document.get(name))[:80]}"
    for name, figures in document["comparisons"].items():
        rule = _figures_problem(figures)
        if rule:
            return f"comparisons[{json.dumps(name)[:120]}]{rule}"
    return ""


def _figures_problem(figures: Any) -> str:
    missing = [name for name in FIGURES if name not in figures] if isinstance(figures, dict) else FIGURES
    if missing:
        got = f"no {', '.join(missing)}" if isinstance(figures, dict) else json.dumps(figures)[:80]
        return f" must be an object of {', '.join(FIGURES)}, got {got}"
    checks = (("status", figures.get("status") in STATUSES, f"one of {', '.join(STATUSES)}"),
              ("fingerprint", isinstance(figures.get("fingerprint"), (str, type(None))), "a string or null"),
              ("accumulation", isinstance(figures.get("accumulation"), (str, type(None))), "a string or null"))
    for name, good, rule in checks:
        if not good:
            return f".{name} must be {rule}, got {json.dumps(figures.get(name))[:80]}"
    problem = (stored.count_problem("max_ulp", figures["max_ulp"])
               or stored.figure_problem("bound_ratio", figures["bound_ratio"])
               or stored.pass_problem(figures["status"], figures["bound_ratio"]))
    return f".{problem}" if problem else ""


@dataclass(frozen=True)
class Drift:
    """One comparison whose figures moved: ``what`` says how; before/after are the figure dicts."""

    comparison: str
    what: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class Verdict:
    drifts: list[Drift]
    changes: list[Drift]  # moves that are not drift (a failure that now passes, ...)
    new: list[str]
    vanished: list[str]


def compare(baseline: dict[str, Any], results: Iterable[Result]) -> Verdict:
    """The drift of ``results`` from ``baseline``. A pair is one comparison whichever backend came first
    (``--backends b,a`` against a baseline of ``a,b``): its two keys are matched."""
    before: dict[str, dict[str, Any]] = baseline["comparisons"]
    after = {key(r): {name: files.json_float(getattr(r, name)) for name in FIGURES} for r in results}
    saved = {_unordered(name): name for name in before}
    matched = {name: saved[_unordered(name)] for name in after if _unordered(name) in saved}
    drifts, changes = [], []
    for name in sorted(matched):
        old, new = before[matched[name]], after[name]
        what = drift(old, new)
        if what:
            drifts.append(Drift(name, what, old, new))
        elif old["status"] != new["status"]:
            changes.append(Drift(name, f"{old['status']} -> {new['status']}", old, new))
    return Verdict(drifts, changes, sorted(after.keys() - matched.keys()), sorted(before.keys() - set(matched.values())))


def parse_key(name: str) -> tuple[str, str, str]:
    """(case, backend, against) of a comparison's :func:`key`."""
    case, _, pair = name.rpartition(" | ")
    backend, _, against = pair.partition(" vs ")
    return case, backend, against


def _unordered(name: str) -> str:
    """A comparison's key with a pair's two backends in one order."""
    case, backend, against = parse_key(name)
    return name if against == "reference" else f"{case} | {' vs '.join(sorted((backend, against)))}"


def drift(before: dict[str, Any], after: dict[str, Any]) -> str:
    """How ``after`` drifted from ``before`` ('' if it did not): every way, separated by '; '."""
    found = []
    if before["status"] == "pass" and after["status"] != "pass":
        found.append(f"status pass -> {after['status']}")
    label = after.get("fingerprint")  # None with no output: then the status drift, if any, says it
    if before.get("fingerprint") not in (None, label) and (label is not None or not found):
        moved = f" ({before['status']} -> {after['status']})" if label is None else ""
        found.append(f"fingerprint {before['fingerprint']} -> {label}{moved}")
    old, new = _number(before.get("bound_ratio")), _number(after.get("bound_ratio"))
    if old is not None and new is not None and new > RATIO_FACTOR * old + RATIO_SLACK:
        found.append(f"bound_ratio {old:.3g} -> {new:.3g} (over {RATIO_FACTOR:g}x + {RATIO_SLACK:g})")
    if before.get("fingerprint") is not None and None not in (before.get("max_ulp"), after.get("max_ulp")):
        if after["max_ulp"] > ULP_FACTOR * before["max_ulp"] + ULP_SLACK:
            found.append(f"max_ulp {before['max_ulp']} -> {after['max_ulp']} on an integer case")
    return "; ".join(found)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def environment_changes(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted key, before, after) for every leaf of the two environments that differs."""
    found = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            found += environment_changes(old, new, f"{prefix}{name}.")
        elif old != new:
            found.append((f"{prefix}{name}", old, new))
    return found


def format_verdict(verdict: Verdict, before_env: dict[str, Any], after_env: dict[str, Any]) -> list[str]:
    """Drifts first with before/after figures, then the environments side by side, then the rest."""
    lines = [f"baseline: {len(verdict.drifts)} drift(s), {len(verdict.changes)} other change(s), "
             f"{len(verdict.new)} new and {len(verdict.vanished)} vanished comparison(s)"]
    for d in verdict.drifts:
        lines.append(f"DRIFT {d.comparison}: {d.what}")
        lines.append(f"    before {_figures(d.before)}")
        lines.append(f"    after  {_figures(d.after)}")
    changed = environment_changes(before_env, after_env)
    if changed:
        lines.append("environment (baseline -> this run):")
        lines += [f"    {name}: {old!r} -> {new!r}" for name, old, new in changed]
    lines += [f"changed {c.comparison}: {c.what}" for c in verdict.changes]
    lines += [f"new {name}" for name in verdict.new] + [f"vanished {name}" for name in verdict.vanished]
    return lines


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{name} {figures.get(name)}" for name in FIGURES)

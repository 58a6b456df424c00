"""The JSON report (``parity run --json``, ``pytest --parity-json``): written here, and read back, checked, for
``parity report``. A file read back may come from anywhere (a CI artifact of someone else's branch): every
field a report shows is checked for the type and the company it needs, so that a bad file is one
``ValueError`` naming the entry and the rule, never a crash later or markup in an HTML report."""
from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Final

from parity.core import files
from parity.report.fingerprints import summarize as fingerprints
from parity.report.text import STATUSES
from parity.running.registry import TIERS
from parity.running.result import REFERENCE, Result

FORMAT: Final = "parity-report/1"
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_SOURCES: Final = "(parity run --json, pytest --parity-json)"


def json_text(results: list[Result], meta: dict[str, Any]) -> str:
    """The JSON report: ``meta`` (tier, backends, environment, ...), the fingerprint rows and every result."""
    document = {"format": FORMAT, **meta, "fingerprints": [asdict(row) for row in fingerprints(results)],
                "results": [r.as_dict() for r in results]}
    return json.dumps(document, indent=1) + "\n"


def read_json(path: str | Path, flag: str = "REPORT") -> tuple[list[Result], dict[str, Any]]:
    """(results, meta) of a JSON report written by :func:`json_text` (reports from before its ``format`` key
    are read too); ``ValueError`` naming ``flag``, the file and what is wrong."""
    try:
        document = files.read_json(path)
    except ValueError as error:
        raise ValueError(f"{flag} must be a readable JSON report {_SOURCES}, got {str(path)!r}: {error}") from None
    if not isinstance(document, dict) or document.get("format", FORMAT) != FORMAT or not document.keys() & {
            "format", "results"}:  # (reports from before the format key have results)
        got = (f"format {document.get('format')!r}" if isinstance(document, dict) and "format" in document
               else "an object with neither format nor results (a parity check or layers report?)"
               if isinstance(document, dict) else f"a JSON {type(document).__name__}")
        raise ValueError(f"{flag} must be a JSON report of format {FORMAT} {_SOURCES}, got {str(path)!r}: {got}")
    meta = {key: value for key, value in document.items() if key not in ("format", "fingerprints", "results")}
    problem = _meta_problem(meta, document.get("results"))
    if problem:
        raise ValueError(f"{flag} {problem}, in {str(path)!r}")
    results, seen = [], {}
    for index, item in enumerate(document["results"]):
        try:
            _check_figures(item)
            result = _checked(Result.from_dict(item))
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            raise ValueError(f"{flag} results[{index}] must be a result as parity writes it, got {str(path)!r}: "
                             f"{type(error).__name__}: {str(error)[:300]}") from None
        key = (result.case, result.backend, result.against)
        first = seen.setdefault(key, index)
        if first == index:
            results.append(result)
        elif item != document["results"][first]:  # the same comparison twice is one result; two verdicts are none
            raise ValueError(f"{flag} results[{index}] must agree with results[{first}], the same comparison "
                             f"({' | '.join(key)}), got {str(path)!r}: they differ")
    outside = _outside(results, meta.get("backends"))
    if outside:
        raise ValueError(f"{flag} {outside}, in {str(path)!r}")
    stored_rows = document.get("fingerprints")
    if stored_rows is not None and stored_rows != [asdict(row) for row in fingerprints(results)]:
        raise ValueError(f"{flag} fingerprints must be the rows of its results' fingerprints, got {str(path)!r}: "
                         f"{json.dumps(stored_rows)[:80]} (an edited file?)")
    return results, meta


_FIELDS: Final = frozenset(f.name for f in fields(Result))


def _check_figures(item: Any) -> None:
    """``ValueError`` unless a raw result is an object of Result's fields with a spec object (or null), each
    figure a number >= 0 (or NaN, or inf written as "inf") or null, and a pass within its bound."""
    if not isinstance(item, dict):
        raise ValueError(f"a result must be an object, got {json.dumps(item)[:80]}")
    unknown, missing = sorted(item.keys() - _FIELDS), sorted({"case", "backend", "against", "status"} - item.keys())
    if unknown or missing:
        raise ValueError(f"a result's fields must be {', '.join(sorted(_FIELDS))}, got "
                         + (f"unknown {', '.join(unknown)}" if unknown else f"no {', '.join(missing)}"))
    if not isinstance(item.get("spec"), (dict, type(None))):
        raise ValueError(f"spec must be an object or null, got {json.dumps(item['spec'])[:80]}")
    problem = count_problem("max_ulp", item.get("max_ulp")) or next(
        filter(None, (figure_problem(name, item.get(name)) for name in ("max_abs", "max_rel", "bound_ratio"))), "")
    problem = problem or pass_problem(item.get("status"), item.get("bound_ratio")) or _figured(item)
    if problem:
        raise ValueError(problem)


_FIGURES: Final = ("max_abs", "max_rel", "max_ulp", "bound_ratio")


def _figured(item: dict[str, Any]) -> str:
    """'' unless a result's figures contradict its status: a skip or error compared nothing, and a pass is
    within a finite distance."""
    status, given = item.get("status"), [name for name in _FIGURES if item.get(name) is not None]
    if status in ("skip", "error") and given:
        return f"{given[0]} of a {status} must be null (it compared nothing), got {json.dumps(item[given[0]])}"
    if status == "pass" and item.get("max_abs") in ("inf", "nan"):  # (max_rel is inf where 0 was expected)
        return f"max_abs of a pass must be finite, got {json.dumps(item['max_abs'])}"
    return ""


def figure_problem(name: str, value: Any) -> str:
    """'' if ``value`` is a stored figure (reports and baselines alike): a number >= 0, "inf" or "nan" (how
    parity writes non-finite figures), or null; else the rule it breaks."""
    if value is None or value in ("inf", "nan") or type(value) in (int, float) and 0 <= value <= sys.float_info.max:
        return ""
    return f'{name} must be a number from 0 to 1.8e308, "inf", "nan" or null, got {json.dumps(value)[:80]}'


def pass_problem(status: Any, ratio: Any) -> str:
    """'' unless a stored pass (of a valid figure ``ratio``) is outside its bound; else the rule it breaks."""
    if status == "pass" and ratio is not None and not float(ratio) <= 1:
        return f"bound_ratio of a pass must be at most 1, got {json.dumps(ratio)}"
    return ""


def count_problem(name: str, value: Any) -> str:
    """'' if ``value`` is a stored ULP count (an integer >= 0, or null); else the rule it breaks."""
    if value is None or type(value) is int and 0 <= value < 2 ** 64:
        return ""
    return f"{name} must be an integer from 0 to 2**64 - 1 or null, got {json.dumps(value)[:80]}"


def _meta_problem(meta: dict[str, Any], results: Any) -> str:
    """What is wrong with the report's fields around its results ('' if nothing)."""
    environment, backends = meta.get("environment", {}), meta.get("backends", [])
    checks = [
        ("results", isinstance(results, list), "a list of results"),
        ("backends", isinstance(backends, list) and all(isinstance(b, str) for b in backends)
         and len(set(backends)) == len(backends), "a list of distinct backend names"),
        ("tier", meta.get("tier") in (*TIERS, None), f"one of {', '.join(TIERS)} or null"),
        ("keyword", isinstance(meta.get("keyword", ""), (str, type(None))), "a string or null"),
        ("partial", isinstance(meta.get("partial", False), bool), "true or false"),
        ("environment", isinstance(environment, dict) and all(isinstance(environment.get(k, {}), dict) for k in
                                                              ("cpu", "threads", "numpy", "frameworks")),
         "an object whose cpu, threads, numpy and frameworks are objects"),
        ("declared_unsupported", _declared(meta.get("declared_unsupported", [])),
         'a list of {"backend": name, "reason": text, "cases": count}'),
        ("declared_unsupported_scope", meta.get("declared_unsupported_scope", "tier") in ("tier", "selection"),
         '"tier" or "selection"'),
        ("parity_tests", _counts(meta.get("parity_tests", {}), meta.get("declared_unsupported_scope") == "tier"),
         'an object of counts "selected" and "parametrized" (both, with a tier, where the scope is "tier")'),
    ]
    for name, good, rule in checks:
        if not good:
            value = results if name == "results" else meta.get(name)
            return f"{name} must be {rule}, got {json.dumps(value)[:80]}"
    return _environment_problem(environment)


def _environment_problem(environment: dict[str, Any]) -> str:
    """What is wrong with the environment's fields that reports read ('' if nothing)."""
    frameworks, flags = environment.get("frameworks", {}), environment.get("cpu", {}).get("flags", [])
    isolate = environment.get("isolate", 1)
    checks = [("cpu.flags", flags, isinstance(flags, list) and all(isinstance(f, str) for f in flags),
               "a list of flag names"),
              ("isolate", isolate, type(isolate) in (int, float) and 0 < isolate <= sys.float_info.max,
               "a timeout in seconds > 0")]
    for name, info in frameworks.items():
        versions = info.get("versions", {}) if isinstance(info, dict) else {}
        checks += [(f"frameworks.{name}", info, isinstance(info, dict), "an object"),
                   (f"frameworks.{name}.versions", versions, isinstance(versions, dict) and all(
                       isinstance(v, (str, type(None))) for v in versions.values()), "an object of version strings")]
    for name, value, good, rule in checks:
        if not good:
            return f"environment.{name} must be {rule}, got {json.dumps(value)[:80]}"
    return ""


def _outside(results: list[Result], backends: list[str] | None) -> str:
    """What compares a backend the report does not list, or a backend with itself ('' if nothing; an
    unreadable recording's error, which has no spec, belongs to no backend)."""
    if backends is None:  # a report from before the list
        return ""
    sides = {*backends, REFERENCE}
    for result in results:
        if result.spec is not None and (result.backend not in backends or result.against not in sides
                                        or result.against == result.backend):
            return (f"results must compare backends it lists ({', '.join(backends) or 'none'}) with the reference or "
                    f"with each other, got {result.backend} vs {result.against} ({result.case})")
    return ""


def _counts(counts: Any, required: bool) -> bool:
    """Whether ``counts`` are a pytest session's selected and parametrized parity tests (``required``: both)."""
    names = {"selected", "parametrized"}
    return isinstance(counts, dict) and (counts.keys() == names if required else counts.keys() <= names) and all(
        type(n) is int and n >= 0 for n in counts.values())


def _declared(rows: Any) -> bool:
    """Whether ``rows`` are the pytest plugin's declared-unsupported counts."""
    return isinstance(rows, list) and all(
        isinstance(row, dict) and row.keys() == {"backend", "reason", "cases"} and isinstance(row["backend"], str)
        and isinstance(row["reason"], str) and type(row["cases"]) is int and row["cases"] >= 0 for row in rows)


def _checked(result: Result) -> Result:
    """``result`` if its fields have the types, and the company, the reports read (``ValueError`` naming the
    first that has not)."""
    if result.status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {result.status!r}")
    for name in ("case", "backend", "against", "reason"):
        if not isinstance(getattr(result, name), str):
            raise ValueError(f"{name} must be a string, got {getattr(result, name)!r}")
    for name in ("accumulation", "fingerprint", "error_map"):
        if getattr(result, name) is not None and not isinstance(getattr(result, name), str):
            raise ValueError(f"{name} must be a string or null, got {getattr(result, name)!r}")
    if result.max_ulp is not None and (not isinstance(result.max_ulp, int) or isinstance(result.max_ulp, bool)):
        raise ValueError(f"max_ulp must be an integer or null, got {result.max_ulp!r}")
    if result.spec is None and (result.bound_ratio is not None or result.fingerprint is not None):
        raise ValueError("spec must be given with figures or a fingerprint, got null")
    if result.bound_ratio is not None and None in (result.max_abs, result.max_rel, result.max_ulp):
        raise ValueError("max_abs, max_rel and max_ulp must be given with bound_ratio, got null")
    if result.error_map is not None and (result.max_abs is None or not _BASE64.fullmatch(result.error_map)):
        raise ValueError(f"error_map must be a base64 PNG given with max_abs, got {result.error_map[:40]!r}")
    return result

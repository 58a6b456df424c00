"""``parity fuzz``: many hypothesis-drawn specs through the reference and every chosen backend.

The first spec whose results include a ``fail`` or ``error`` is shrunk by hypothesis to a minimal one;
``parity fuzz --save`` appends it to the regression cases (:func:`parity.cases.regressions.save`).
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from parity.running.registry import Case
from parity.running.runner import run_case
from parity.core.spec import ConvSpec
from parity.running.strategies import valid_specs

@dataclass(frozen=True)
class FuzzOutcome:
    tried: int
    minimal: ConvSpec | None
    problem: str
    compared: dict[str, int]  # per backend, its comparisons with the reference that could have failed
    skipped: dict[str, str]  # per backend, the most common reason its comparisons could not have failed


def fuzz(examples: int, backends: list[str], seed: int = 0) -> FuzzOutcome:
    """Try up to ``examples`` specs; return the shrunk first failing one (or None) and how many ran."""
    tried, compared, skipped = 0, Counter({name: 0 for name in backends}), {name: Counter() for name in backends}

    def problem(spec: ConvSpec) -> str:
        nonlocal tried
        tried += 1
        results = run_case(Case(spec.slug(), spec), backends)
        for r in (r for r in results if r.against == "reference"):
            if r.decisive:
                compared[r.backend] += 1
            else:
                skipped[r.backend][r.reason] += 1
        bad = [r for r in results if r.status in ("fail", "error")]
        return f"{bad[0].backend} vs {bad[0].against}: {bad[0].status}: {bad[0].reason}" if bad else ""

    config = settings(max_examples=examples, database=None, deadline=None, suppress_health_check=list(HealthCheck),
                      phases=tuple(Phase), derandomize=False)  # whatever profile the caller loaded: fuzz shrinks
    try:
        minimal = find(valid_specs(), lambda spec: bool(problem(spec)), settings=config, random=random.Random(seed))
    except NoSuchExample:
        minimal = None
    said = problem(minimal) if minimal is not None else ""
    reasons = {name: counts.most_common(1)[0][0] for name, counts in skipped.items() if counts}
    return FuzzOutcome(tried, minimal, said, dict(compared), reasons)

"""Mutation score: the default tier must kill every mutant backend (tests/mutants.py) in every dtype it
applies to: some case must *fail* (or error) with the mistake, not pass and not be insensitive."""
from __future__ import annotations

from collections import defaultdict

import pytest

from mutants import MUTANTS, NUMPY, MutantAdapter
from parity.running.registry import collect
from parity.running.runner import CaseRun

DTYPES = ("float16", "bfloat16", "float32", "float64")


def _order(case) -> tuple:
    """Integer and realistic cases first: they kill most mutants at once."""
    return (case.spec.distribution == "normal", not case.id.startswith("realistic"), case.id)


def kill_matrix() -> dict[tuple[str, str], str]:
    """(mutant, dtype) -> id of the first case that killed it, '' if none did."""
    killed: dict[tuple[str, str], str] = {(m.name, d): "" for m in MUTANTS for d in m.dtypes}
    for case in sorted(collect("default"), key=_order):
        pending = [m for m in MUTANTS if killed.get((m.name, case.spec.dtype)) == "" and m.applies(case.spec)]
        if not pending:
            continue
        run = CaseRun(case)
        for mutant in pending:
            if run.against_reference(mutant.name).status in ("fail", "error"):
                killed[(mutant.name, case.spec.dtype)] = case.id
        if all(killed.values()):
            break
    return killed


def format_matrix(killed: dict[tuple[str, str], str]) -> str:
    rows = defaultdict(dict)
    for (mutant, dtype), case in killed.items():
        rows[mutant][dtype] = "killed" if case else "SURVIVED"
    lines = ["| mutant | " + " | ".join(DTYPES) + " |", "| --- |" + " --- |" * len(DTYPES)]
    lines += [f"| {m.name} | " + " | ".join(rows[m.name].get(d, "n/a") for d in DTYPES) + " |" for m in MUTANTS]
    return "\n".join(lines)


def test_default_tier_kills_every_mutant(install_backends):
    install_backends({"numpy": NUMPY, **{m.name: MutantAdapter(m) for m in MUTANTS}})
    killed = kill_matrix()
    print("\n" + format_matrix(killed))
    survivors = sorted(key for key, case in killed.items() if not case)
    assert not survivors, "survived: " + ", ".join(f"{m} ({d})" for m, d in survivors) + "\n" + format_matrix(killed)


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_mutants_change_what_they_claim(mutant):
    """A mutant is a real mistake: on a case it applies to, its result differs from the numpy adapter's."""
    from parity.core.inputs import cotangent, generate

    case = next(c for c in sorted(collect("default"), key=_order)
                if c.spec.dtype == mutant.dtypes[-1] and mutant.applies(c.spec))
    operands = [a for a in (*generate(case.spec), cotangent(case.spec)) if a is not None]
    changed = MutantAdapter(mutant).run(case.spec, *operands)
    right = NUMPY.run(case.spec, *operands)
    assert changed.shape != right.shape or (changed.astype(float) != right.astype(float)).any(), case.id

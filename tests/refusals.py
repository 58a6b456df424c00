"""What a backend says of a case on this machine, as a run reports it: its declared refusal (``supports``)
or the framework's own refusal raised from ``run`` (``Refused``); None when it computes the case."""
from __future__ import annotations

from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.core.spec import ConvSpec


def refusal(backend: str, spec: ConvSpec) -> str | None:
    outcome = CaseRun(Case(spec.slug(), spec)).outcome(backend)
    assert outcome.status in ("pass", "skip"), outcome.reason
    return outcome.reason if outcome.status == "skip" else None

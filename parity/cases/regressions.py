"""Regression cases saved by ``parity fuzz --save`` (minimal failing specs, kept in regressions.json)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from parity.core.files import write_atomic
from parity.running.registry import generator
from parity.core.spec import ConvSpec

SAVED = Path(__file__).with_name("regressions.json")


@generator("default")
def regressions() -> Iterator[ConvSpec]:
    if SAVED.exists():
        for entry in json.loads(SAVED.read_text()):
            yield ConvSpec(**entry)


def save(spec: ConvSpec) -> bool:
    """Append ``spec`` to the regression cases (``parity fuzz --save``); False if it was already there."""
    saved = json.loads(SAVED.read_text()) if SAVED.exists() else []
    entry = spec.as_dict()
    if entry in saved:
        return False
    write_atomic(SAVED, json.dumps([*saved, entry], indent=1) + "\n")
    return True

"""Regression cases saved by ``parity fuzz --save`` (minimal failing specs, kept in regressions.json)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from parity.running.registry import generator
from parity.core.spec import ConvSpec

SAVED = Path(__file__).with_name("regressions.json")


@generator("default")
def regressions() -> Iterator[ConvSpec]:
    if SAVED.exists():
        for entry in json.loads(SAVED.read_text()):
            yield ConvSpec(**entry)

"""How much memory a case may take: PARITY_MEMORY_GIB, read once per use."""
from __future__ import annotations

import math
import os

DEFAULT_MEMORY_GIB = 8.0


def memory_budget() -> float:
    """PARITY_MEMORY_GIB as GiB; ``ValueError`` naming the variable unless it is a finite number > 0."""
    text = os.environ.get("PARITY_MEMORY_GIB")
    if text is None:
        return DEFAULT_MEMORY_GIB
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"PARITY_MEMORY_GIB must be a finite number of GiB > 0, got {text!r}")
    return value

"""Helpers of the parity.check tests: seeded data and the first explanation's changes."""
from __future__ import annotations

import numpy as np


def normal(rng: np.random.Generator, *shape: int, dtype=np.float32) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def first_changes(result) -> list[str]:
    """The changes of the first explanation of a Y that does not match as stated (asserted)."""
    assert not result.matches, result.format()
    assert result.explanations, result.format()
    return list(result.explanations[0].changes)

"""How much memory a case may take: PARITY_MEMORY_GIB, read once per use."""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

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


def memory_refusal(spec: "ConvSpec", budget_gib: float | None = None) -> str:
    """Why the case is refused for memory ('' if it fits): its operands, as the float64 copies the reference
    makes, exceed the budget (PARITY_MEMORY_GIB, default 8; the reference itself works in chunks of
    parity.reference.conv.CHUNK_BYTES)."""
    budget = memory_budget() if budget_gib is None else budget_gib
    shapes = [spec.input_shape, spec.kernel_shape, spec.output_shape] + ([spec.output_shape] if spec.quantity != "output" else [])
    need = 8 * sum(math.prod(shape) for shape in shapes) / 2**30
    if need <= budget:
        return ""
    return (f"refused: its operands need {need:.1f} GiB as float64, over the {budget:g} GiB memory budget "
            "(PARITY_MEMORY_GIB)")

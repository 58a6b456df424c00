"""`parity check`'s hints: what may be why nothing explains Y, where the search itself cannot say."""
from __future__ import annotations

import dataclasses
from typing import Any

from parity.porting import check_inputs
from parity.porting.check_inputs import Inputs
from parity.porting.check_report import CheckResult


def y_narrow(result: CheckResult, x: Any, w: Any, y: Any) -> CheckResult:
    """A result that does not match, with a hint where Y holds only 16-bit values and x or w does not."""
    name = check_inputs.y_only_in(x, w, y)
    if name is None:
        return result
    said = (f"every element of Y is a {name} value, x and w are not: if the call ran in {name} (a model cast to "
            f"it), it rounded x and w first; compare those (x.astype({name}), w.astype({name})) with Y")
    return dataclasses.replace(result, hint="; ".join(filter(None, (result.hint, said))))


def assumed(values: dict[str, object], problem: str, inputs: Inputs) -> str:
    """What was assumed rather than stated (``values``), when that may be why nothing explains Y."""
    parts = [f"{name} {value}" for name, value in values.items()]
    relevant = "padding" in values or bool(problem)  # an assumed stride alone rarely is the cause
    hint = "" if not (parts and relevant) else (
        f"not stated, so assumed: {', '.join(parts)}; state the values of your call (e.g. --padding SAME or "
        "--padding 1:1,1:1) to see where the error sits")
    return "; ".join(filter(None, (hint, layout(inputs))))


def layout(inputs: Inputs) -> str:
    """For a 3-axis x read with the default layout: the 2-D reading without a batch axis, to state."""
    x = inputs.x
    if inputs.layout is not None or x.ndim != 3:
        return ""
    return (f"x {x.shape} was read as NCW (batch {x.shape[0]}, {x.shape[1]} channels, width {x.shape[2]}); if it "
            "is an image without its batch axis, state --layout HWC (or CHW)")

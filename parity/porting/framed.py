"""The exact reference of a framed reading (:mod:`parity.core.reading`): what `parity check` compares a
stored output against, and how far it may widen under the reading's conventions."""
from __future__ import annotations

import numpy as np

from parity.core.reading import Frame
from parity.core.spec import ConvSpec
from parity.reference import conv as reference


def compute(fr: Frame, *, exact: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(value, low, scale) of the reading's convolution, straight from the reference."""
    return _run(fr.spec, fr.x, fr.w, full=False, exact=exact)


def full_output(fr: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(value, scale) over every window position: stride 1 with FULL padding for a forward conv, the
    uncropped output for a transposed one. Every padding and stride is a strided window of it."""
    value, _, scale = _run(fr.spec, fr.x, fr.w, full=True)
    return value, scale


def widening(fr: Frame, *, full: bool = False) -> np.ndarray | None:
    """How far the exact result can move while x and w stay within their printing's rounding (dx, dw):
    |x + ex| conv |w + ew| - ... is at most dx conv (|w| + dw) + |x| conv dw per output (of the full output
    when ``full``). None when x and w are exact."""
    if fr.rounding is None or not (fr.rounding[0].any() or fr.rounding[1].any()):
        return None
    dx, dw, _ = fr.rounding
    total = _run(fr.spec, dx, np.abs(fr.w) + dw, full=full)[0] if dx.any() else 0.0
    return total + (_run(fr.spec, np.abs(fr.x), dw, full=full)[0] if dw.any() else 0.0)


def _run(spec: ConvSpec, x: np.ndarray, w: np.ndarray, *, full: bool,
         exact: bool = False) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    if spec.transposed:
        crops = tuple((0, 0) for _ in spec.kernel) if full else spec.pads
        extra = (0,) * spec.rank if full else spec.output_padding
        return reference.conv_transpose(x, w, spec.strides, crops, extra, spec.dilations, spec.groups, exact=exact)
    if full:
        pads = tuple((span - 1, span - 1) for span in spec.dilated_kernel)
        return reference.conv(x, w, (1,) * spec.rank, pads, spec.dilations, spec.groups)
    return reference.conv(x, w, spec.strides, spec.pads, spec.dilations, spec.groups, exact=exact)

"""Which primitive computes a case's quantity: a conv, a transposed conv or a weight gradient, and with what."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from parity.core import convert, geometry
from parity.reference.gather import Pads

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec


def plan(spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None,
         pads: Pads | None = None) -> tuple[str, tuple]:
    """The primitive that computes the spec's quantity and its arguments: ``("conv", (x, w, strides, pads,
    dilations, groups))``, ``("conv_transpose", (x, w, strides, crops, output_padding, dilations, groups))`` or
    ``("grad_weight", (x, dy, kernel, strides, pads, dilations, groups))``."""
    s, d, g = spec.strides, spec.dilations, spec.groups
    pads = spec.pads if pads is None else pads
    if spec.quantity == "output":
        if spec.transposed:
            return "conv_transpose", (x, w, s, pads, spec.output_padding, d, g)
        return "conv", (x, w, s, pads, d, g)
    if not spec.transposed:
        if spec.quantity == "grad_input":  # the adjoint of a conv is the transposed conv
            return "conv_transpose", (dy, w, s, pads, _fitting_output_padding(spec, pads), d, g)
        return "grad_weight", (x, dy, spec.kernel, s, pads, d, g)
    # A transposed conv is the adjoint of the forward conv whose padding is (lo, hi - output_padding).
    forward = tuple((lo, hi - extra) for (lo, hi), extra in zip(pads, spec.output_padding))
    if spec.quantity == "grad_input":
        return "conv", (dy, w, s, forward, d, g)
    return "grad_weight", (dy, x, spec.kernel, s, forward, d, g)


def _fitting_output_padding(spec: "ConvSpec", pads: Pads) -> tuple[int, ...]:
    """output_padding that makes the transposed conv of the output grid as long as the input again
    (the forward conv's floor division dropped up to s-1 input elements at the end)."""
    full = geometry.full_transposed(spec.output_spatial, spec.kernel, spec.strides, spec.dilations)
    return tuple(n - (f - lo - hi) for n, f, (lo, hi) in zip(spec.spatial, full, pads))


def as_forward(w: np.ndarray, crops: Pads, output_padding: tuple[int, ...], dilations: tuple[int, ...],
               groups: int) -> tuple[np.ndarray, Pads]:
    """A transposed conv's (C_in, C_out/g, *k) kernel as the flipped, in/out-swapped kernel of the forward conv
    over the stride-dilated input, and that conv's pads."""
    return (convert.transposed_kernel_to_forward(w, groups),
            convert.transposed_pads(w.shape[2:], dilations, crops, output_padding))

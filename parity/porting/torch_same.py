"""``SamePad``: TensorFlow's SAME padding as a PyTorch module, for layers converted by
:func:`parity.porting.layers.convert_layer`. At strides above 1, SAME pads by the input's size (a 3-wide kernel at
stride 2 pads (0, 1) on an even axis and (1, 1) on an odd one), which no fixed ``padding`` expresses;
this module computes the pads of each input. It imports torch: import it only where torch is installed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from parity.core import convert


class SamePad(torch.nn.Module):
    """Zero-pad the spatial axes of channels-first input as TensorFlow's ``padding="SAME"`` does:
    total = max((ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0), the odd element at the end."""

    def __init__(self, kernel: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.kernel, self.strides, self.dilations = tuple(kernel), tuple(strides), tuple(dilations)

    def pads(self, spatial: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        pads = []
        for n, k, s, d in zip(spatial, self.kernel, self.strides, self.dilations):
            pads.append(convert.same_pads(n, k, s, d))
        return tuple(pads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = self.pads(tuple(x.shape[2:]))
        return F.pad(x, [v for pair in reversed(pads) for v in pair])

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, strides={self.strides}, dilations={self.dilations}"

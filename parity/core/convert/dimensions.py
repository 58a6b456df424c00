"""One type for the layouts of a convolution's operands (like jax's ``ConvDimensionNumbers``): the data and
output layouts as letter strings (``"NHWC"``), the kernel's as a :class:`KernelLayout` (``"HWIO"``,
depthwise ``"HWIM"``, transposed ``"HWOI"``). User strings are parsed once, at the edge
(:func:`dimension_numbers`, :func:`dimensions_for`); every permutation between a framework's arrays and parity's
canonical ones (data ``(N, C, *S)``, kernels ``(O, I/g, *k)``, transposed ``(I, O/g, *k)``) is derived
from the letters here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from parity.core.convert.layout import (SPATIAL_LETTERS, KernelLayout, default_kernel_layout, kernel_from_canonical,
                                        kernel_layout, kernel_to_canonical, layout_family, layout_name,
                                        letter_permutation)

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec


@dataclass(frozen=True)
class DimensionNumbers:
    data: str  # "NCHW", "NHWC", ...
    kernel: KernelLayout
    output: str

    @property
    def rank(self) -> int:
        return len(self.data) - 2

    @property
    def strings(self) -> tuple[str, str, str]:
        """(data, kernel, output) letters: ``lax.conv_general_dilated``'s ``dimension_numbers``."""
        return self.data, self.kernel.name, self.output

    @property
    def channels_last(self) -> bool:
        return self.data[-1] == "C"

    def data_from_canonical(self, x: np.ndarray) -> np.ndarray:
        """Canonical ``(N, C, *S)`` data (or a cotangent) in this data layout (a view)."""
        return x.transpose(letter_permutation(_canonical(self.rank), self.data))

    def output_to_canonical(self, y: np.ndarray) -> np.ndarray:
        """A result in this output layout as a contiguous canonical array."""
        return np.ascontiguousarray(y.transpose(letter_permutation(self.output, _canonical(self.rank))))

    def kernel_from_canonical(self, w: np.ndarray, groups: int) -> np.ndarray:
        """A canonical kernel in this kernel layout (a depthwise layout needs groups = input channels)."""
        return kernel_from_canonical(w, self.kernel, groups)

    def kernel_to_canonical(self, w: np.ndarray) -> np.ndarray:
        """A kernel (or kernel gradient) in this kernel layout as a contiguous canonical array."""
        return np.ascontiguousarray(kernel_to_canonical(w, self.kernel))

    def result_to_canonical(self, result: np.ndarray, quantity: str) -> np.ndarray:
        """What a framework computed for ``quantity``: a kernel gradient in the kernel layout, else the output
        layout's array."""
        return self.kernel_to_canonical(result) if quantity == "grad_weight" else self.output_to_canonical(result)


def dimension_numbers(data: str, kernel: str | None, rank: int, transposed: bool = False) -> DimensionNumbers:
    """From user strings: ``data`` a layout name (``"NHWC"``) or family (``"channels_last"``), ``kernel``
    letters (``"HWIO"``, ``"OIHW"``, depthwise ``"HWIM"``) or None for the data layout's default. A one-line
    ``ValueError`` names the rule broken."""
    family = layout_family(data, rank)
    name = layout_name(family, rank)
    layout = default_kernel_layout(rank, family == "channels_last", transposed) if kernel is None \
        else kernel_layout(kernel, rank, transposed)
    return DimensionNumbers(name, layout, name)


def dimensions_for(spec: "ConvSpec", data: str | None = None, kernel: str = "canonical") -> DimensionNumbers:
    """A framework's dimension numbers for ``spec``: ``data`` the family or name it is handed (default: the
    case's layout); ``kernel`` one of ``"canonical"`` (``OI...``, transposed ``IO...``), ``"spatial_first"``
    (``...IO``, transposed ``...OI``: TensorFlow's and Keras's), ``"depthwise"`` (``...IM``: TensorFlow's
    depthwise ``[k..., in, multiplier]``, output channel ``i*M + m``) or letters."""
    letters, channels = SPATIAL_LETTERS[spec.rank], "IO" if spec.transposed else "OI"
    named = {"canonical": channels + letters, "spatial_first": letters + channels[::-1], "depthwise": letters + "IM"}
    return dimension_numbers(data or spec.layout, named.get(kernel, kernel), spec.rank, spec.transposed)


def _canonical(rank: int) -> str:
    return layout_name("channels_first", rank)

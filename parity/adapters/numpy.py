"""numpy backend: the case computed in its own dtype (not the float64 reference).

Rank-1 forward outputs go through ``np.convolve``, which computes a true convolution: the kernel is
flipped (and dilated with zeros) by the conversion module first. Everything else (other ranks,
transposed conv, gradients) runs the reference's own pad/window/contract code on arrays of the case's
dtype, so ``np.matmul`` sums in that dtype (for bfloat16, ml_dtypes' matmul returns float32 sums,
which are rounded back).
"""
from __future__ import annotations

import numpy as np

from parity import convert
from parity.reference import compute
from parity.spec import ConvSpec


class NumpyAdapter:
    name = "numpy"

    def available(self) -> str | None:
        return None

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        if spec.rank == 1 and spec.op == "conv" and spec.quantity == "output":
            return _convolve_1d(spec, convert.pad_array(x, spec.pads), w).astype(x.dtype)
        value, _, _ = compute(spec, x, w, dy)
        return value.astype(x.dtype)


def _convolve_1d(spec: ConvSpec, xp: np.ndarray, w: np.ndarray) -> np.ndarray:
    # np.convolve flips its second argument, so hand it the flipped kernel to get cross-correlation.
    # It also swaps its arguments when the second is longer; the padded input never is shorter than the
    # dilated kernel (output size >= 1), so the order holds.
    taps = convert.flip(convert.dilate_spatial(w, spec.dilations))
    per_group_in, per_group_out = spec.in_channels // spec.groups, spec.out_channels // spec.groups
    out = np.zeros(spec.output_shape, dtype=xp.dtype)
    for n in range(spec.batch):
        for o in range(spec.out_channels):
            first = o // per_group_out * per_group_in
            for c in range(per_group_in):
                full = np.convolve(xp[n, first + c], taps[o, c], mode="valid")
                out[n, o] += full[:: spec.strides[0]].astype(out.dtype)
    return out


ADAPTER = NumpyAdapter()

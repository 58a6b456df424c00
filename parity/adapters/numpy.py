"""numpy backend: the case computed in its own dtype (not the float64 reference).

Rank 1 goes through ``np.convolve``, which computes a true convolution: the kernel is flipped (and
dilated with zeros) by the conversion module first. Other ranks gather windows like the reference and
contract them with ``np.matmul`` in the case's dtype (for bfloat16, ml_dtypes' matmul returns float32
sums, which are rounded back).
"""
from __future__ import annotations

import numpy as np

from parity import convert
from parity.reference import im2col, rows_to_output, windows
from parity.spec import ConvSpec


class NumpyAdapter:
    name = "numpy"

    def available(self) -> str | None:
        return None

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        xp = convert.pad_array(x, spec.pads)
        compute = _convolve_1d if spec.rank == 1 else _matmul
        return compute(spec, xp, w).astype(x.dtype)


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


def _matmul(spec: ConvSpec, xp: np.ndarray, w: np.ndarray) -> np.ndarray:
    rows = im2col(windows(xp, spec.kernel, spec.strides, spec.dilations), spec.groups)
    weights = w.reshape(spec.groups, spec.out_channels // spec.groups, -1)
    return rows_to_output(rows @ weights.transpose(0, 2, 1), spec.output_shape)


ADAPTER = NumpyAdapter()

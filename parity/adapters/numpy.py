"""numpy backend: the case computed in its own dtype (not the float64 reference).

Rank-1 forward outputs go through ``np.convolve``, which computes a true convolution: the kernel is
flipped (and dilated with zeros) by the conversion module first. Everything else (other ranks, transposed
conv, gradients) runs the reference's own pad/window/contract code with ``np.matmul`` in the case's dtype.
16-bit cases are computed in float32 and rounded once: float32 accumulation for 16-bit cases, the dtype
itself otherwise (the default declaration).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from parity.core import convert
from parity.reference.conv import compute
from parity.core.spec import ConvSpec

if TYPE_CHECKING:
    from parity.adapters.base import Snippet


class NumpyAdapter:
    name = "numpy"
    frameworks = ("numpy",)

    def available(self) -> str | None:
        return None

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def snippet(self, spec: ConvSpec) -> "Snippet":
        """The native call for ``spec``, for ``parity translate``."""
        return _snippet(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        # 16-bit operands are exact in float32: BLAS sums them there (numpy's own float16 matmul does too,
        # without BLAS and far slower), and the result is rounded once.
        wide = [a.astype(np.float32) if a.itemsize == 2 else a for a in (x, w, dy) if a is not None]
        if spec.rank == 1 and spec.op == "conv" and spec.quantity == "output":
            return _convolve_1d(spec, convert.pad_array(wide[0], spec.pads), wide[1]).astype(x.dtype)
        value, _, _ = compute(spec, *wide, scaled=False)
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


def _snippet(spec: ConvSpec) -> "Snippet":
    """Plain numpy for ``spec`` (``parity translate``): pad (transposed: dilate the input by the stride and
    flip the per-group kernel), gather windows with ``sliding_window_view``, contract per group with einsum."""
    from parity.adapters import _codegen as codegen
    from parity.adapters.base import Snippet

    rank, channels_first = spec.rank, convert.layout_name("channels_first", spec.rank)
    out, taps = "pqr"[:rank], "ijk"[:rank]
    half = spec.dtype == "bfloat16"  # numpy's einsum has no bfloat16: sum in float32, round back
    lines = [f"g = {spec.groups}"]
    lines += ["dtype, x, w = x.dtype, x.astype(np.float32), w.astype(np.float32)"] if half else []
    if spec.transposed:
        size = tuple((n - 1) * s + 1 for n, s in zip(spec.spatial, spec.strides))
        lines += [f"xd = np.zeros((*x.shape[:2], *{size}), x.dtype)",
                  f"xd[:, :, {', '.join(f'::{s}' for s in spec.strides)}] = x  # the stride puts zeros between inputs",
                  f"w = np.flip(w.reshape(g, -1, *w.shape[1:]).swapaxes(1, 2), axis={tuple(range(3, 3 + rank))})"
                  "  # (in, out/g) -> per group (out/g, in/g), flipped"]
        pads, source, strides = convert.transposed_pads(spec.kernel, spec.dilations, spec.pads,
                                                        spec.output_padding), "xd", (1,) * rank
    else:
        lines.append("w = w.reshape(g, -1, *w.shape[1:])  # (groups, out/g, in/g, *k)")
        pads, source, strides = spec.pads, "x", spec.strides
    steps = ", ".join([f"::{s}" for s in strides] + [f"::{d}" for d in spec.dilations])
    lines += [codegen.pad("xp", pads, channels_last=False, source=source),
              f"win = np.lib.stride_tricks.sliding_window_view(xp, {spec.dilated_kernel}, "
              f"axis={tuple(range(2, 2 + rank))})[:, :, {steps}]",
              "win = win.reshape(win.shape[0], g, -1, *win.shape[2:])  # (N, groups, in/g, *out, *k)",
              f'y = np.einsum("ngc{out}{taps},goc{taps}->ngo{out}", win, w, optimize=True)',
              f"y = y.reshape(y.shape[0], -1, *y.shape[3:]){'.astype(dtype)' if half else ''}"]
    kernel = convert.KernelLayout(("IO" if spec.transposed else "OI") + channels_first[2:], spec.transposed)
    return Snippet((), channels_first, kernel, tuple(lines))


ADAPTER = NumpyAdapter()

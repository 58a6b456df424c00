"""MLX backend (``mlx.core``) on its CPU device: ``mx.conv_general`` for forward convs and
``mx.conv_transpose1d/2d/3d`` for transposed ones; gradients by ``mx.vjp`` with the seeded cotangent.

MLX convolutions are channels-last only: data ``(N, *S, C)``, kernels ``(O, *k, I/groups)``. Channels-last
cases are handed over as they are; channels-first cases go in as ``(N, C, *S)`` arrays that MLX itself moves
to channels-last and back (``mx.moveaxis`` inside the differentiated function), as an MLX user holding NCHW
data must. Forward padding is ``conv_general``'s own (lo, hi) lists, groups its ``groups``, dilation its
``kernel_dilation``.

Transposed convs take MLX's kernel ``(C_out, *k, C_in/groups)`` unflipped (MLX flips it itself), which is
the canonical ``(C_in, C_out/groups, *k)`` with in/out swapped per group. The crop (lo, hi) goes as MLX's
``padding=lo`` with ``output_padding = lo - hi + output_padding`` where MLX computes that correctly; other
crops run the full transposed conv and crop (or extend) it with ``mx.pad`` and slicing. With stride > 1
MLX 0.32 gets two kinds wrong (tests/test_backend_mlx_tinygrad.py pins both): a padding beyond
``dilation * (kernel - 1)`` (``conv_transpose_general`` turns it into a negative input padding, which
``conv_general`` applies by slicing the *undilated* input: wrong output shape), and an output extended past
the full transposed output (output_padding beyond the crop at the end), whose input gradient from
``mx.vjp`` comes out short.
"""
from __future__ import annotations

from functools import cache, partial
from importlib import util
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

from parity.adapters.base import Refused, missing_module
from parity.core import convert, geometry
from parity.core.collector import paused
from parity.core.spec import ConvSpec

GROUPS_3D = "MLX (mx.conv_general, mx.conv3d): '[conv] Can only handle groups != 1 in 1D or 2D convolutions.'"
# mlx/backend/cpu/conv.cpp (0.32): the Convolution primitive's GEMM path copies float64 inputs and weights
# to float32 (``conv_dtype = float32``) for cblas_sgemm, so its float64 results are float32 convolutions of
# rounded inputs (measured: bit-identical to MLX's float32 results, 3e6 to 2e14 times the float64 bound); its
# direct path refuses float64 when it evaluates (a ``Refused``, in MLX's words). Weight gradients of
# undilated, ungrouped forward convs avoid the primitive (a float64 matmul of input patches) and are right.
FLOAT64 = ("MLX on CPU computes float64 convolutions in float32: mlx/backend/cpu/conv.cpp copies the operands to "
           "'conv_dtype = float32' for cblas_sgemm (results bit-identical to MLX's float32 ones; pinned in "
           "tests/test_backend_mlx_tinygrad.py)")


@cache
def _mx() -> ModuleType:
    with paused():
        import mlx.core as mx

    mx.set_default_device(mx.cpu)
    return mx


def backend_missing() -> str | None:
    """Why ``mlx.core`` cannot load here: on Linux the ``mlx`` wheel holds only the Python module, and
    ``libmlx.so`` comes from a backend wheel (``mlx-cpu``, pulled in by ``mlx[cpu]``)."""
    spec = util.find_spec("mlx")
    folders = (spec.submodule_search_locations or []) if spec else []
    if not any(list((Path(folder) / "lib").glob("libmlx.*")) for folder in folders):
        return "mlx is installed without a backend library (mlx/lib/libmlx.*) (pip install 'parity-conv[mlx]')"
    return None


class MlxAdapter:
    name = "mlx"
    frameworks = ("mlx",)

    def available(self) -> str | None:
        return missing_module("mlx", "mlx") or backend_missing()

    def supports(self, spec: ConvSpec) -> str | None:
        return GROUPS_3D if spec.rank == 3 and spec.groups > 1 else None

    def known(self, spec: ConvSpec) -> str | None:
        return FLOAT64 if spec.dtype == "float64" else None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        mx = _mx()
        dims = convert.dimensions_for(spec)
        data = _array(dims.data_from_canonical(x), spec.dtype)
        kernel = _array(to_mlx_kernel(spec, w), spec.dtype)
        conv = partial(_transposed if spec.transposed else _forward, spec)
        call = conv if dims.channels_last else partial(_channels_first, conv)
        if spec.quantity == "output":
            result = call(data, kernel)
        else:
            cotangent = _array(dims.data_from_canonical(dy), spec.dtype)
            if spec.quantity == "grad_input":
                result = mx.vjp(lambda a: call(a, kernel), [data], [cotangent])[1][0]
            else:
                result = mx.vjp(lambda b: call(data, b), [kernel], [cotangent])[1][0]
        try:  # argument errors raise while the graph is built; what MLX's kernels refuse raises here
            mx.eval(result)
        except ValueError as error:
            raise Refused(f"MLX on CPU: '{error}'") from None
        y = _numpy(result, x.dtype)
        if spec.quantity == "grad_weight":
            return np.ascontiguousarray(from_mlx_kernel(spec, y))
        return dims.output_to_canonical(y)


def to_mlx_kernel(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    """Canonical kernel -> MLX's ``(O, *k, I/groups)``; transposed: ``(C_out, *k, C_in/groups)`` unflipped."""
    if spec.transposed:  # transposed_kernel_to_forward swaps in/out per group and flips: undo the flip
        w = convert.flip(convert.transposed_kernel_to_forward(w, spec.groups))
    return np.moveaxis(w, 1, -1)


def from_mlx_kernel(spec: ConvSpec, g: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`to_mlx_kernel` (a permutation: its inverse) for weight gradients."""
    g = np.moveaxis(g, -1, 1)
    return convert.transposed_kernel_to_forward(convert.flip(g), spec.groups) if spec.transposed else g


def _channels_first(conv: Callable, data, kernel):
    mx = _mx()
    return mx.moveaxis(conv(mx.moveaxis(data, 1, -1), kernel), -1, 1)


def _forward(spec: ConvSpec, data, kernel):
    lows, highs = zip(*spec.pads)
    return _mx().conv_general(data, kernel, stride=list(spec.strides), padding=(list(lows), list(highs)),
                              kernel_dilation=list(spec.dilations), groups=spec.groups)


def native_transpose_args(spec: ConvSpec) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(padding, output_padding) for ``mx.conv_transpose*d`` when MLX computes this crop correctly, else None.

    MLX crops ``padding`` from both ends of the full output and extends the end by ``output_padding`` (any
    size, unlike PyTorch); with stride > 1 it errs for a padding beyond ``dilation * (kernel - 1)`` and, in
    input gradients, for an output extended past the full one (hi < output_padding): see the module docstring.
    """
    padding, extra = [], []
    for (lo, hi), e, span, s in zip(spec.pads, spec.output_padding, geometry.spans(spec.kernel, spec.dilations),
                                    spec.strides):
        if lo < 0 or lo - hi + e < 0 or (s > 1 and (lo > span - 1 or e > hi)):
            return None
        padding.append(lo)
        extra.append(lo - hi + e)
    return tuple(padding), tuple(extra)


def _transposed(spec: ConvSpec, data, kernel):
    mx = _mx()
    conv = getattr(mx, f"conv_transpose{spec.rank}d")
    args = native_transpose_args(spec)
    padding, extra = args or ((0,) * spec.rank, (0,) * spec.rank)
    y = conv(data, kernel, stride=_arg(spec.strides), padding=_arg(padding), dilation=_arg(spec.dilations),
             output_padding=_arg(extra), groups=spec.groups)
    if args is None:  # crop (or extend) the full output
        pads = convert.crop_full_transpose(spec.pads, spec.output_padding)
        y = mx.pad(y, convert.numpy_pad_arg(convert.growth(pads), channels_last=True))
        y = y[(slice(None), *convert.crop_slices(pads), slice(None))]
    return y


def _arg(values: tuple[int, ...]) -> int | tuple[int, ...]:
    """``conv_transpose1d`` takes ints, the 2-D and 3-D functions tuples."""
    return values[0] if len(values) == 1 else values


def _array(a: np.ndarray, dtype: str):
    return _mx().array(np.ascontiguousarray(a), dtype=getattr(_mx(), dtype))


def _numpy(a, dtype: np.dtype) -> np.ndarray:
    mx = _mx()
    # MLX's buffer protocol has no bfloat16: bfloat16 -> float32 -> bfloat16 is exact.
    return np.array(a.astype(mx.float32)).astype(dtype) if a.dtype == mx.bfloat16 else np.array(a)


ADAPTER = MlxAdapter()

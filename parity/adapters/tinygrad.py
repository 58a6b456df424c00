"""tinygrad backend: ``Tensor.conv2d`` and ``Tensor.conv_transpose2d`` on tinygrad's CPU device (both take any
number of spatial axes); gradients by tinygrad's autodiff, ``Tensor.gradient`` with the seeded cotangent
(what ``Tensor.backward(gradient)`` runs, for the one tensor asked for).

tinygrad's convolutions are channels-first with PyTorch's kernels (``(O, I/groups, *k)``; transposed
``(C_in, C_out/groups, *k)``), parity's canonical forms. Channels-last cases go in as ``(N, *S, C)`` tensors
that tinygrad permutes to channels-first and back inside the differentiated graph, as a tinygrad user
holding NHWC data must. Padding is tinygrad's explicit form, (lo, hi) per axis starting from the last axis
like ``F.pad`` (``convert.torch_pad_arg``): input padding for ``conv2d``, the crop of the full output for
``conv_transpose2d``, whose ``output_padding`` extends the end. Every case's padding is expressible.

tinygrad builds a lazy graph and compiles one C kernel per fused op and shape with clang (the CPU device
compiles its own worker programs with clang whatever the renderer, so without clang it has no CPU device);
compiled kernels are cached on disk and schedules in memory, so the first call per geometry pays the
compilation and later calls (other distributions, the canary probes' same shapes) reuse it.
"""
from __future__ import annotations

import os
import shutil
from functools import cache
from types import ModuleType

import numpy as np

from parity.adapters.base import PROBE, missing_module
from parity.core import convert
from parity.core.collector import paused
from parity.core.spec import ConvSpec

DEVICE = "CPU"


@cache
def _tinygrad() -> ModuleType:
    with paused():
        import tinygrad

    return tinygrad


def compiler_name() -> str:
    """The C compiler tinygrad's CPU device runs: ``$CC``, default clang."""
    return os.environ.get("CC", "clang")


def compiler_missing() -> str | None:
    """Why tinygrad's CPU device cannot start here: it runs ``$CC`` (default clang) for every kernel."""
    compiler = compiler_name()
    if shutil.which(compiler) is None:
        return (f"tinygrad's CPU device compiles its kernels with {compiler}, which is not on PATH "
                "(apt-get install clang)")
    return None


# The generated C of tinygrad 0.14's CPU device rounds every bfloat16 result, products included, before the
# float32 sum (measured: 2.2 to 175 times the bound of float32 sums on 29 default-tier cases).
BFLOAT16_PRODUCTS = ("tinygrad rounds bfloat16 products to bfloat16 before its float32 sum (Tensor.conv2d multiplies "
                     "in the inputs' dtype; the CPU device's bfloat16 emulation rounds each result; pinned in "
                     "tests/test_backend_mlx_tinygrad.py)")


class TinygradAdapter:
    name = "tinygrad"
    frameworks = ("tinygrad",)

    def settings(self) -> dict[str, object]:
        return {"device": DEVICE, "cc": compiler_name()}
    opt_in = ("tinygrad compiles every new geometry (0.2 to 2.5 s of CPU each, mostly its Python kernel rewrites): "
              "the default tier takes 20 to 30 minutes on 2 cores")

    def available(self) -> str | None:
        return missing_module("tinygrad", "tinygrad") or compiler_missing()

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def known(self, spec: ConvSpec) -> str | None:
        return BFLOAT16_PRODUCTS if spec.dtype == "bfloat16" else None

    def accumulation(self, spec: ConvSpec) -> str:
        # tinygrad sums 16-bit products in float32 (``sum_acc_dtype``) after multiplying in the 16-bit type;
        # whether the product is rounded to it first is up to the C compiler (excess precision), so the
        # runner measures it per case geometry.
        return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        dims = convert.dimensions_for(spec)
        canonical = convert.layout_name("channels_first", spec.rank)
        data = _tensor(dims.data_from_canonical(x), spec.dtype)
        kernel = _tensor(w, spec.dtype)
        nchw = data.permute(*convert.letter_permutation(dims.data, canonical))  # in the graph, as a user would
        y = _transposed(spec, nchw, kernel) if spec.transposed else _forward(spec, nchw, kernel)
        if spec.quantity == "output":
            result = y.permute(*convert.letter_permutation(canonical, dims.output))
        else:
            target = data if spec.quantity == "grad_input" else kernel
            (result,) = y.gradient(target, gradient=_tensor(dy, spec.dtype))
        return dims.result_to_canonical(_numpy(result, x.dtype), spec.quantity)


def _forward(spec: ConvSpec, data, kernel):
    return data.conv2d(kernel, groups=spec.groups, stride=spec.strides, dilation=spec.dilations,
                       padding=convert.torch_pad_arg(spec.pads))


def _transposed(spec: ConvSpec, data, kernel):
    return data.conv_transpose2d(kernel, groups=spec.groups, stride=spec.strides, dilation=spec.dilations,
                                 padding=convert.torch_pad_arg(spec.pads), output_padding=spec.output_padding)


def _tensor(a: np.ndarray, dtype: str):
    tinygrad = _tinygrad()
    # tinygrad takes no numpy bfloat16: bfloat16 -> float32 -> bfloat16 is exact.
    source = a.astype(np.float32) if dtype == "bfloat16" else np.ascontiguousarray(a)
    return tinygrad.Tensor(source, device=DEVICE).cast(getattr(tinygrad.dtypes, dtype))


def _numpy(t, dtype: np.dtype) -> np.ndarray:
    # Tensor.numpy() returns bfloat16 as float32 (exact); cast back to the case's dtype.
    return t.numpy().astype(dtype, copy=False)


ADAPTER = TinygradAdapter()

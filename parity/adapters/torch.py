"""PyTorch backend: ``F.conv1d/2d/3d`` and ``F.conv_transpose1d/2d/3d`` with groups (depthwise is groups =
in_channels); gradients by autograd (``torch.autograd.grad`` with the seeded cotangent).

Padding: symmetric padding goes to ``padding=`` as ints; SAME with stride 1 uses ``padding='same'``
natively (PyTorch puts an odd extra element at the end, like TF); every other asymmetric padding (TF SAME
with stride > 1, SAME_LOWER, CAUSAL, explicit) is an ``F.pad`` followed by a valid conv, because PyTorch
rejects ``padding='same'`` for strided convolutions. Transposed convs use PyTorch's own
(padding, output_padding) when they can express the crop, else the full output cropped by ``F.pad`` with
negative pads. The channels-last layout variant hands the conv a tensor with channels-last strides
(``torch.channels_last`` memory format for 2-D and 3-D).
"""
from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from functools import cache, lru_cache
from types import ModuleType

from typing import TYPE_CHECKING

import numpy as np

from parity.core import convert
from parity.adapters import _device as device
from parity.adapters._call import Name, Step, execute, render, step
from parity.adapters.base import PROBE, missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec

if TYPE_CHECKING:
    import torch

    from parity.adapters.base import Snippet


@cache
def _torch() -> ModuleType:
    with paused():
        import torch

    return torch


class TorchAdapter:
    """PyTorch on ``device`` ("cpu", or "cuda" for the GPU backends). On CUDA, ``tf32`` sets cuDNN's and
    cuBLAS's TF32 switches (None: the framework's defaults) and ``deterministic`` asks cuDNN for
    deterministic algorithms, and gradients are then run twice and must be bit-identical."""

    def __init__(self, name: str = "torch", device: str = "cpu", tf32: bool | None = None,
                 deterministic: bool = False) -> None:
        self.name, self.device, self.tf32, self.deterministic = name, device, tf32, deterministic

    frameworks = ("torch",)

    def settings(self) -> dict[str, object]:
        return {"device": self.device, "tf32": "framework default" if self.tf32 is None else self.tf32,
                "deterministic": self.deterministic}

    def available(self) -> str | None:
        return missing_module("torch", "torch") or (device.cuda_missing("torch") if self.device == "cuda" else None)

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def accumulation(self, spec: ConvSpec) -> str:
        # Measured with torch 2.13 CPU on an AVX-512 EPYC: float16 forward conv and every bfloat16 path sum
        # in float32 (canary results correctly rounded), but float16 conv grad_input and conv_transpose
        # outputs come out 2 ULP off, within float16-accumulation bounds (the col2im scatter adds in
        # float16). Which kernels PyTorch picks depends on the CPU (oneDNN f16 needs AVX-512-FP16/AMX), so
        # the runner probes it per case geometry.
        return PROBE

    def snippet(self, spec: ConvSpec) -> "Snippet":
        """The native call for ``spec``, for ``parity translate``."""
        return _snippet(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        if self.device == "cpu":
            return self._run(spec, x, w, dy)
        with device.cuda_switches(_torch(), self.tf32, self.deterministic):
            if spec.quantity == "output" or not self.deterministic:
                return self._run(spec, x, w, dy)
            return device.require_identical(lambda: self._run(spec, x, w, dy))

    def _run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None) -> np.ndarray:
        torch = _torch()
        dtype = getattr(torch, spec.dtype)
        xt = self._tensor(convert.to_channels_last(x), dtype).movedim(-1, 1) if spec.layout == "channels_last" \
            else self._tensor(x, dtype)
        wt = self._tensor(w, dtype)
        target = {"grad_input": xt, "grad_weight": wt}.get(spec.quantity)
        if target is not None:
            target.requires_grad_()
        with warnings.catch_warnings(), self._context():
            # "padding='same' with even kernel lengths ... may require a zero-padded copy": a perf note.
            warnings.filterwarnings("ignore", message="Using padding='same'")
            y = self._convolve(spec, xt, wt)
            if target is None:
                return _numpy(y.detach(), x.dtype)
            (grad,) = torch.autograd.grad(y, target, grad_outputs=self._tensor(dy, dtype))
        return _numpy(grad, x.dtype)

    def _tensor(self, a: np.ndarray, dtype) -> "torch.Tensor":
        return _tensor(a, dtype).to(self.device)

    def _convolve(self, spec: ConvSpec, xt, wt):
        """The framework call (what ``torch_compile`` compiles)."""
        return execute(steps(spec), {"F": _torch().nn.functional, "xt": xt, "wt": wt})

    def _context(self) -> AbstractContextManager:
        return nullcontext()


@lru_cache(maxsize=1024)
def steps(spec: ConvSpec) -> tuple[Step, ...]:
    """``F.conv*d`` / ``F.conv_transpose*d`` on ``xt`` and ``wt`` giving ``yt``: what ``run`` executes and
    ``parity translate`` prints. F.pad where ``padding=`` cannot say the case's pads; a transposed crop that
    ``padding``/``output_padding`` cannot say is cut from the full output by F.pad."""
    rank, xt, wt = spec.rank, Name("xt"), Name("wt")
    common = {"stride": spec.strides, "dilation": spec.dilations, "groups": spec.groups}
    if spec.transposed:
        native = convert.torch_transpose_args(spec.pads, spec.output_padding, spec.strides, spec.dilations)
        padding, output_padding = native or ((0,) * rank, (0,) * rank)
        call = step("yt", f"F.conv_transpose{rank}d", xt, wt, padding=padding, output_padding=output_padding,
                    **common)
        crop = convert.torch_pad_arg(convert.crop_full_transpose(spec.pads, spec.output_padding))
        return (call,) if native else (call, step("yt", "F.pad", Name("yt"), crop))
    padding = native_padding(spec)
    if padding is not None:
        return (step("yt", f"F.conv{rank}d", xt, wt, padding=padding, **common),)
    return (step("xt", "F.pad", xt, convert.torch_pad_arg(spec.pads)),
            step("yt", f"F.conv{rank}d", xt, wt, padding=0, **common))


def native_padding(spec: ConvSpec) -> str | tuple[int, ...] | None:
    """What ``F.conv*d(padding=...)`` can take for this spec, or None when an ``F.pad`` is needed."""
    if spec.padding in ("SAME", "VALID") and all(s == 1 for s in spec.strides):
        return spec.padding.lower()
    return convert.symmetric_pads(spec.pads)


def _tensor(a: np.ndarray, dtype) -> "torch.Tensor":
    # torch.from_numpy has no bfloat16; bfloat16 -> float32 -> bfloat16 is exact.
    source = a.astype(np.float32) if a.dtype.name == "bfloat16" else np.ascontiguousarray(a)
    return _torch().from_numpy(source).to(dtype)


def _numpy(y: "torch.Tensor", dtype: np.dtype) -> np.ndarray:
    y = y.cpu()
    if dtype.name == "bfloat16":
        return y.float().contiguous().numpy().astype(dtype)
    return y.contiguous().numpy()


def _snippet(spec: ConvSpec) -> "Snippet":
    """``F.conv*d`` / ``F.conv_transpose*d`` for ``spec`` (``parity translate``), padded the way ``run`` pads."""
    from parity.adapters.base import Snippet

    rank, half = spec.rank, spec.dtype == "bfloat16"  # torch.from_numpy has no bfloat16: through float32
    tensor = "torch.from_numpy(np.ascontiguousarray({}, np.float32)).to(torch.bfloat16)" if half \
        else "torch.from_numpy(np.ascontiguousarray({}))"
    called, note = steps(spec), ""
    padded = any(step.function == "F.pad" for step in called)  # what padding= / output_padding= cannot say
    if padded and spec.transposed:
        note = ("padding/output_padding cannot express this crop (PyTorch needs symmetric padding and output_padding "
                "< max(stride, dilation)): the full output is cut or extended by F.pad")
    elif padded:
        mode = spec.padding if isinstance(spec.padding, str) else "the padding"
        note = (f"{mode} pads {', '.join(map(str, spec.pads))} (lo, hi per axis) here: PyTorch's padding= is "
                "symmetric and refuses 'same' with strides > 1, hence F.pad")
    lines = (f"xt = {tensor.format('x')}", f"wt = {tensor.format('w')}", *render(called),
             f"y = yt.{'float().numpy().astype(x.dtype)' if half else 'numpy()'}")
    letters = convert.layout_name("channels_first", rank)
    kernel = convert.KernelLayout(("IO" if spec.transposed else "OI") + letters[2:], spec.transposed)
    return Snippet(("import torch", "import torch.nn.functional as F"), letters, kernel, lines, note)


ADAPTER = TorchAdapter()

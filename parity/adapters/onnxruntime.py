"""ONNX Runtime backend: the case's one-node ONNX model (``Conv`` or ``ConvTranspose``, opset 22; built by
:mod:`parity.adapters._onnx`) run by ``onnxruntime`` on the CPU execution provider. Inference only: no
gradients. The weights are the model's initializer (as deployed), so each case gets its own session.

Two backends run it at the two ends of ONNX Runtime's ``GraphOptimizationLevel``: ``onnxruntime`` at
``ORT_ENABLE_ALL`` (what a plain ``InferenceSession`` uses: its ``SessionOptions`` default, set explicitly
here), which on the CPU EP also applies the layout optimizations (float32 ``Conv`` rewritten to the blocked
NCHWc kernels of MLAS, the Transposes of channels-last models folded), and ``onnxruntime_noopt``
(:mod:`parity.adapters.onnxruntime_noopt`) at ``ORT_DISABLE_ALL``, which runs the nodes as written.
"""
from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np

from parity.adapters import _onnx
from parity.adapters._onnx import OPSET
from parity.adapters.base import PROBE, missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec

# What ORT's CPU execution provider refuses (onnxruntime 1.31, measured at session creation).
NO_KERNEL = "ONNX Runtime CPU EP: 'Could not find an implementation for {op}({opset}) node' for {dtype}"
OUTPUT_PADDING = ("ONNX Runtime ConvTranspose: output_padding must stay below the stride: 'must be less than "
                  "max(stride, dilation)', and where dilation > stride 'Computed output shape is inconsistent with "
                  "input spatial dimensions'")
NO_GRADIENTS = "onnxruntime: inference only, no gradients"
_REFUSED_DTYPES = ("float64", "bfloat16")


@cache
def _ort() -> ModuleType:
    with paused():
        import onnxruntime

    return onnxruntime


class OnnxRuntimeAdapter:
    """ONNX Runtime's CPU EP at graph optimization ``level`` (a ``GraphOptimizationLevel`` member name)."""

    def __init__(self, name: str = "onnxruntime", level: str = "ORT_ENABLE_ALL") -> None:
        self.name, self.level = name, level

    frameworks = ("onnxruntime", "onnx")

    def settings(self) -> dict[str, object]:
        return {"graph_optimization": self.level, "execution_provider": "CPUExecutionProvider"}

    def available(self) -> str | None:
        return missing_module("onnxruntime", "onnxruntime") or missing_module("onnx", "onnxruntime")

    def supports(self, spec: ConvSpec) -> str | None:
        if spec.quantity != "output":
            return NO_GRADIENTS
        if spec.dtype in _REFUSED_DTYPES:
            return NO_KERNEL.format(op=_onnx.op(spec), opset=OPSET, dtype=spec.dtype)
        if _onnx.output_padding_beyond_stride(spec):
            return OUTPUT_PADDING
        return None

    def accumulation(self, spec: ConvSpec) -> str:
        # ORT's CPU Conv for float16 is MLAS's, whose kernels are picked per CPU (native float16 arithmetic
        # where the CPU has it): measured per case geometry rather than assumed. Here (no AVX-512 FP16) ORT
        # wraps the node in Casts to float32 at every optimization level, and the probes find float32 sums,
        # correctly rounded.
        return PROBE if spec.dtype == "float16" else spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        ort = _ort()
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, self.level)
        session = ort.InferenceSession(_onnx.model(spec, w).SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        (y,) = session.run(None, _onnx.feeds(spec, x))
        return _onnx.canonical(spec, y)


ADAPTER = OnnxRuntimeAdapter()

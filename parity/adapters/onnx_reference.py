"""ONNX's reference implementation: ``onnx.reference.ReferenceEvaluator`` on the case's one-node model (the
model the ``onnxruntime`` backends run, built by :mod:`parity.adapters._onnx`). The evaluator runs each
operator's Python definition (``onnx/reference/ops/op_conv.py``: im2col and one ``numpy.matmul`` per group;
``op_conv_transpose.py``: a GEMM and ``col2im``) in the model's dtype; it has every dtype ONNX defines for the
two operators, and no gradients.
"""
from __future__ import annotations

from functools import cache
from importlib import metadata
from types import ModuleType

import numpy as np

from parity.adapters import _onnx
from parity.adapters.base import PROBE, missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec

OUTPUT_PADDING = ("onnx.reference ConvTranspose: output_padding must stay below the stride (col2im: 'expected size "
                  "of input's dimension 2 to match the calculated number of sliding blocks')")
NO_GRADIENTS = ("onnx.reference.ReferenceEvaluator: outputs only, no gradients (a Gradient node: 'No registered "
                "implementation for operator 'Gradient' and domain 'ai.onnx.preview.training'')")


@cache
def _reference() -> ModuleType:
    with paused():
        import onnx.reference

    return onnx.reference


class OnnxReferenceAdapter:
    name = "onnx_reference"
    frameworks = ("onnx",)

    def available(self) -> str | None:
        return missing_module("onnx", "onnx")

    def supports(self, spec: ConvSpec) -> str | None:
        if spec.quantity != "output":
            return NO_GRADIENTS
        return OUTPUT_PADDING if _onnx.output_padding_beyond_stride(spec) else None

    def accumulation(self, spec: ConvSpec) -> str:
        # 16-bit products are summed by numpy's matmul (and, for ConvTranspose, added up by col2im) in whatever
        # type numpy and ml_dtypes use for that dtype: measured, not assumed.
        return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype

    def known(self, spec: ConvSpec) -> str | None:
        if not (spec.transposed and spec.groups > 1):
            return None
        return (f"onnx {metadata.version('onnx')}'s reference ConvTranspose slices a grouped kernel wrongly and raises "
                "(e.g. 'cannot reshape array of size 36 into shape (1,2,12)'); onnx PR #8446 fixes part of it")

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        evaluator = _reference().ReferenceEvaluator(_onnx.model(spec, w))
        (y,) = evaluator.run(None, _onnx.feeds(spec, x))
        return _onnx.canonical(spec, y)


ADAPTER = OnnxReferenceAdapter()

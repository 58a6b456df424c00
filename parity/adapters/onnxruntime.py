"""ONNX Runtime backend: a one-node ONNX model (``Conv`` or ``ConvTranspose``, opset 22) built in memory per
case and run by ``onnxruntime`` on the CPU execution provider. Inference only: no gradients.

ONNX's operators are channels-first with ``(O, I/group, *k)`` kernels (``ConvTranspose``: ``(I, O/group,
*k)``, parity's canonical forms), so channels-first cases feed the arrays as they are. Channels-last
cases run the model a converter (tf2onnx) emits for NHWC data: ``Transpose`` to channels-first, the conv,
``Transpose`` back. Padding goes as
``auto_pad`` VALID / SAME_UPPER / SAME_LOWER where that means exactly the case's padding, else as
explicit ``pads`` (``convert.onnx_conv_padding``, ``convert.onnx_transpose_padding``); ``group``,
``dilations``, ``strides`` and ``output_padding`` are ONNX's own attributes. Sessions are cached per
geometry (everything but the data: inputs and weights are graph inputs).
"""
from __future__ import annotations

from functools import cache, lru_cache
from types import ModuleType

import numpy as np

from parity.core import convert
from parity.adapters.base import PROBE, missing_module
from parity.core.spec import ConvSpec

OPSET = 22  # Conv-22 / ConvTranspose-22, the newest versions of both operators
# What ORT's CPU execution provider refuses (onnxruntime 1.31, measured at session creation).
NO_KERNEL = "ONNX Runtime CPU EP: 'Could not find an implementation for {op}({opset}) node' for {dtype}"
OUTPUT_PADDING = ("ONNX Runtime ConvTranspose: output_padding must stay below the stride: 'must be less than "
                  "max(stride, dilation)', and where dilation > stride 'Computed output shape is inconsistent with "
                  "input spatial dimensions'")
NO_GRADIENTS = "onnxruntime: inference only, no gradients"
_REFUSED_DTYPES = ("float64", "bfloat16")


@cache
def _ort() -> ModuleType:
    import onnxruntime

    return onnxruntime


@cache
def _onnx() -> ModuleType:
    import onnx

    return onnx


class OnnxRuntimeAdapter:
    name = "onnxruntime"

    def available(self) -> str | None:
        return missing_module("onnxruntime", "onnxruntime") or missing_module("onnx", "onnxruntime")

    def supports(self, spec: ConvSpec) -> str | None:
        if spec.quantity != "output":
            return NO_GRADIENTS
        if spec.dtype in _REFUSED_DTYPES:
            return NO_KERNEL.format(op=_op(spec), opset=OPSET, dtype=spec.dtype)
        grow = attributes(spec).get("output_padding", ())
        if any(e >= s for e, s in zip(grow, spec.strides)):  # PyTorch allows e < max(stride, dilation)
            return OUTPUT_PADDING
        return None

    def accumulation(self, spec: ConvSpec) -> str:
        # ORT's CPU Conv for float16 is MLAS's, whose kernels are picked per CPU (native float16 arithmetic
        # where the CPU has it): measured per case geometry rather than assumed. Here (no AVX-512 FP16) the
        # probes find float32 sums, correctly rounded.
        return PROBE if spec.dtype == "float16" else spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        channels_last = spec.layout == "channels_last"
        data = convert.to_channels_last(x) if channels_last else x
        (y,) = _session(_geometry(spec)).run(None, {"X": np.ascontiguousarray(data), "W": w})
        return np.ascontiguousarray(convert.to_channels_first(y) if channels_last else y)


def _op(spec: ConvSpec) -> str:
    return "ConvTranspose" if spec.transposed else "Conv"


def _geometry(spec: ConvSpec) -> ConvSpec:
    """The spec without what only changes the data, so that equal geometries share a session."""
    return ConvSpec(**{**spec.as_dict(), "distribution": "normal", "seed": 0})


def attributes(spec: ConvSpec) -> dict[str, object]:
    """The ``Conv`` / ``ConvTranspose`` node's attributes for ``spec``."""
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        padding = convert.onnx_transpose_padding(spec.pads, spec.output_padding, *geometry)
    elif max(spec.dilations) > 1:  # ORT's Conv refuses auto_pad SAME_* with dilations > 1 (ONNX allows it):
        # 'Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER.'
        padding = {"pads": convert.onnx_pads(spec.pads)}
    else:
        padding = convert.onnx_conv_padding(spec.pads, *geometry)
    return {"kernel_shape": list(spec.kernel), "strides": list(spec.strides), "dilations": list(spec.dilations),
            "group": spec.groups, **padding}


@lru_cache(maxsize=256)
def _session(spec: ConvSpec):
    onnx, ort = _onnx(), _ort()
    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
    channels_last = spec.layout == "channels_last"
    data_shape = (spec.batch, *spec.spatial, spec.in_channels) if channels_last else spec.input_shape
    out_shape = (spec.batch, *spec.output_spatial, spec.out_channels) if channels_last else spec.output_shape
    nodes = [helper.make_node(_op(spec), ["Xc" if channels_last else "X", "W"], ["Yc" if channels_last else "Y"],
                              **attributes(spec))]
    if channels_last:
        first, last = (convert.layout_name(family, spec.rank) for family in ("channels_first", "channels_last"))
        nodes.insert(0, helper.make_node("Transpose", ["X"], ["Xc"], perm=convert.letter_permutation(last, first)))
        nodes.append(helper.make_node("Transpose", ["Yc"], ["Y"], perm=convert.letter_permutation(first, last)))
    graph = helper.make_graph(nodes, "parity", [helper.make_tensor_value_info("X", element, data_shape),
                                                helper.make_tensor_value_info("W", element, spec.kernel_shape)],
                              [helper.make_tensor_value_info("Y", element, out_shape)])
    opset = helper.make_opsetid("", OPSET)
    model = helper.make_model(graph, opset_imports=[opset], ir_version=helper.find_min_ir_version_for([opset]))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


ADAPTER = OnnxRuntimeAdapter()

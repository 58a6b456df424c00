"""The one-node ONNX model of a case (``Conv`` or ``ConvTranspose``, opset 22), shared by the backends that run
it: ``onnxruntime`` and ``onnxruntime_noopt`` (ONNX Runtime's CPU execution provider with and without graph
optimizations) and ``onnx_reference`` (``onnx.reference.ReferenceEvaluator``, ONNX's own Python semantics).

ONNX's operators are channels-first with ``(O, I/group, *k)`` kernels (``ConvTranspose``: ``(I, O/group,
*k)``, parity's canonical forms), so channels-first cases feed the arrays as they are. Channels-last cases
run the model a converter (tf2onnx) emits for NHWC data: ``Transpose`` to channels-first, the conv,
``Transpose`` back. Padding goes as ``auto_pad`` VALID / SAME_UPPER / SAME_LOWER where that means exactly the
case's padding, else as explicit ``pads`` (``convert.onnx_conv_padding``, ``convert.onnx_transpose_padding``);
``group``, ``dilations``, ``strides`` and ``output_padding`` are ONNX's own attributes. The data is the graph
input ``X``; the weights are an initializer, as in a deployed model (ONNX Runtime's layout optimizations
rewrite a ``Conv`` only when its weights are constant).
"""
from __future__ import annotations

from functools import cache
from types import ModuleType

import numpy as np

from parity.core import convert
from parity.core.collector import paused
from parity.core.spec import ConvSpec

OPSET = 22  # Conv-22 / ConvTranspose-22, the newest versions of both operators


@cache
def onnx() -> ModuleType:
    with paused():
        import onnx

    return onnx


def op(spec: ConvSpec) -> str:
    """The ONNX operator of ``spec``."""
    return "ConvTranspose" if spec.transposed else "Conv"


def geometry(spec: ConvSpec) -> ConvSpec:
    """The spec without what only changes the data: a key for caching what one geometry compiles."""
    return ConvSpec(**{**spec.as_dict(), "distribution": "normal", "seed": 0})


def attributes(spec: ConvSpec) -> dict[str, object]:
    """The ``Conv`` / ``ConvTranspose`` node's attributes for ``spec``."""
    axes = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        padding = convert.onnx_transpose_padding(spec.pads, spec.output_padding, *axes)
    elif max(spec.dilations) > 1:  # ORT's Conv refuses auto_pad SAME_* with dilations > 1 (ONNX allows it):
        # 'Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER.'
        padding = {"pads": convert.onnx_pads(spec.pads)}
    else:
        padding = convert.onnx_conv_padding(spec.pads, *axes)
    return {"kernel_shape": list(spec.kernel), "strides": list(spec.strides), "dilations": list(spec.dilations),
            "group": spec.groups, **padding}


def output_padding_beyond_stride(spec: ConvSpec) -> bool:
    """Whether the model's ConvTranspose needs an output_padding at or beyond its stride, which ONNX
    Runtime refuses and the reference evaluator fails on (PyTorch allows up to max(stride, dilation) - 1)."""
    grow = attributes(spec).get("output_padding", ())
    return any(e >= s for e, s in zip(grow, spec.strides))


def model(spec: ConvSpec, w: np.ndarray):
    """The ``onnx.ModelProto`` computing ``spec``'s output from the graph input ``X`` (in the case's layout)
    with the canonical kernel ``w`` as the initializer ``W``."""
    helper = onnx().helper
    element = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
    channels_last = spec.layout == "channels_last"
    data_shape = (spec.batch, *spec.spatial, spec.in_channels) if channels_last else spec.input_shape
    out_shape = (spec.batch, *spec.output_spatial, spec.out_channels) if channels_last else spec.output_shape
    nodes = [helper.make_node(op(spec), ["Xc" if channels_last else "X", "W"], ["Yc" if channels_last else "Y"],
                              **attributes(spec))]
    if channels_last:
        first, last = (convert.layout_name(family, spec.rank) for family in ("channels_first", "channels_last"))
        nodes.insert(0, helper.make_node("Transpose", ["X"], ["Xc"], perm=convert.letter_permutation(last, first)))
        nodes.append(helper.make_node("Transpose", ["Yc"], ["Y"], perm=convert.letter_permutation(first, last)))
    graph = helper.make_graph(nodes, "parity", [helper.make_tensor_value_info("X", element, data_shape)],
                              [helper.make_tensor_value_info("Y", element, out_shape)],
                              [onnx().numpy_helper.from_array(np.ascontiguousarray(w), "W")])
    opset = helper.make_opsetid("", OPSET)
    return helper.make_model(graph, opset_imports=[opset], ir_version=helper.find_min_ir_version_for([opset]))


def feeds(spec: ConvSpec, x: np.ndarray) -> dict[str, np.ndarray]:
    """The model's input for canonical ``x``."""
    return {"X": np.ascontiguousarray(convert.dimensions_for(spec).data_from_canonical(x))}


def canonical(spec: ConvSpec, y: np.ndarray) -> np.ndarray:
    """The model's output ``Y`` in canonical (channels-first) layout."""
    return convert.dimensions_for(spec).output_to_canonical(y)

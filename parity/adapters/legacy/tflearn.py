"""tflearn 0.5.0 backend, out of process: the convolution layers of ``tflearn.layers.conv`` (TensorFlow 1.15) run
by ``parity/adapters/legacy/workers/tf1_worker.py`` under the ``tf1`` environment, sharing the tf1 backend's worker.

Layers: ``conv_1d``, ``conv_2d``, ``conv_3d``; ``conv_2d_transpose``, ``conv_3d_transpose`` (``output_shape``
and 'same'/'valid'); ``atrous_conv_2d`` for dilated 2-D cases (one ``rate``, stride 1); ``grouped_conv_2d``
for depthwise 2-D cases (``channel_multiplier``). They take channels-last data and own their kernels, passed
as ``weights_init`` (no bias, linear activation): ``[k..., in, out]``, transposed ``[k..., out, in]``,
``conv_1d``'s ``(width, 1, in, out)`` (it runs ``tf.nn.conv2d`` on (N, W, 1, C) data), ``grouped_conv_2d``'s
``[kh, kw, in, multiplier]`` (:func:`kernel_translation`, from ``convert.dimensions_for``). Gradients by ``tf.gradients`` with respect to the data and the layer's ``W``.
What the layers have no argument for is declared here in tflearn's terms; what TensorFlow refuses when the
layer runs is a skip in TensorFlow's words (see the tf1 backend).
"""
from __future__ import annotations

from functools import partial

from typing import Callable

import numpy as np

from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.base import first_refusal
from parity.adapters.tensorflow import transpose_call
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import call_in_env, translated_shape

CHANNELS_LAST = ("tflearn layers take channels-last data only ('Input: 4-D Tensor [batch, height, width, "
                 "in_channels]', conv_2d's docs; NWC for conv_1d, NDHWC for conv_3d)")
FLOAT32 = ("tflearn layers create their weights as float32 (tflearn.variables.variable, dtype=tf.float32), so a "
           "{dtype} kernel fails: 'Initializer type '<dtype: '{dtype}'>' and explicit dtype '<dtype: 'float32'>' "
           "don't match.'")
PADDING = ("tflearn layers take padding 'same' or 'valid' only ('Accepted values: 'same', 'valid'.'), as TensorFlow "
           "computes them (transposed: from output_shape)")
TRANSPOSED_1D = "tflearn has no 1-D transposed conv layer (tflearn.layers.conv: conv_2d_transpose, conv_3d_transpose)"
TRANSPOSED_ARGS = "tflearn conv_2d_transpose and conv_3d_transpose have no dilation and no groups"
GROUPS = ("tflearn's only grouped layer is grouped_conv_2d: depthwise (groups = input channels), 2-D, no dilation; "
          "conv_1d/2d/3d have no groups")
DILATION = ("tflearn's only dilated layer is atrous_conv_2d: 2-D, one rate for both axes, no strides, no groups; "
            "conv_1d/2d/3d have no dilation")
Layer = tuple[str, dict]


class TflearnAdapter:
    name = "tflearn"

    def available(self) -> str | None:
        return envs.missing("tf1")

    def supports(self, spec: ConvSpec) -> str | None:
        chosen = layer(spec)
        checks = ((spec.layout == "channels_first", CHANNELS_LAST),
                  (spec.dtype != "float32", FLOAT32.format(dtype=spec.dtype)), (isinstance(chosen, str), chosen))
        return first_refusal(checks)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        op, kwargs = layer(spec)
        dims = convert.dimensions_for(spec, kernel="depthwise" if op == "grouped_conv_2d" else "spatial_first")
        to_kernel, from_kernel = kernel_translation(op, dims, spec.groups)
        arrays = {"x": dims.data_from_canonical(x), "w": to_kernel(w)}
        if dy is not None:
            arrays["dy"] = dims.data_from_canonical(dy)
        to_result, from_result = ((to_kernel, from_kernel) if spec.quantity == "grad_weight"
                                  else (dims.data_from_canonical, dims.output_to_canonical))
        call = {"framework": "tflearn", "op": op, "kwargs": kwargs, "quantity": spec.quantity}
        shape = translated_shape(to_result, spec.result_shape)
        return np.ascontiguousarray(from_result(call_in_env("tf1", "tf1_worker.py", call, arrays, shape, spec.dtype)))


def layer(spec: ConvSpec) -> Layer | str:
    """(the tflearn layer, its arguments) that computes ``spec``, or why none does."""
    if spec.transposed:
        return _transposed_layer(spec)
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=True)
    if not isinstance(padding, str):
        return PADDING
    size, strides = _ints(spec.kernel), _ints(spec.strides)
    if spec.groups > 1:
        if not (spec.is_depthwise and spec.rank == 2 and max(spec.dilations) == 1):
            return GROUPS
        return "grouped_conv_2d", {"channel_multiplier": spec.out_channels // spec.in_channels, "filter_size": size,
                                   "strides": strides, "padding": padding.lower()}
    if max(spec.dilations) > 1:
        if spec.rank != 2 or max(spec.strides) > 1 or len(set(spec.dilations)) > 1:
            return DILATION
        return "atrous_conv_2d", {"nb_filter": spec.out_channels, "filter_size": size, "rate": spec.dilations[0],
                                  "padding": padding.lower()}
    return f"conv_{spec.rank}d", {"nb_filter": spec.out_channels, "filter_size": size, "strides": strides,
                                  "padding": padding.lower()}


def _transposed_layer(spec: ConvSpec) -> Layer | str:
    if spec.rank == 1:
        return TRANSPOSED_1D
    if spec.groups > 1 or max(spec.dilations) > 1:
        return TRANSPOSED_ARGS
    mode, spatial = transpose_call(spec)
    if mode is None:
        return PADDING
    return f"conv_{spec.rank}d_transpose", {"nb_filter": spec.out_channels, "filter_size": _ints(spec.kernel),
                                            "output_shape": list(spatial), "strides": _ints(spec.strides),
                                            "padding": mode.lower()}


def _ints(values: tuple[int, ...]) -> int | list[int]:
    """An int in 1-D (conv_1d takes ints), else a list per axis."""
    return values[0] if len(values) == 1 else list(values)


def kernel_translation(op: str, dims: convert.DimensionNumbers,
                       groups: int) -> tuple[Callable[[np.ndarray], np.ndarray], ...]:
    """(canonical kernel -> the layer's ``W``, the layer's ``W`` -> canonical) for layer ``op``: ``dims``'s
    kernel layout, with conv_1d's height-1 axis (``[kw, 1, in, out]``: tflearn lifts 1-D data to height 1)."""
    if op == "conv_1d":
        return (lambda k: dims.kernel_from_canonical(k, groups)[:, None]), lambda k: dims.kernel_to_canonical(k[:, 0])
    return partial(dims.kernel_from_canonical, groups=groups), dims.kernel_to_canonical


ADAPTER = TflearnAdapter()

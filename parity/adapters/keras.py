"""Keras 3 backend on TensorFlow: the convolution layers themselves, built per case with ``use_bias=False``
and their weights set with ``layer.set_weights`` in Keras' own layouts; gradients through
``tf.GradientTape`` with respect to the layer input or ``layer.kernel``.

Layers: ``Conv1D/2D/3D`` (``groups``), ``DepthwiseConv1D/2D`` for depthwise cases of rank 1 and 2 (rank 3
has no depthwise layer: ``Conv3D(groups=in_channels)``), ``Conv1DTranspose/2D/3D``; ``data_format`` is the
case's layout, ``dilation_rate`` its dilations. Kernel layouts (``layer.set_weights``):

- ``Conv*D``: ``[k..., in/groups, out]`` (``convert.kernel_to_tf``);
- ``DepthwiseConv*D``: ``[k..., in, multiplier]``, output channel ``c*multiplier + m`` (``convert.depthwise_to_tf``);
- ``Conv*DTranspose``: ``[k..., out, in]`` (``convert.kernel_to_tf`` of parity's ``(in, out, *k)``).

Only what the layer API expresses runs: ``padding`` 'valid', 'same' (TF's SAME) or, for ``Conv1D``,
'causal' when it means exactly the case's padding (``convert.keras_padding``); transposed convs when some
(padding, output_padding) gives exactly the case's crop (``convert.keras_transpose_args``). The rest is
declared unsupported with Keras' words, and so is what TensorFlow's CPU kernels refuse under Keras (the
TF adapter's reasons). Keras itself routes around some TF limits: grouped convs and channels-first
``Conv3D`` are compiled with XLA, channels-first depthwise convs are transposed to channels-last, and
depthwise convs with strides and dilations > 1 run dilated at stride 1 and are subsampled.
"""
from __future__ import annotations

import os
from functools import cache
from types import ModuleType

import numpy as np

from parity import convert
from parity.adapters import tensorflow as tf_adapter
from parity.adapters.base import missing_module
from parity.spec import ConvSpec

STRIDED_DILATION = "Keras: '`strides > 1` not supported in conjunction with `dilation_rate > 1`'"
DEPTHWISE_STRIDES = ("TensorFlow on CPU (Keras DepthwiseConv2D): 'Current implementation only supports equal length "
                     "strides in the row and column dimensions.'")
TRANSPOSE_GROUPS = "Keras: Conv{rank}DTranspose has no groups argument"
TRANSPOSE_CHANNELS_FIRST = (
    "TensorFlow on CPU (Keras Conv1D/2DTranspose): 'Conv2DCustomBackpropInputOp only supports NHWC.'",
    "TensorFlow on CPU (Keras Conv3DTranspose): 'Conv3DBackpropInputOpV2 only supports NDHWC on the CPU.'")
NOT_KERAS_TF = "keras is configured for the {backend} backend (KERAS_BACKEND); this adapter runs Keras on TensorFlow"


@cache
def _keras() -> ModuleType:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


@cache
def _tf() -> ModuleType:
    _keras()  # KERAS_BACKEND first
    import tensorflow

    # Keras wraps grouped convs in a fresh tf.function(jit_compile=True) on every call; TF then logs
    # "... triggered tf.function retracing" for each case: expected here, so that one message is dropped.
    tensorflow.get_logger().addFilter(lambda record: "retracing" not in record.getMessage())
    return tensorflow


class KerasAdapter:
    name = "keras"

    def available(self) -> str | None:
        return missing_module("keras", "keras") or missing_module("tensorflow", "keras")

    def supports(self, spec: ConvSpec) -> str | None:
        backend = _keras().backend.backend()
        if backend != "tensorflow":
            return NOT_KERAS_TF.format(backend=backend)
        return _padding_reason(spec) or _layer_reason(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        tf = _tf()
        channels_last = spec.layout == "channels_last"
        layer = _layer(spec)
        data = tf.constant(convert.to_channels_last(x) if channels_last else x)
        layer.build(data.shape)
        layer.set_weights([_keras_kernel(spec, w)])
        if spec.quantity == "output":
            return _canonical(layer(data).numpy(), channels_last)
        target = data if spec.quantity == "grad_input" else layer.kernel
        with tf.GradientTape() as tape:
            tape.watch(data)
            y = layer(data)
        cotangent = tf.constant(convert.to_channels_last(dy) if channels_last else dy)
        grad = tape.gradient(y, target, output_gradients=cotangent).numpy()
        if spec.quantity == "grad_input":
            return _canonical(grad, channels_last)
        return np.ascontiguousarray(convert.depthwise_from_tf(grad) if _depthwise_layer(spec)
                                    else convert.kernel_from_tf(grad))


def _depthwise_layer(spec: ConvSpec) -> bool:
    return spec.is_depthwise and not spec.transposed and spec.rank < 3


def _layer_name(spec: ConvSpec) -> str:
    kind = "DepthwiseConv" if _depthwise_layer(spec) else "Conv"
    return f"{kind}{spec.rank}D" + ("Transpose" if spec.transposed else "")


def _padding_reason(spec: ConvSpec) -> str | None:
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        if convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry) is None:
            return (f"Keras {_layer_name(spec)}: no padding 'valid' or 'same' with output_padding < strides "
                    "gives this crop")
        return None
    modes = ("valid", "same", "causal") if spec.rank == 1 and not _depthwise_layer(spec) else ("valid", "same")
    if convert.keras_padding(spec.pads, *geometry) not in modes:  # DepthwiseConv1D takes no 'causal'
        spelled = " or ".join([", ".join(f"'{m}'" for m in modes[:-1]), f"'{modes[-1]}'"])
        return f"Keras {_layer_name(spec)} padding must be {spelled}"
    return None


def _layer_reason(spec: ConvSpec) -> str | None:
    """Keras' own refusals, then what TensorFlow's CPU kernels refuse on the path Keras takes."""
    strided_dilated = max(spec.strides) > 1 and max(spec.dilations) > 1
    if strided_dilated and not _depthwise_layer(spec):
        return STRIDED_DILATION
    if _depthwise_layer(spec) and len(set(spec.strides)) > 1 and not strided_dilated:  # (rank 1 runs as (s, s))
        return DEPTHWISE_STRIDES
    if spec.transposed and spec.groups > 1:
        return TRANSPOSE_GROUPS.format(rank=spec.rank)
    cpu = not _tf().config.list_physical_devices("GPU")
    if spec.transposed and spec.layout == "channels_first" and cpu:
        return TRANSPOSE_CHANNELS_FIRST[spec.rank == 3]
    # Keras compiles grouped and channels-first 3-D convs with XLA, and transposes channels-first
    # depthwise data itself: only plain 1-D/2-D convs reach TF's NHWC-only CPU kernel.
    if spec.layout == "channels_first" and not spec.transposed and spec.groups == 1 and spec.rank < 3 and cpu:
        return tf_adapter.CHANNELS_FIRST
    if spec.transposed and max(spec.dilations) > 1:  # dilated forward convs go through space-to-batch
        return tf_adapter.BACKPROP_DILATION
    return None


def _layer(spec: ConvSpec):
    layers = _keras().layers
    common = dict(kernel_size=spec.kernel, strides=spec.strides, dilation_rate=spec.dilations, use_bias=False,
                  data_format=spec.layout, dtype=spec.dtype)
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        padding, extra = convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry)
        return getattr(layers, _layer_name(spec))(spec.out_channels, padding=padding, output_padding=extra, **common)
    padding = convert.keras_padding(spec.pads, *geometry)
    if _depthwise_layer(spec):
        multiplier = spec.out_channels // spec.in_channels
        return getattr(layers, _layer_name(spec))(depth_multiplier=multiplier, padding=padding, **common)
    return getattr(layers, _layer_name(spec))(spec.out_channels, padding=padding, groups=spec.groups, **common)


def _keras_kernel(spec: ConvSpec, w: np.ndarray) -> np.ndarray:
    return convert.depthwise_to_tf(w, spec.in_channels) if _depthwise_layer(spec) else convert.kernel_to_tf(w)


def _canonical(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.ascontiguousarray(convert.to_channels_first(a) if channels_last else a)


ADAPTER = KerasAdapter()

"""TensorFlow 2 backend: ``tf.nn.conv1d/conv2d/conv3d`` and ``tf.nn.depthwise_conv2d``.

TF wants channels-last data and ``[k..., in/groups, out]`` kernels (depthwise: ``[kh, kw, in, mult]``).
"SAME"/"VALID" are passed natively when they mean exactly the case's padding; other paddings go as
TF's explicit padding list where the op takes one (conv2d, depthwise_conv2d) and as ``tf.pad`` + VALID
where it does not (conv1d, conv3d). Rank-1 depthwise runs ``depthwise_conv2d`` on a height-1 image; depthwise cases its kernel cannot take
run as grouped ``conv1d/conv2d``, which TF's CPU (oneDNN) kernels support.
What TF's CPU kernels refuse is declared in ``supports`` with TF's own words.
"""
from __future__ import annotations

import os
from functools import cache
from types import ModuleType

import numpy as np

from parity import convert
from parity.adapters.base import missing_module
from parity.spec import ConvSpec

# TF's messages for what its CPU kernels refuse (TF 2.21, tensorflow-cpu).
CHANNELS_FIRST = "TensorFlow on CPU: 'The Conv2D op currently only supports the NHWC tensor format on the CPU'"
CONV3D_GROUPS = ("TensorFlow on CPU: Conv3D has no grouped convolution "
                 "('Number of channels in filter (C/groups) must match last dimension of input (C)')")
CONV3D_DILATION = "TensorFlow on CPU: 'CPU implementation of Conv3D currently only supports dilated rates of 1.'"


@cache
def _tf() -> ModuleType:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


class TensorFlowAdapter:
    name = "tensorflow"

    def available(self) -> str | None:
        return missing_module("tensorflow", "tensorflow")

    def supports(self, spec: ConvSpec) -> str | None:
        if spec.layout == "channels_first" and not _tf().config.list_physical_devices("GPU"):
            return CHANNELS_FIRST
        if spec.rank == 3 and spec.groups > 1:
            return CONV3D_GROUPS
        if spec.rank == 3 and max(spec.dilations) > 1:
            return CONV3D_DILATION
        return None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        tf = _tf()
        data = tf.constant(convert.to_channels_last(x))
        if uses_depthwise_op(spec):
            y = _depthwise(tf, spec, data, convert.depthwise_to_tf(w, spec.in_channels))
        else:
            y = _conv(tf, spec, data, tf.constant(convert.kernel_to_tf(w)))
        return np.ascontiguousarray(convert.to_channels_first(y.numpy()))


def uses_depthwise_op(spec: ConvSpec) -> bool:
    """Whether ``tf.nn.depthwise_conv2d`` can compute this case; other grouped cases use grouped conv.

    Its kernel refuses unequal strides over its two axes (a rank-1 case with stride > 1 is (1, s)), and
    strides > 1 together with dilations > 1 are documented as unsupported; TF 2.21 only warns and returns
    wrong values (measured: errors 1e2 to 1e15 times the bound, see tests/test_findings.py).
    """
    if not spec.is_depthwise or spec.rank == 3:
        return False
    strides = (1, *spec.strides) if spec.rank == 1 else spec.strides
    return len(set(strides)) == 1 and not (strides[0] > 1 and max(spec.dilations) > 1)


def _padding(tf: ModuleType, spec: ConvSpec, data, explicit_ok: bool):
    """(data, padding) for TF: native SAME/VALID, explicit list, or tf.pad + VALID."""
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=True)
    if isinstance(padding, str) or explicit_ok:
        return data, padding
    return tf.pad(data, padding), "VALID"


def _conv(tf: ModuleType, spec: ConvSpec, data, kernel):
    data, padding = _padding(tf, spec, data, explicit_ok=spec.rank == 2)
    if spec.rank == 1:
        return tf.nn.conv1d(data, kernel, spec.strides[0], padding, dilations=spec.dilations[0])
    if spec.rank == 2:
        return tf.nn.conv2d(data, kernel, spec.strides, padding, dilations=spec.dilations)
    return tf.nn.conv3d(data, kernel, [1, *spec.strides, 1], padding, dilations=[1, *spec.dilations, 1])


def _depthwise(tf: ModuleType, spec: ConvSpec, data, kernel):
    if spec.rank == 1:  # as a height-1 image, the way Keras runs Conv1D
        height1 = ConvSpec(**{**spec.as_dict(), "spatial": (1, *spec.spatial), "kernel": (1, *spec.kernel),
                              "strides": (1, *spec.strides), "dilations": (1, *spec.dilations),
                              "padding": ((0, 0), *spec.pads), "layout": "channels_last"})
        return _depthwise(tf, height1, data[:, None], kernel[None])[:, 0]
    data, padding = _padding(tf, spec, data, explicit_ok=True)
    return tf.nn.depthwise_conv2d(data, kernel, [1, *spec.strides, 1], padding, dilations=spec.dilations)


ADAPTER = TensorFlowAdapter()

"""TensorFlow 2 backend: ``tf.nn.conv1d/conv2d/conv3d``, ``tf.nn.depthwise_conv2d`` and
``tf.nn.conv1d/2d/3d_transpose``; gradients through ``tf.GradientTape`` with the seeded cotangent.

TF wants channels-last data and ``[k..., in/groups, out]`` kernels (depthwise: ``[kh, kw, in, mult]``).
"SAME"/"VALID" are passed natively when they mean exactly the case's padding; other paddings go as
TF's explicit padding list where the op takes one (conv2d, depthwise_conv2d) and as ``tf.pad`` + VALID
where it does not (conv1d, conv3d). Rank-1 depthwise runs ``depthwise_conv2d`` on a height-1 image; depthwise cases its kernel cannot take
run as grouped ``conv1d/conv2d``, which TF's CPU (oneDNN) kernels support.
Transposed convs pass ``output_shape`` with native SAME/VALID when TF's crop rule gives the case's crop
(see ``convert.tf_transpose_padding``), else run VALID on the full output and crop it.
What TF's CPU kernels refuse is declared in ``supports`` with TF's own words.
"""
from __future__ import annotations

import os
from functools import cache
from types import ModuleType

from typing import TYPE_CHECKING

import numpy as np

from parity import convert
from parity.adapters.base import missing_module
from parity.spec import ConvSpec

if TYPE_CHECKING:
    from parity.translate import Snippet

# TF's messages for what its CPU kernels refuse (TF 2.21, tensorflow-cpu).
CHANNELS_FIRST = "TensorFlow on CPU: 'The Conv2D op currently only supports the NHWC tensor format on the CPU'"
CONV3D_GROUPS = ("TensorFlow on CPU: Conv3D has no grouped convolution "
                 "('Number of channels in filter (C/groups) must match last dimension of input (C)')")
CONV3D_DILATION = "TensorFlow on CPU: 'CPU implementation of Conv3D currently only supports dilated rates of 1.'"
BACKPROP_DILATION = ("TensorFlow on CPU: transposed conv and conv gradients with dilation > 1: "
                     "'Current CPU implementations do not yet support dilation rates larger than 1.'")
GROUPED_GRADIENTS = "TensorFlow on CPU: 'Gradients for grouped convolutions are not supported on CPU.'"
TRANSPOSE_GROUPS = "TensorFlow: tf.nn.conv*_transpose has no groups argument (no grouped transposed conv)"


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
        if spec.transposed and spec.groups > 1:
            return TRANSPOSE_GROUPS
        backprop = spec.transposed or spec.quantity != "output"
        if backprop and max(spec.dilations) > 1 and not uses_depthwise_op(spec):
            return BACKPROP_DILATION
        if spec.quantity != "output" and spec.groups > 1 and not uses_depthwise_op(spec):
            return GROUPED_GRADIENTS
        return None

    def snippet(self, spec: ConvSpec) -> "Snippet":
        """The native call for ``spec``, for ``parity translate``."""
        return _snippet(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        tf = _tf()
        depthwise = uses_depthwise_op(spec)
        data = tf.constant(convert.to_channels_last(x))
        kernel = tf.constant(convert.depthwise_to_tf(w, spec.in_channels) if depthwise else convert.kernel_to_tf(w))
        compute = _transposed if spec.transposed else _depthwise if depthwise else _conv
        target = {"grad_input": data, "grad_weight": kernel}.get(spec.quantity)
        if target is None:
            return np.ascontiguousarray(convert.to_channels_first(compute(tf, spec, data, kernel).numpy()))
        with tf.GradientTape() as tape:
            tape.watch(target)
            y = compute(tf, spec, data, kernel)
        grad = tape.gradient(y, target, output_gradients=tf.constant(convert.to_channels_last(dy))).numpy()
        if spec.quantity == "grad_input":
            return np.ascontiguousarray(convert.to_channels_first(grad))
        return np.ascontiguousarray(convert.depthwise_from_tf(grad) if depthwise else convert.kernel_from_tf(grad))


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
                              "padding": ((0, 0), *spec.pads), "layout": "channels_last",
                              "output_padding": (0, *spec.output_padding)})
        return _depthwise(tf, height1, data[:, None], kernel[None])[:, 0]
    data, padding = _padding(tf, spec, data, explicit_ok=True)
    return tf.nn.depthwise_conv2d(data, kernel, [1, *spec.strides, 1], padding, dilations=spec.dilations)


def transpose_call(spec: ConvSpec) -> tuple[str | None, tuple[int, ...]]:
    """TF's native padding mode for this transposed conv (None: not expressible) and the spatial
    ``output_shape`` to ask for: the case's output, or the full output to crop afterwards."""
    mode = convert.tf_transpose_padding(spec.pads, spec.output_padding, spec.spatial, spec.kernel, spec.strides,
                                        spec.dilations)
    full = convert.full_transposed(spec.spatial, spec.kernel, spec.strides, spec.dilations)
    return mode, spec.output_spatial if mode else full


def _transposed(tf: ModuleType, spec: ConvSpec, data, kernel):
    mode, spatial = transpose_call(spec)
    shape = [spec.batch, *spatial, spec.out_channels]
    transpose = {1: tf.nn.conv1d_transpose, 2: tf.nn.conv2d_transpose, 3: tf.nn.conv3d_transpose}[spec.rank]
    y = transpose(data, kernel, shape, list(spec.strides), mode or "VALID", dilations=list(spec.dilations))
    if mode is None:  # TF's output_shape cannot express this crop: crop (or extend) the full output
        y = _pad_or_crop(tf, y, convert.crop_full_transpose(spec.pads, spec.output_padding))
    return y


def _pad_or_crop(tf: ModuleType, y, pads):
    """Channels-last twin of ``convert.pad_array``: pad, then negative pads crop."""
    padded = tf.pad(y, [[0, 0], *([max(0, lo), max(0, hi)] for lo, hi in pads), [0, 0]])
    return padded[(slice(None), *convert.crop_slices(padded.shape[1:-1], pads), slice(None))]


def _snippet(spec: ConvSpec) -> "Snippet":
    """``tf.nn`` call for ``spec`` (``parity translate``): channels-last, the op and padding ``run`` uses."""
    from parity.translate import Snippet

    if spec.transposed and spec.groups > 1:
        raise ValueError(f"tensorflow must have groups=1 for a transposed conv, got groups={spec.groups}: "
                         f"{TRANSPOSE_GROUPS}")
    rank = spec.rank
    letters = convert.layout_name("channels_last", rank)
    depthwise = rank == 2 and not spec.transposed and uses_depthwise_op(spec)
    suffix = "OI" if spec.transposed else "IM" if depthwise else "IO"
    kernel = convert.KernelLayout(letters[1:-1] + suffix, spec.transposed)
    lines = list(_transposed_lines(spec) if spec.transposed else _forward_lines(spec, depthwise))
    return Snippet(("import tensorflow as tf",), letters, kernel, tuple(lines))


def _forward_lines(spec: ConvSpec, depthwise: bool) -> list[str]:
    from parity import codegen

    call, rank = codegen.call, spec.rank
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=True)
    lines = []
    if not isinstance(padding, str) and rank != 2:  # only conv2d and depthwise_conv2d take explicit lists
        lines.append(f"x = tf.pad(x, {padding})")
        padding = "VALID"
    padding = repr(padding) if isinstance(padding, str) else str(padding)
    if rank == 1:
        op = f"tf.nn.conv1d(x, w, stride={spec.strides[0]}, padding={padding}, dilations={spec.dilations[0]})"
    elif depthwise:
        op = (f"tf.nn.depthwise_conv2d(x, w, strides={[1, *spec.strides, 1]}, padding={padding}, "
              f"dilations={call(spec.dilations)})")
    elif rank == 2:
        op = f"tf.nn.conv2d(x, w, strides={list(spec.strides)}, padding={padding}, dilations={list(spec.dilations)})"
    else:
        op = (f"tf.nn.conv3d(x, w, strides={[1, *spec.strides, 1]}, padding={padding}, "
              f"dilations={[1, *spec.dilations, 1]})")
    return lines + [f"y = {op}.numpy()"]


def _transposed_lines(spec: ConvSpec) -> list[str]:
    from parity import codegen

    mode, spatial = transpose_call(spec)
    shape = ["x.shape[0]", *map(str, spatial), str(spec.out_channels)]
    op = (f"tf.nn.conv{spec.rank}d_transpose(x, w, output_shape=[{', '.join(shape)}], strides={list(spec.strides)}, "
          f"padding={mode or 'VALID'!r}, dilations={list(spec.dilations)})")
    lines = [f"y = {op}.numpy()"]
    if mode is None:  # output_shape cannot express this crop: crop (or extend) the full output
        lines.append(codegen.pad("y", convert.crop_full_transpose(spec.pads, spec.output_padding), channels_last=True))
    return lines


ADAPTER = TensorFlowAdapter()

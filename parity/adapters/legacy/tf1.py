"""TensorFlow 1.15 backend, out of process: ``tf.nn.conv1d/conv2d/conv3d`` built in a graph and run in a
``tf.Session`` by ``parity/adapters/legacy/workers/tf1_worker.py`` under the ``tf1`` environment
(``parity env create tf1``).

The harness translates everything: channels-last data, ``[k..., in, out]`` kernels (``convert.kernel_to_tf``),
native "SAME"/"VALID" where they mean the case's padding, else TF's explicit padding list for conv2d and a
``tf.pad`` list + VALID for conv1d/conv3d; gradients by ``tf.gradients`` with the cotangent as ``grad_ys``.
What TF 1.15's CPU kernels refuse is declared with its own words (measured on tensorflow 1.15.5).
"""
from __future__ import annotations

import numpy as np

from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.base import first_refusal
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import for_env, translated_shape

NO_BFLOAT16 = "bfloat16: the legacy environments' numpy has no bfloat16 type"
CHANNELS_FIRST = ("TensorFlow 1.15 on CPU: 'The Conv2D op currently only supports the NHWC tensor format on the "
                  "CPU'")
CHANNELS_FIRST_3D = ("TensorFlow 1.15 on CPU: 'CPU implementation of Conv3D currently only supports the NHWC tensor "
                     "format.'")
GROUPS = "TensorFlow 1.15 on CPU: 'The Conv2D op currently does not support grouped convolutions on the CPU'"
CONV3D_GROUPS = ("TensorFlow 1.15 on CPU: Conv3D has no grouped convolution and does not check the filter's input "
                 "depth: a (C/groups)-deep filter returns wrong values without an error")
CONV3D_DILATION = "TensorFlow 1.15 on CPU: 'CPU implementation of Conv3D currently only supports dilated rates of 1.'"
BACKPROP_DILATION = ("TensorFlow 1.15 on CPU: conv gradients with dilation > 1: 'Current libxsmm and customized CPU "
                     "implementations do not yet support dilation rates larger than 1.'")
TRANSPOSED = "tf1 backend: forward convolution only (tf.nn.conv*_transpose is not run out of process)"


class TF1Adapter:
    name = "tf1"

    def available(self) -> str | None:
        return envs.missing("tf1")

    def supports(self, spec: ConvSpec) -> str | None:
        checks = ((spec.dtype == "bfloat16", NO_BFLOAT16), (spec.transposed, TRANSPOSED),
                  (spec.layout == "channels_first", CHANNELS_FIRST_3D if spec.rank == 3 else CHANNELS_FIRST),
                  (spec.rank == 3 and spec.groups > 1, CONV3D_GROUPS), (spec.groups > 1, GROUPS),
                  (spec.rank == 3 and max(spec.dilations) > 1, CONV3D_DILATION),
                  (spec.quantity != "output" and max(spec.dilations) > 1, BACKPROP_DILATION))
        return first_refusal(checks)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                     channels_last=True)
        pad = None if isinstance(padding, str) or spec.rank == 2 else padding  # conv1d/3d: tf.pad + VALID
        kwargs = {**convert.tf1_conv_args(spec.rank, spec.strides, spec.dilations),
                  "padding": "VALID" if pad else padding}
        call = {"framework": "tf1", "op": f"conv{spec.rank}d", "kwargs": kwargs, "pad": pad,
                "quantity": spec.quantity}
        arrays = {"x": convert.to_channels_last(x), "w": convert.kernel_to_tf(w)}
        if dy is not None:
            arrays["dy"] = convert.to_channels_last(dy)
        to_tf, from_tf = ((convert.kernel_to_tf, convert.kernel_from_tf) if spec.quantity == "grad_weight"
                          else (convert.to_channels_last, convert.to_channels_first))
        result = for_env("tf1", "tf1_worker.py").call(call, arrays,
                                                      translated_shape(to_tf, spec.result_shape), x.dtype)
        return np.ascontiguousarray(from_tf(result))


ADAPTER = TF1Adapter()

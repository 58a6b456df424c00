"""tflearn 0.5.0 backend, out of process: ``tflearn.conv_1d`` / ``tflearn.conv_2d`` layers (TensorFlow 1.15)
run by ``parity/adapters/legacy/workers/tf1_worker.py`` under the ``tf1`` environment, sharing the tf1 backend's worker.

The layers take channels-last data and own their kernels: ``conv_2d``'s is ``[kh, kw, in, out]``,
``conv_1d``'s ``(width, 1, in, out)`` (it runs ``tf.nn.conv2d`` on (N, W, 1, C) data), translated here by
``convert.kernel_to_tf`` / ``convert.kernel_to_tflearn_1d`` and passed as ``weights_init`` (no bias, linear
activation). Layers have float32 variables, 'same'/'valid' padding, no dilation and no groups: the rest
is declared unsupported. Outputs only (gradients are the tf1 backend's).
"""
from __future__ import annotations

import numpy as np

from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.base import first_refusal
from parity.adapters.legacy.tf1 import NO_BFLOAT16
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import for_env

OUTPUTS_ONLY = "tflearn backend: outputs only (gradients run on the tf1 backend)"
LAYERS = "tflearn backend: conv_1d and conv_2d only (forward, rank 1 or 2)"
CHANNELS_LAST = "tflearn layers take channels-last data only (NWC, NHWC)"
FLOAT32 = ("tflearn layers create float32 weight variables: 'Initializer type ... and explicit dtype "
           "<dtype: 'float32'> don't match'")
DILATION = "tflearn conv_1d/conv_2d have no dilation (atrous_conv_2d is another layer)"
GROUPS = "tflearn conv_1d/conv_2d have no groups"
PADDING = "tflearn conv_1d/conv_2d take padding 'same' or 'valid' only, as TensorFlow computes them"


class TflearnAdapter:
    name = "tflearn"

    def available(self) -> str | None:
        return envs.missing("tf1")

    def supports(self, spec: ConvSpec) -> str | None:
        checks = ((spec.dtype == "bfloat16", NO_BFLOAT16), (spec.quantity != "output", OUTPUTS_ONLY),
                  (spec.transposed or spec.rank == 3, LAYERS), (spec.layout == "channels_first", CHANNELS_LAST),
                  (spec.dtype != "float32", FLOAT32), (max(spec.dilations) > 1, DILATION),
                  (spec.groups > 1, GROUPS), (not isinstance(_padding(spec), str), PADDING))
        return first_refusal(checks)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        kernel = convert.kernel_to_tflearn_1d(w) if spec.rank == 1 else convert.kernel_to_tf(w)
        strides = spec.strides[0] if spec.rank == 1 else list(spec.strides)
        size = spec.kernel[0] if spec.rank == 1 else list(spec.kernel)
        kwargs = {"nb_filter": spec.out_channels, "filter_size": size, "strides": strides,
                  "padding": _padding(spec).lower()}
        call = {"framework": "tflearn", "op": f"conv_{spec.rank}d", "kwargs": kwargs}
        arrays = {"x": convert.to_channels_last(x), "w": kernel}
        shape = (spec.batch, *spec.output_spatial, spec.out_channels)
        result = for_env("tf1", "tf1_worker.py").call(call, arrays, shape, x.dtype)
        return np.ascontiguousarray(convert.to_channels_first(result))


def _padding(spec: ConvSpec) -> str | list:
    return convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations, channels_last=True)


ADAPTER = TflearnAdapter()

"""TensorFlow 1.15 backend, out of process: ``tf.nn.conv1d/conv2d/conv3d``, ``tf.nn.depthwise_conv2d`` and
``tf.nn.conv1d/2d/3d_transpose`` built in a graph and run in a ``tf.Session`` by
``parity/adapters/legacy/workers/tf1_worker.py`` under the ``tf1`` environment (``parity env create tf1``).

The harness translates everything: the case's data layout as TF's ``data_format`` (NWC ... NCDHW),
``[k..., in, out]`` kernels (``[k..., out, in]`` for transposed convs: :func:`dimensions`),
native "SAME"/"VALID" where they mean the case's padding, else TF's explicit padding list for conv2d and a
``tf.pad`` list + VALID for the others. 2-D depthwise cases run ``tf.nn.depthwise_conv2d`` on
``[kh, kw, in, multiplier]`` kernels where its docs allow them (:func:`depthwise`), other grouped cases
grouped ``tf.nn.conv*d``. Transposed convs pass ``output_shape`` with SAME/VALID when TF's crop rule gives
the case's crop, else run VALID on the full output and crop it in the graph (the tensorflow backend's
``transpose_call``). Gradients by ``tf.gradients`` with the cotangent as ``grad_ys``. bfloat16 travels as
uint16 bits and is TensorFlow's own ``tf.bfloat16`` in the worker.

What TF 1.15 cannot run it says itself when the case runs, and the case is a skip in its words: its CPU
kernels take channels-last data only, no groups (but depthwise), no dilation in Conv3D nor in any gradient
or transposed conv. bfloat16 has no CPU kernel at all in TF 1.15: its placer puts those ops on the XLA_CPU
device, which runs all of the above (measured on tensorflow 1.15.5). Declared here: what the API has no
argument for, and the grouped Conv3D that TF's CPU kernel computes wrongly without an error.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from parity.core import convert
from parity.adapters.legacy import envs
from parity.adapters.base import PROBE, default_accumulation, first_refusal
from parity.adapters.tensorflow import transpose_call, uses_depthwise_op
from parity.core.geometry import full_transposed, output_lengths
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import call_in_env, translated_shape

CONV3D_GROUPS = ("TensorFlow 1.15 on CPU: Conv3D has no grouped convolution and does not check the filter's input "
                 "depth: a (C/groups)-deep filter returns wrong values without an error")
TRANSPOSE_GROUPS = "TensorFlow 1.15: tf.nn.conv*_transpose has no groups argument (no grouped transposed conv)"
# Measured on tensorflow 1.15.5 (graph construction, every dtype): Conv3D's shape function gives the row axis
# the column dilation and the column axis the row one; where that makes a kernel longer than its padded
# input, tf.nn.conv3d raises 'Negative dimension size' for a valid call, and tf.gradients of a
# conv3d_transpose (a Conv3D) 'Incompatible shapes between op input and calculated input gradient'. Found by
# hypothesis (bfloat16, whose XLA_CPU kernel takes dilations; float32's CPU kernel refuses dilated Conv3D).
SWAPPED_DILATIONS = ("TensorFlow 1.15's Conv3D shape function swaps the row and column dilations and refuses "
                     "a valid dilated call")


class TF1Adapter:
    name = "tf1"

    def available(self) -> str | None:
        return envs.missing("tf1")

    def supports(self, spec: ConvSpec) -> str | None:
        # bfloat16 runs on XLA_CPU (no CPU kernel), whose grouped Conv3D is right: see tests/test_legacy_complete.py
        checks = ((spec.transposed and spec.groups > 1, TRANSPOSE_GROUPS),
                  (spec.rank == 3 and spec.groups > 1 and spec.dtype != "bfloat16", CONV3D_GROUPS))
        return first_refusal(checks)

    def known(self, spec: ConvSpec) -> str | None:
        return SWAPPED_DILATIONS if swapped_dilations_refused(spec) else None

    def accumulation(self, spec: ConvSpec) -> str:
        """float16: measured by the runner (``PROBE``). TF 1.15's CPU kernels (Eigen; no oneDNN in the pip
        wheel) sum float16 in float32 in forward conv1d/conv2d, but add the kernel taps in float16 in Conv3D
        and the backprop kernels (conv*_transpose outputs, input gradients) and sum some weight gradients
        wholly in float16: before this declaration 8 float16 cases of the default tier failed the float32
        bound, 37x to 118x. bfloat16 (XLA_CPU) keeps the default, float32: probed on all 211 bfloat16 cases
        of the default tier, every one was correctly rounded (at most 1 ULP)."""
        return PROBE if spec.dtype == "float16" else default_accumulation(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        op = transposed(spec) if spec.transposed else forward(spec)
        call = {"framework": "tf1", "quantity": spec.quantity, **op}
        dims = dimensions(spec)
        to_kernel = partial(dims.kernel_from_canonical, groups=spec.groups)
        arrays = {"x": dims.data_from_canonical(x), "w": to_kernel(w),
                  **({"dy": dims.data_from_canonical(dy)} if dy is not None else {})}
        to_result = to_kernel if spec.quantity == "grad_weight" else dims.data_from_canonical
        shape = translated_shape(to_result, spec.result_shape)
        result = call_in_env("tf1", "tf1_worker.py", call, arrays, shape, spec.dtype)
        return dims.result_to_canonical(result, spec.quantity)


def swapped_dilations_refused(spec: ConvSpec) -> bool:
    """Whether TF 1.15's Conv3D shape function, with the row and column dilations swapped, refuses the graph:
    a forward Conv3D whose kernel is then longer than its padded input, or the Conv3D that is a transposed
    conv's input gradient (tf.gradients builds it for a weight gradient too), whose shape then differs from
    the input's (see SWAPPED_DILATIONS)."""
    if spec.rank != 3 or spec.dilations[1] == spec.dilations[2]:
        return False
    depth, rows, cols = spec.dilations
    swapped = (depth, cols, rows)
    if spec.transposed:
        full = full_transposed(spec.spatial, spec.kernel, spec.strides, spec.dilations)
        return spec.quantity != "output" and output_lengths(full, spec.kernel, spec.strides, swapped) != spec.spatial
    return 0 in output_lengths(spec.spatial, spec.kernel, spec.strides, swapped, spec.pads)


def depthwise(spec: ConvSpec) -> bool:
    """Whether ``tf.nn.depthwise_conv2d`` computes this case: 2-D depthwise cases with equal strides, and not
    strides > 1 with dilation ('If it is greater than 1, then all values of strides must be 1.', its ``rate``
    docs); other grouped cases run grouped ``tf.nn.conv*d`` (the tensorflow backend's rule)."""
    return spec.rank == 2 and uses_depthwise_op(spec)


def dimensions(spec: ConvSpec) -> convert.DimensionNumbers:
    """TF 1.15's layouts: the case's data layout, kernels ``[k..., in, out]`` (transposed ``[k..., out, in]``),
    depthwise ``[kh, kw, in, mult]``."""
    return convert.dimensions_for(spec, kernel="depthwise" if depthwise(spec) else "spatial_first")


def forward(spec: ConvSpec) -> dict[str, object]:
    """The worker call's ``op``, ``kwargs``, ``pad`` and ``crop`` for ``tf.nn.conv{rank}d`` or
    ``tf.nn.depthwise_conv2d`` (which takes no explicit padding list: ``tf.pad`` + VALID, as conv1d/conv3d)."""
    padding = convert.tf_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations,
                                 channels_last=spec.layout == "channels_last")
    explicit_ok = spec.rank == 2 and not depthwise(spec)
    pad = None if isinstance(padding, str) or explicit_ok else padding
    dilation = {"rate": list(spec.dilations)} if depthwise(spec) else {"dilations": _axes(spec, spec.dilations)}
    kwargs = {"stride" if spec.rank == 1 else "strides": _axes(spec, spec.strides), **dilation,
              "padding": "VALID" if pad else padding, "data_format": convert.layout_name(spec.layout, spec.rank)}
    return {"op": "depthwise_conv2d" if depthwise(spec) else f"conv{spec.rank}d", "kwargs": kwargs, "pad": pad,
            "crop": None}


def transposed(spec: ConvSpec) -> dict[str, object]:
    """The worker call for ``tf.nn.conv{rank}d_transpose``: ``output_shape`` and SAME/VALID where they give
    the case's crop, else VALID with the full output's shape and a ``crop`` to apply to it."""
    channels_last = spec.layout == "channels_last"
    mode, spatial = transpose_call(spec)
    channels = (spec.out_channels,)
    shape = [spec.batch, *spatial, *channels] if channels_last else [spec.batch, *channels, *spatial]
    kwargs = {"output_shape": shape, "strides": _axes(spec, spec.strides), "padding": mode or "VALID",
              "data_format": convert.layout_name(spec.layout, spec.rank), "dilations": _axes(spec, spec.dilations)}
    crop = None if mode else convert.numpy_pad_arg(convert.crop_full_transpose(spec.pads, spec.output_padding),
                                                   channels_last)
    return {"op": f"conv{spec.rank}d_transpose", "kwargs": kwargs, "pad": None, "crop": crop}


def _axes(spec: ConvSpec, values: tuple[int, ...]) -> int | list[int]:
    """Per-axis strides or dilations as TF 1.15 takes them: an int in 1-D, else a value for every axis of
    the data layout (1 on the batch and channel axes)."""
    if spec.rank == 1:
        return values[0]
    return [1, *values, 1] if spec.layout == "channels_last" else [1, 1, *values]


ADAPTER = TF1Adapter()

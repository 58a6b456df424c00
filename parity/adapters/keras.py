"""Keras 3 backend on TensorFlow: the convolution layers themselves, built per case with ``use_bias=False``
and their weights set with ``layer.set_weights`` in Keras' own layouts; gradients through
``tf.GradientTape`` with respect to the layer input or ``layer.kernel``.

Layers: ``Conv1D/2D/3D`` (``groups``), ``DepthwiseConv1D/2D`` for depthwise cases of rank 1 and 2 (rank 3
has no depthwise layer: ``Conv3D(groups=in_channels)``), ``Conv1DTranspose/2D/3D``; ``dilation_rate`` is
the case's dilations. Kernel layouts (``layer.set_weights``):

- ``Conv*D``: ``[k..., in/groups, out]``;
- ``DepthwiseConv*D``: ``[k..., in, multiplier]``, output channel ``c*multiplier + m``;
- ``Conv*DTranspose``: ``[k..., out, in]`` (parity's ``(in, out, *k)`` spatial axes first)
(:func:`dimensions`).

Only what the layer API expresses runs: ``padding`` 'valid', 'same' (TF's SAME) or, for ``Conv1D``,
'causal' when it means exactly the case's padding (``convert.keras_padding``); transposed convs when some
(padding, output_padding) gives exactly the case's crop (``convert.keras_transpose_args``). The rest is
declared unsupported with Keras' words. Keras routes around some TF limits itself (grouped convs and
channels-first ``Conv3D`` are compiled with XLA, channels-first depthwise data is transposed, depthwise
convs with strides and dilations > 1 run dilated at stride 1 and are subsampled); what TensorFlow's CPU
kernels then accept depends on the build and the CPU, and is probed as in the TF adapter: ``data_format``
is the case's layout where the layer runs it on this machine, else the adapter transposes the data to a
channels-last layer; a route the layer fails in either layout is declared with TF's own words; the
accumulation type of 16-bit cases is measured by the runner (``PROBE``).
"""
from __future__ import annotations

import os
from functools import cache
from types import ModuleType

import numpy as np

from parity.core import convert
from parity.adapters import _probes as probes
from parity.adapters.base import PROBE, missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec

STRIDED_DILATION = "Keras: '`strides > 1` not supported in conjunction with `dilation_rate > 1`'"
TRANSPOSE_GROUPS = "Keras: Conv{rank}DTranspose has no groups argument"
NOT_KERAS_TF = "keras is configured for the {backend} backend (KERAS_BACKEND); this adapter runs Keras on TensorFlow"


@cache
def _keras() -> ModuleType:
    # on TensorFlow, JAX is kept out as parity.adapters._probes.import_tensorflow says (Keras imports TensorFlow)
    on_tf = os.environ.setdefault("KERAS_BACKEND", "tensorflow") == "tensorflow"
    return probes.import_without_jax("keras") if on_tf else probes.quiet_import("keras")


@cache
def _tf() -> ModuleType:
    _keras()  # KERAS_BACKEND first
    with paused():
        import tensorflow

    # Keras wraps grouped convs in a fresh tf.function(jit_compile=True) on every call; TF then logs
    # "... triggered tf.function retracing" for each case: expected here, so that one message is dropped.
    tensorflow.get_logger().addFilter(lambda record: "retracing" not in record.getMessage())
    return tensorflow


class KerasAdapter:
    name = "keras"
    frameworks = ("keras", "tensorflow")

    def available(self) -> str | None:
        return missing_module("keras", "keras") or missing_module("tensorflow", "keras")

    def supports(self, spec: ConvSpec) -> str | None:
        backend = _keras().backend.backend()
        if backend != "tensorflow":
            return NOT_KERAS_TF.format(backend=backend)
        reason = _padding_reason(spec) or _layer_reason(spec)
        if reason or native_channels_first(spec):
            return reason
        return route_refusal(spec, channels_first=False)

    def accumulation(self, spec: ConvSpec) -> str:
        """16-bit cases: measured on this machine by the runner (``PROBE``), as for TensorFlow."""
        return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        channels_first = native_channels_first(spec)
        with probes.quiet_stderr():
            return compute(spec, x, w, dy, channels_first)


def compute(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None, channels_first: bool) -> np.ndarray:
    """The spec's quantity from a Keras layer with ``data_format`` channels-first or channels-last."""
    tf = _tf()
    family = "channels_first" if channels_first else "channels_last"
    dims = dimensions(spec, family)
    layer = _layer(spec, family)
    data = tf.constant(dims.data_from_canonical(x))
    layer.build(data.shape)
    layer.set_weights([dims.kernel_from_canonical(w, spec.groups)])
    if spec.quantity == "output":
        return dims.output_to_canonical(layer(data).numpy())
    target = data if spec.quantity == "grad_input" else layer.kernel
    with tf.GradientTape() as tape:
        tape.watch(data)
        y = layer(data)
    grad = tape.gradient(y, target, output_gradients=tf.constant(dims.data_from_canonical(dy))).numpy()
    return dims.result_to_canonical(grad, spec.quantity)


def native_channels_first(spec: ConvSpec) -> bool:
    """Whether ``spec`` is channels-first and its layer runs channels-first on this machine (probed)."""
    return spec.layout == "channels_first" and route_refusal(spec, channels_first=True) is None


def route_refusal(spec: ConvSpec, channels_first: bool) -> str | None:
    """TF's refusal of ``spec``'s layer in this data format, or None: a probe, run once per process."""
    return _refusal(route(spec), channels_first)


@cache
def _refusal(probe: ConvSpec, channels_first: bool) -> str | None:
    return probes.refusal(probe, lambda *operands: compute(*operands, channels_first), _tf().errors.OpError,
                          via=f"Keras {_layer_name(probe)}")


# Probed on a small case rather than learnt from the cases as in the TF adapter. Learnt routing (before
# 85023b2) shared the TF adapter's set of refused routes under equal route keys, so TF's refusal of float16
# NCDHW Conv3D switched Keras mid-process from its XLA channels-first route (float32 sums) to channels-last
# Eigen (float16 sums), after the runner had measured and cached the canary of those cases on the former:
# the later cases of that canary (k2x2x2 f16-wide, the realistic video f16-canary) failed 34.4x and 41x the
# bound (12.5x with 2 threads; any thread count, given that order of items in one process).
# Why probed (Keras 3 on tensorflow-cpu 2.21, the AVX-512 machine of the TF adapter's note): the layers sum
# like the tf.nn ops they call (float16 on the Eigen routes listed there), except grouped convs, which
# Keras compiles with XLA: float32 for both 16-bit dtypes and all quantities, oneDNN on or off.


def route(spec: ConvSpec) -> ConvSpec:
    """A small case taking the same layer as ``spec``, with the same Keras padding mode, on a small image
    (:func:`probes.route_key`): what the refusal probe runs."""
    geometry = (spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        mode = convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry[1:])[0]
    else:
        mode = convert.keras_padding(*geometry)
    return probes.route_key(spec, mode.upper())


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
    """What the Keras layer API refuses whatever the machine."""
    if max(spec.strides) > 1 and max(spec.dilations) > 1 and not _depthwise_layer(spec):
        return STRIDED_DILATION
    if spec.transposed and spec.groups > 1:
        return TRANSPOSE_GROUPS.format(rank=spec.rank)
    return None


def _layer(spec: ConvSpec, data_format: str | None = None):
    """The layer for ``spec``, in ``data_format`` (default: the case's layout)."""
    layers = _keras().layers
    common = dict(kernel_size=spec.kernel, strides=spec.strides, dilation_rate=spec.dilations, use_bias=False,
                  data_format=data_format or spec.layout, dtype=spec.dtype)
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        padding, extra = convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry)
        return getattr(layers, _layer_name(spec))(spec.out_channels, padding=padding, output_padding=extra, **common)
    padding = convert.keras_padding(spec.pads, *geometry)
    if _depthwise_layer(spec):
        multiplier = spec.out_channels // spec.in_channels
        return getattr(layers, _layer_name(spec))(depth_multiplier=multiplier, padding=padding, **common)
    return getattr(layers, _layer_name(spec))(spec.out_channels, padding=padding, groups=spec.groups, **common)


def dimensions(spec: ConvSpec, family: str) -> convert.DimensionNumbers:
    """Keras's layouts: the data as handed, kernels ``[k..., in/g, out]`` (``Conv*DTranspose``:
    ``[k..., out, in]``; ``DepthwiseConv*D``: ``[k..., in, multiplier]``)."""
    return convert.dimensions_for(spec, family, "depthwise" if _depthwise_layer(spec) else "spatial_first")


ADAPTER = KerasAdapter()

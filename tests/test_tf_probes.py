"""The machine probes of the TensorFlow and Keras adapters (``parity.probes``): the accumulation decision
on fake backends, the refusal reasons, the probe and canary cases' routes, and the real probes (where
TensorFlow is installed), including TF's Eigen kernels (TF_ENABLE_ONEDNN_OPTS=0), the ones CPUs without
AVX-512 get."""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import parity
from parity import convert, probes
from parity.adapters import keras as keras_adapter
from parity.adapters import tensorflow as tf_adapter
from parity.dtypes import max_finite, np_dtype
from parity.spec import ConvSpec

ACCUMULATORS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}


# --- accumulation decision, on fakes ------------------------------------------------------------------------
def _sum(terms: np.ndarray, acc: type, order: str) -> np.ndarray:
    """Sum the last axis, rounding every addition to ``acc``: left to right, as a pairwise tree, or in 32
    lanes (each left to right) whose results are then added as a tree (SIMD kernels)."""
    terms = terms.astype(acc)
    if order == "blocked":
        lanes = np.pad(terms, [(0, 0)] * (terms.ndim - 1) + [(0, -terms.shape[-1] % 32)])
        lanes = lanes.reshape(*terms.shape[:-1], -1, 32)
        return _sum(_sum(np.moveaxis(lanes, -1, -2), acc, "sequential"), acc, "pairwise")
    if order == "sequential":
        total = np.zeros(terms.shape[:-1], acc)
        for i in range(terms.shape[-1]):
            total = (total + terms[..., i]).astype(acc)
        return total
    while terms.shape[-1] > 1:
        terms = np.pad(terms, [(0, 0)] * (terms.ndim - 1) + [(0, terms.shape[-1] % 2)])
        terms = (terms[..., 0::2] + terms[..., 1::2]).astype(acc)
    return terms[..., 0]


def _fake_conv(accumulation: str, order: str = "sequential"):
    """A forward conv2d (VALID, stride 1) that sums each output's products in ``accumulation``."""
    def compute(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), spec.kernel, axis=(2, 3))
        products = windows[:, None] * w.astype(np.float64)[None, :, :, None, None]  # (N, O, C, H, W, kh, kw)
        terms = np.moveaxis(products, 2, -3).reshape(*products.shape[:2], *products.shape[3:5], -1)
        return _sum(terms, ACCUMULATORS[accumulation], order).astype(np_dtype(spec.dtype))
    return compute


def _canary(dtype: str) -> ConvSpec:
    return probes.canary_spec(ConvSpec(spatial=(9, 9), kernel=3, dtype=dtype, layout="NHWC"), depthwise=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("order", ["sequential", "pairwise", "blocked"])
def test_sixteen_bit_accumulation_is_caught_in_any_order(dtype, order):
    canary = _canary(dtype)
    misses, size = probes.canary_misses(canary, _fake_conv(dtype, order))
    assert misses >= size // 8  # a margin: any one miss decides
    assert probes.accumulation_type(canary, _fake_conv(dtype, order)) == dtype


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("order", ["sequential", "pairwise"])
def test_float32_accumulation_is_declared_float32(dtype, order):
    assert probes.canary_misses(_canary(dtype), _fake_conv("float32", order))[0] == 0
    assert probes.accumulation_type(_canary(dtype), _fake_conv("float32", order)) == "float32"


def test_a_result_off_by_one_ulp_anywhere_is_not_float32_accumulation():
    canary = _canary("float16")

    def one_off(spec, x, w, dy):
        y = _fake_conv("float32")(spec, x, w, dy)
        y.flat[7] = np.nextafter(y.flat[7], np.inf)
        return y
    assert probes.accumulation_type(canary, one_off) == "float16"


# --- canary and probe cases: the routes they take -----------------------------------------------------------
ROUTES = [(rank, op, quantity, kind) for rank, op, quantity, kind in itertools.product(
    (1, 2, 3), ("conv", "conv_transpose"), ("output", "grad_input", "grad_weight"), ("plain", "grouped", "depthwise"))
    if not (op == "conv_transpose" and kind != "plain")]


def _route_spec(rank: int, op: str, quantity: str, kind: str, dtype: str = "float16") -> ConvSpec:
    groups = {"plain": 1, "grouped": 2, "depthwise": 4}[kind]
    return ConvSpec(spatial=(9,) * rank, kernel=3, in_channels=4, out_channels=8, groups=groups, op=op,
                    quantity=quantity, dtype=dtype, layout="channels_first")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: "-".join(map(str, r)))
def test_canary_keeps_the_route_and_its_sums_expose_sixteen_bit_accumulation(route):
    spec = _route_spec(*route)
    for depthwise in {tf_adapter.uses_depthwise_op(spec), keras_adapter._depthwise_layer(spec)}:
        canary = probes.canary_spec(spec, depthwise)
        same = ("rank", "op", "quantity", "dtype", "layout")
        assert [getattr(canary, f) for f in same] == [getattr(spec, f) for f in same]
        assert (canary.groups > 1) == (spec.groups > 1)
        assert tf_adapter.uses_depthwise_op(canary) == keras_adapter._depthwise_layer(canary) == depthwise
        assert canary.accumulation_length >= probes.CANARY_LENGTH
        operands = probes.canary_inputs(canary)
        exact = parity.exact(canary, *operands).value
        terms = parity.exact(canary, *(None if a is None else np.ones_like(a) for a in operands)).value
        full = exact[terms >= probes.CANARY_LENGTH]  # the sums of CANARY_LENGTH products or more
        assert exact.max() < max_finite("float16")
        assert full.size >= 36 and np.count_nonzero(full.astype(np.float16) != full) >= 10


def _keras_mode(spec: ConvSpec) -> str:
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    if spec.transposed:
        return convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry)[0]
    return convert.keras_padding(spec.pads, *geometry)


def test_probe_cases_take_the_cases_routes():
    """Same op, quantity, dtype, layout, channels, kernel, strides and dilations, and the same call: kind
    of padding, depthwise op or not (TF), layer and padding mode (Keras); one image of a few pixels."""
    for case in parity.collect("default"):
        spec, probe = case.spec, tf_adapter.probe_spec(case.spec)
        assert (probe.batch, tf_adapter.padding_kind(probe), tf_adapter.uses_depthwise_op(probe)) == \
            (1, tf_adapter.padding_kind(spec), tf_adapter.uses_depthwise_op(spec)), case.id
        assert probe.kernel == spec.kernel and probe.strides == spec.strides and probe.groups == spec.groups
        if keras_adapter._padding_reason(spec) is None:
            probe = keras_adapter.probe_spec(spec)
            assert keras_adapter._padding_reason(probe) is None, case.id
            assert (keras_adapter._layer_name(probe), _keras_mode(probe)) == \
                (keras_adapter._layer_name(spec), _keras_mode(spec)), case.id


# --- refusal reasons -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("message, via, reason", [
    ("{{function_node __wrapped__Conv2D_device_/job:localhost/replica:0/task:0/device:CPU:0}} The Conv2D op "
     "currently only supports the NHWC tensor format on the CPU. The op was given the format: NCHW [Op:Conv2D] name: ",
     "", "TensorFlow on CPU (Conv2D): 'The Conv2D op currently only supports the NHWC tensor format on the CPU.'"),
    ("{{function_node __wrapped___MklNativeConv3D_device_/job:localhost/replica:0/task:0/device:CPU:0}} input and "
     "filter must have the same depth: 4 vs 2 [Op:Conv3D] name: ",
     "", "TensorFlow on CPU (Conv3D): 'input and filter must have the same depth: 4 vs 2'"),
    ("Exception encountered when calling Conv2DTranspose.call().\n\n\x1b[1m{{function_node __wrapped__Conv2DBackprop"
     "Input_device_/job:localhost/replica:0/task:0/device:CPU:0}} Current CPU implementations do not yet support "
     "dilation rates larger than 1. [Op:Conv2DBackpropInput]\x1b[0m\n\nArguments received by Conv2DTranspose.call():",
     "Keras Conv2DTranspose", "TensorFlow on CPU (Keras Conv2DTranspose, Conv2DBackpropInput): 'Current CPU "
     "implementations do not yet support dilation rates larger than 1.'"),
])
def test_reason_is_one_line_quoting_tf(message, via, reason):
    assert probes.tf_reason(RuntimeError(message), via) == reason


class _Refused(Exception):
    pass


def test_refusal_counts_only_the_frameworks_errors():
    spec = ConvSpec(spatial=(5,), kernel=3)

    def refuse(*operands):
        raise _Refused("{{function_node x_device_/job:l/device:CPU:0}} No. [Op:Conv2D]")

    def crash(*operands):
        raise TypeError("a bug")
    seen = []
    assert probes.refusal(spec, lambda s, x, w, dy: seen.append((x.shape, w.shape, dy)), _Refused) is None
    assert seen == [((1, 1, 5), (1, 1, 3), None)]
    assert probes.refusal(spec, refuse, _Refused) == "TensorFlow on CPU (Conv2D): 'No.'"
    with pytest.raises(TypeError):
        probes.refusal(spec, crash, _Refused)


# --- the real probes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["tensorflow", "keras"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_real_accumulation_probe_declares_a_known_type(backend, dtype):
    pytest.importorskip(backend)
    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=4, out_channels=8, dtype=dtype, layout="NHWC")
    assert parity.adapters.get(backend).accumulation(spec) in (dtype, "float32")
    assert parity.adapters.get(backend).accumulation(ConvSpec(**{**spec.as_dict(), "dtype": "float64"})) == "float64"


_EIGEN_SCRIPT = """
import json, parity
from parity.spec import ConvSpec
from parity.adapters import keras, tensorflow
specs = {
    "nchw": ConvSpec(spatial=(7, 6), kernel=3, in_channels=3, out_channels=4, padding="SAME", layout="NCHW"),
    "conv3d_dilated": ConvSpec(spatial=(5, 5, 5), kernel=2, in_channels=2, out_channels=2, dilations=2, layout="NDHWC"),
    "grouped_grad": ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NHWC",
                             quantity="grad_weight"),
    "keras_depthwise_strides": ConvSpec(spatial=(7, 7), kernel=3, in_channels=2, out_channels=2, groups=2,
                                        strides=(1, 2), layout="NHWC"),
}
out = {}
for name, spec in specs.items():
    adapter, module = (keras.ADAPTER, keras) if name.startswith("keras") else (tensorflow.ADAPTER, tensorflow)
    reason = adapter.supports(spec)
    x, w = parity.generate(spec); dy = parity.cotangent(spec)
    passed = None if reason else parity.compare(adapter.run(spec, x, w, *([dy] if dy is not None else [])),
                                                parity.exact(spec, x, w, dy), spec.dtype).passed
    out[name] = [reason, module.native_channels_first(spec), passed]
print(json.dumps(out))
"""


def test_eigen_kernels_refusals_are_declared_and_channels_first_is_converted():
    """TF's Eigen CPU kernels (oneDNN off: what CPUs without AVX-512 run) refuse these calls: the adapters
    must declare TF's words, and compute the channels-first case by converting its layout."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("keras")
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _EIGEN_SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["nchw"] == [None, False, True]
    assert out["conv3d_dilated"][0] == ("TensorFlow on CPU (Conv3D): "
                                        "'CPU implementation of Conv3D currently only supports dilated rates of 1.'")
    assert out["grouped_grad"][0] == ("TensorFlow on CPU (Conv2DBackpropInput): "
                                      "'Gradients for grouped convolutions are not supported on CPU.'")
    assert out["keras_depthwise_strides"][0] == (
        "TensorFlow on CPU (Keras DepthwiseConv2D, DepthwiseConv2dNative): "
        "'Current implementation only supports equal length strides in the row and column dimensions.'")

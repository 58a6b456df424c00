"""The jax, onnxruntime, keras and pytensor adapters: skips when absent, their translations, and targeted
cases against the exact reference (each skipped where its framework is not installed)."""
from __future__ import annotations

import numpy as np
import pytest

import parity
from parity import adapters
from parity.core import convert
from parity.core.spec import ConvSpec

NEW = ("jax", "onnxruntime", "keras", "pytensor")
MODULE = {"jax": "jax", "onnxruntime": "onnxruntime", "keras": "keras", "pytensor": "pytensor"}


def _run(backend: str, spec: ConvSpec) -> np.ndarray:
    """Run ``spec`` on ``backend`` and return the result after checking shape, dtype and the bound."""
    pytest.importorskip(MODULE[backend])
    adapter = adapters.get(backend)
    assert adapter.supports(spec) is None, adapter.supports(spec)
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    y = adapter.run(spec, x, w, *(() if dy is None else (dy,)))
    assert y.shape == spec.result_shape and y.dtype == x.dtype
    comparison = parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype)
    assert comparison.passed, comparison
    return y


@pytest.mark.parametrize("name", NEW)
def test_missing_framework_is_a_skip_with_reason(monkeypatch, name):
    monkeypatch.setattr("importlib.util.find_spec", lambda module, *a: None)
    reason = adapters.get(name).available()
    assert reason and MODULE[name] in reason and "pip install" in reason


# --- pure translations ---------------------------------------------------------------------------------------
def test_jax_dimension_numbers():
    from parity.adapters.jax import dimensions

    def spec(rank: int, layout: str) -> ConvSpec:
        return ConvSpec(spatial=(4,) * rank, kernel=1, layout=layout)

    assert dimensions(spec(1, "NCW")).strings == ("NCW", "OIW", "NCW")
    assert dimensions(spec(2, "NHWC")).strings == ("NHWC", "HWIO", "NHWC")
    assert dimensions(spec(3, "NDHWC")).strings == ("NDHWC", "DHWIO", "NDHWC")


@pytest.mark.parametrize("padding, expected", [
    ("VALID", {"auto_pad": "VALID"}),
    ("SAME", {"auto_pad": "SAME_UPPER"}),  # 9 -> 5 with k=4, s=2: pads (1, 2)
    ("SAME_LOWER", {"auto_pad": "SAME_LOWER"}),
    (((0, 2),), {"pads": [0, 2]}),
    ("FULL", {"pads": [3, 3]}),
])
def test_onnx_conv_padding(padding, expected):
    spec = ConvSpec(spatial=(9,), kernel=4, strides=2, padding=padding)
    assert convert.onnx_conv_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations) == expected


@pytest.mark.parametrize("kernel, strides, padding, extra, expected", [
    (4, 2, "SAME", 0, {"auto_pad": "SAME_UPPER"}),  # crop (1, 1) of 12 -> 10
    (3, 2, "SAME", 0, {"auto_pad": "SAME_UPPER"}),  # crop (0, 1) of 11 -> 10
    (3, 2, "SAME", 1, {"pads": [0, 0]}),  # SAME + output_padding: explicit; crop (0, 1) then grow 1
    (3, 1, ((0, 2),), 1, {"pads": [0, 1]}),  # ORT wants output_padding < max(stride, dilation)
    (3, 2, "VALID", 1, {"auto_pad": "VALID", "output_padding": [1]}),
    (1, 3, "SAME", 0, {"pads": [0, 0], "output_padding": [2]}),  # full 13 extended to 15
    (3, 2, ((1, 0),), 0, {"auto_pad": "SAME_LOWER"}),  # the odd crop at the start
    (3, 2, ((1, 1),), 0, {"pads": [1, 1]}),
])
def test_onnx_transpose_padding(kernel, strides, padding, extra, expected):
    spec = ConvSpec(op="conv_transpose", spatial=(5,), kernel=kernel, strides=strides, padding=padding,
                    output_padding=extra)
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    assert convert.onnx_transpose_padding(spec.pads, spec.output_padding, *geometry) == expected


@pytest.mark.parametrize("padding, expected", [("VALID", "valid"), ("SAME", "same"), ("CAUSAL", "causal"),
                                               ("SAME_LOWER", None), ("FULL", None)])
def test_keras_padding(padding, expected):
    spec = ConvSpec(spatial=(9,), kernel=4, padding=padding)
    assert convert.keras_padding(spec.pads, spec.spatial, spec.kernel, spec.strides, spec.dilations) == expected


@pytest.mark.parametrize("kernel, padding, extra, expected", [
    (3, "SAME", 0, ("same", None)),
    (3, "VALID", 1, ("valid", (1,))),
    (4, ((1, 2),), 0, ("same", (1,))),  # Keras 'same' with output_padding: (n-1)s + span % 2 + op = 9
    (3, ((1, 1),), 1, None),  # PyTorch padding=1, output_padding=1: TF's SAME crops (0, 1) instead
])
def test_keras_transpose_args(kernel, padding, extra, expected):
    spec = ConvSpec(op="conv_transpose", spatial=(5,), kernel=kernel, strides=2, padding=padding, output_padding=extra)
    geometry = (spec.spatial, spec.kernel, spec.strides, spec.dilations)
    assert convert.keras_transpose_args(spec.pads, spec.output_padding, *geometry) == expected


def test_undilate_and_negated_pads_undo_dilate_and_pad():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(convert.undilate_spatial(convert.dilate_spatial(a, (2, 3)), (2, 3)), a)
    pads = ((1, 2), (0, 3))
    np.testing.assert_array_equal(convert.pad_array(convert.pad_array(a, pads), convert.negate_pads(pads)), a)


# --- targeted cases against the exact reference -----------------------------------------------------------
@pytest.mark.parametrize("backend", NEW)
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_asymmetric_same_stride2(backend, layout):
    spec = ConvSpec(spatial=(15, 16), kernel=4, in_channels=3, out_channels=4, strides=2, padding="SAME",
                    layout=layout, distribution="int")  # pads (1, 2) and (1, 1): an exact 0-ULP check
    _run(backend, spec)  # Keras channels-first too: natively where TF takes it, else converted by the adapter


@pytest.mark.parametrize("backend", NEW)
def test_transposed_same_stride2(backend):
    spec = ConvSpec(op="conv_transpose", spatial=(5, 6), kernel=3, in_channels=3, out_channels=4, strides=2,
                    padding="SAME", layout="NHWC")  # crop (0, 1): the one PyTorch cannot express natively
    _run(backend, spec)


@pytest.mark.parametrize("backend", ["jax", "keras", "pytensor"])
@pytest.mark.parametrize("quantity", ["grad_input", "grad_weight"])
def test_gradients(backend, quantity):
    spec = ConvSpec(spatial=(11,), kernel=3, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME",
                    layout="NWC", quantity=quantity, dtype="float64")
    _run(backend, spec)


def test_onnxruntime_declares_gradients_and_dtypes():
    adapter = adapters.get("onnxruntime")
    assert adapter.supports(ConvSpec(spatial=(5,), kernel=3, quantity="grad_input")) == \
        "onnxruntime: inference only, no gradients"
    assert "Could not find an implementation for ConvTranspose(22)" in \
        adapter.supports(ConvSpec(op="conv_transpose", spatial=(5,), kernel=3, dtype="float64"))


def test_onnxruntime_dilated_same_runs_as_explicit_pads():
    _run("onnxruntime", ConvSpec(spatial=(9, 8), kernel=3, in_channels=2, out_channels=2, dilations=2,
                                 padding="SAME", dtype="float16"))


@pytest.mark.parametrize("crop", [(1, 0), (0, 1)], ids=["same-lower", "same-upper"])
def test_onnxruntime_transposed_auto_pad_sides(crop):
    """onnxruntime #8769 once swapped SAME_UPPER and SAME_LOWER for ConvTranspose."""
    _run("onnxruntime", ConvSpec(op="conv_transpose", spatial=(5, 4), kernel=3, in_channels=2, out_channels=3,
                                 strides=2, padding=(crop, crop), distribution="int"))


def test_keras_causal_dilated():
    spec = ConvSpec(spatial=(20,), kernel=3, in_channels=2, out_channels=3, dilations=4, padding="CAUSAL",
                    layout="NWC", batch=3, distribution="int")
    _run("keras", spec)


def test_keras_depthwise_kernel_layout():
    """DepthwiseConv2D's kernel is [kh, kw, in, multiplier]: output channel c*M + m reads input channel c."""
    keras = pytest.importorskip("keras")
    from parity.adapters.keras import _layer, dimensions

    spec = ConvSpec(spatial=(7, 6), kernel=(3, 2), in_channels=3, out_channels=6, groups=3, padding="SAME",
                    layout="NHWC", distribution="int")
    layer = _layer(spec)
    assert isinstance(layer, keras.layers.DepthwiseConv2D)
    x, w = parity.generate(spec)
    layer.build((spec.batch, *spec.spatial, spec.in_channels))
    assert tuple(layer.kernel.shape) == (3, 2, 3, 2) == dimensions(spec, spec.layout).kernel_from_canonical(w, 3).shape
    _run("keras", spec)
    _run("keras", ConvSpec(**{**spec.as_dict(), "quantity": "grad_weight"}))


@pytest.mark.parametrize("spec, words", [
    (ConvSpec(spatial=(9,), kernel=3, padding="FULL", layout="NWC"), "padding must be 'valid', 'same' or 'causal'"),
    (ConvSpec(spatial=(9,), kernel=3, in_channels=2, out_channels=2, groups=2, padding="CAUSAL", layout="NWC"),
     "DepthwiseConv1D padding must be 'valid' or 'same'"),
    (ConvSpec(spatial=(9, 9), kernel=3, strides=2, dilations=2, layout="NHWC"), "`strides > 1` not supported"),
    (ConvSpec(op="conv_transpose", spatial=(5,), kernel=3, in_channels=2, out_channels=2, groups=2, layout="NWC"),
     "no groups argument"),
])
def test_keras_declares_what_the_layers_cannot_express(spec, words):
    pytest.importorskip("keras")
    assert words in adapters.get("keras").supports(spec)


def test_pytensor_declares_rank3_and_bfloat16():
    adapter = adapters.get("pytensor")
    assert "no 3-D convolution" in adapter.supports(ConvSpec(spatial=(4, 4, 4), kernel=2))
    assert "bfloat16" in adapter.supports(ConvSpec(spatial=(4,), kernel=2, dtype="bfloat16"))


def test_pytensor_strided_dilated_transposed():
    spec = ConvSpec(op="conv_transpose", spatial=(6, 5), kernel=3, in_channels=4, out_channels=6, groups=2,
                    strides=2, dilations=2, padding=((1, 0), (2, 1)), output_padding=1)
    _run("pytensor", spec)

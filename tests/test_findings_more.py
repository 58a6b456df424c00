"""Behaviour of ONNX Runtime, Keras and PyTensor that the new adapters rely on or report, checked against
the installed frameworks (each test skips where its framework is absent).

If one of these starts failing after an upgrade, the framework changed: update the adapter's declared
limits (or routing) and the reported findings, not the assertion.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters import _onnx
from parity.adapters import keras as keras_adapter
from parity.adapters import onnxruntime as ort_adapter
from parity.adapters import pytensor as pytensor_adapter
from parity.core.dtypes import np_dtype
from parity.core.spec import ConvSpec
from refusals import refusal


def _quoted(reason: str) -> str:
    """The part of a declared reason that quotes the framework."""
    return reason.split("'")[1]


def _tf_quoted(reason: str) -> str:
    """The part of a probed TensorFlow reason that quotes TF (its words may hold apostrophes)."""
    return reason.split(": '", 1)[1].removesuffix("'")


def _tf_refusal(tf, call) -> str | None:
    """TF's message if ``call`` raises a TF op error, None if TF runs it."""
    try:
        call()
    except tf.errors.OpError as error:
        return str(error)
    return None


def _raised(call) -> str:
    with pytest.raises(Exception) as info:
        call()
    return str(info.value)


def _passes(backend: str, spec: ConvSpec) -> bool:
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    y = adapters.get(backend).run(spec, x, w, *(() if dy is None else (dy,)))
    return parity.compare(y, parity.exact(spec, x, w, dy), spec.dtype).passed


# --- ONNX Runtime -------------------------------------------------------------------------------------------
def _ort_session(op: str, dtype: np.dtype, x_shape, w_shape, **attributes):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    helper = onnx.helper
    element = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph([helper.make_node(op, ["X", "W"], ["Y"], **attributes)], "finding",
                              [helper.make_tensor_value_info("X", element, x_shape),
                               helper.make_tensor_value_info("W", element, w_shape)],
                              [helper.make_tensor_value_info("Y", element, None)])
    opset = helper.make_opsetid("", ort_adapter.OPSET)
    model = helper.make_model(graph, opset_imports=[opset], ir_version=helper.find_min_ir_version_for([opset]))
    return model, lambda: ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_ort_conv_refuses_auto_pad_same_with_dilation():
    """ONNX allows auto_pad SAME_* with dilations; ORT's CPU Conv refuses it at run time. The adapter passes
    the same padding as explicit pads instead, which ORT computes correctly."""
    _, session = _ort_session("Conv", np.float32, [1, 2, 9, 8], [2, 2, 3, 3], kernel_shape=[3, 3],
                              dilations=[2, 2], auto_pad="SAME_UPPER")
    x, w = np.ones((1, 2, 9, 8), np.float32), np.ones((2, 2, 3, 3), np.float32)
    message = _raised(lambda: session().run(None, {"X": x, "W": w}))
    assert "Dilation not supported for AutoPadType::SAME_UPPER or AutoPadType::SAME_LOWER" in message
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=2, out_channels=2, dilations=2, padding="SAME")
    assert "pads" in _onnx.attributes(spec) and _passes("onnxruntime", spec)


def test_onnx_shape_inference_disagrees_with_ort_on_same_transpose_with_output_padding():
    """ConvTranspose auto_pad SAME_UPPER, strides 2, output_padding 1 on 5x6: the ONNX spec and ORT give
    n*s = 10x12, onnx's shape inference n*s + output_padding = 11x13 (ORT warns 'Error merging shape
    info'). The adapter therefore spells SAME with output_padding as explicit pads."""
    onnx = pytest.importorskip("onnx")
    model, session = _ort_session("ConvTranspose", np.float32, [1, 3, 5, 6], [3, 4, 3, 3], kernel_shape=[3, 3],
                                  strides=[2, 2], auto_pad="SAME_UPPER", output_padding=[1, 1])
    inferred = onnx.shape_inference.infer_shapes(model).graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in inferred] == [1, 4, 11, 13]
    (y,) = session().run(None, {"X": np.ones((1, 3, 5, 6), np.float32), "W": np.ones((3, 4, 3, 3), np.float32)})
    assert y.shape == (1, 4, 10, 12)


@pytest.mark.parametrize("op", ["Conv", "ConvTranspose"])
@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_ort_cpu_dtype_refusals_quote_ort(op, dtype):
    spec = ConvSpec(op="conv_transpose" if op == "ConvTranspose" else "conv", spatial=(5,), kernel=3, dtype=dtype)
    _, session = _ort_session(op, np_dtype(dtype), [1, 1, 5], [1, 1, 3], kernel_shape=[3])
    reason = ort_adapter.ADAPTER.supports(spec)
    assert _quoted(reason) in _raised(session)


@pytest.mark.parametrize("dilation, quote", [(1, 1), (2, 3)], ids=["first-check", "shape-check"])
def test_ort_transpose_output_padding_limit_quotes_ort(dilation, quote):
    """ORT requires output_padding < stride in effect (ONNX states no limit; PyTorch allows < dilation too)."""
    _, session = _ort_session("ConvTranspose", np.float32, [1, 1, 5], [1, 1, 3], kernel_shape=[3], output_padding=[1],
                              dilations=[dilation])
    message = _raised(lambda: session().run(None, {"X": np.ones((1, 1, 5), np.float32),
                                                   "W": np.ones((1, 1, 3), np.float32)}))
    assert ort_adapter.OUTPUT_PADDING.split("'")[quote] in message
    spec = ConvSpec(op="conv_transpose", spatial=(5,), kernel=3, dilations=dilation, output_padding=1)
    assert ort_adapter.ADAPTER.supports(spec) == ort_adapter.OUTPUT_PADDING


# --- Keras on TensorFlow ------------------------------------------------------------------------------------
def test_keras_conv_refuses_strides_with_dilation():
    keras = pytest.importorskip("keras")
    message = _raised(lambda: keras.layers.Conv2D(2, 3, strides=2, dilation_rate=2))
    assert _quoted(keras_adapter.STRIDED_DILATION) in message


def _keras_spec(layer: str, **fields) -> ConvSpec:
    rank = int(layer[4])
    op = "conv_transpose" if layer.endswith("Transpose") else "conv"
    return ConvSpec(**{"op": op, "spatial": (4,) * rank, "kernel": 2, "in_channels": 2, "out_channels": 2, **fields})


@pytest.mark.parametrize("layer", ["Conv1D", "Conv2DTranspose", "Conv3DTranspose"])
def test_keras_channels_first_runs_natively_or_converted(layer):
    """TF's Eigen CPU kernels refuse these layers channels-first ('The Conv2D op currently only supports the
    NHWC tensor format on the CPU.', 'Conv2DCustomBackpropInputOp only supports NHWC.',
    'Conv3DBackpropInputOpV2 only supports NDHWC on the CPU.'); the adapter passes channels-first data where
    the layer takes it here, else builds the layer channels-last and converts the data itself."""
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    spec = _keras_spec(layer, layout="channels_first")
    conv = getattr(keras.layers, layer)(2, 2, data_format="channels_first")
    message = _tf_refusal(tf, lambda: conv(np.ones(spec.input_shape, np.float32)))
    assert keras_adapter.native_channels_first(spec) == (message is None)
    assert refusal("keras", spec) is None and _passes("keras", spec)
    if message is None:
        pytest.skip(f"Keras ran {layer} channels-first on this CPU (oneDNN): the refusal is not a finding here")
    assert re.search(r"only supports (the )?N(D)?HWC", message)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keras_depthwise_unequal_strides(dtype):
    keras = pytest.importorskip("keras")
    tf = pytest.importorskip("tensorflow")
    conv = keras.layers.DepthwiseConv2D(3, strides=(1, 2), dtype=dtype)
    message = _tf_refusal(tf, lambda: conv(np.ones((1, 7, 7, 2), dtype)))
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=2, out_channels=2, groups=2, strides=(1, 2), layout="NHWC",
                    dtype=dtype)
    reason = refusal("keras", spec)
    if message is None:
        assert reason is None and _passes("keras", spec)
        pytest.skip(f"Keras ran DepthwiseConv2D with strides (1, 2) on this CPU ({dtype}): no refusal here")
    assert reason is not None and _tf_quoted(reason) in message
    assert "only supports equal length strides in the row and column dimensions" in message


def test_keras_runs_what_tf_refuses_or_gets_wrong():
    """Keras routes around TF's CPU kernels: grouped convs are compiled with XLA (their gradients work
    everywhere; tf.nn.conv2d's are refused by TF's Eigen kernels), and depthwise convs with strides and
    dilations > 1 run dilated at stride 1 and are subsampled (tf.nn.depthwise_conv2d returns wrong values,
    tests/test_findings.py)."""
    pytest.importorskip("keras")
    grouped = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, groups=2, layout="NHWC",
                       quantity="grad_weight")
    assert refusal("keras", grouped) is None and _passes("keras", grouped)
    tf_reason = refusal("tensorflow", grouped)
    assert tf_reason is None and _passes("tensorflow", grouped) or \
        "Gradients for grouped convolutions are not supported on CPU." in tf_reason
    depthwise = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=8, groups=4, strides=2, dilations=2,
                         padding="SAME", layout="NHWC", batch=2)
    assert refusal("keras", depthwise) is None and _passes("keras", depthwise)


# --- PyTensor -----------------------------------------------------------------------------------------------
def test_pytensor_refusals_quote_pytensor():
    pytest.importorskip("pytensor")
    import pytensor
    import pytensor.tensor as pt
    from pytensor.tensor.signal import convolve2d

    assert _quoted(pytensor_adapter.NO_BFLOAT16) in _raised(lambda: pt.tensor("x", dtype="bfloat16", shape=(2,)))
    x, w = pt.tensor("x", dtype="float16", shape=(5, 5)), pt.tensor("w", dtype="float16", shape=(3, 3))
    f = pytensor.function([x, w], convolve2d(x, w, mode="valid", method="direct"), mode=pytensor_adapter.MODE)
    message = _raised(lambda: f(np.ones((5, 5), np.float16), np.ones((3, 3), np.float16)))
    assert _quoted(pytensor_adapter.NO_FLOAT16_2D) in message


def test_xla_cpu_float32_weight_gradient_with_a_low_crop_and_high_pad_is_wrong():
    """Finding (hypothesis explore, jax 0.10.2): d/dw of lax.conv_general_dilated with padding (-1, 1) on
    2 images of 2 channels is 0.44 off in float32, exact in float64; the runner reports such cases as known
    (a transposed conv's crop beyond its kernel, e.g. crop (1, 0) and output_padding 1 with a 1-tap kernel)."""
    jax = pytest.importorskip("jax")
    from jax import lax

    from parity.running.registry import Case
    from parity.running.runner import CaseRun

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x, w, dy = rng.standard_normal((2, 2, 4)), rng.standard_normal((2, 2, 1)), rng.standard_normal((2, 2, 4))

    def grad(dtype):
        conv = lambda k: lax.conv_general_dilated(x.astype(dtype), k, (1,), [(-1, 1)],  # noqa: E731
                                                  dimension_numbers=("NCH", "OIH", "NCH"))
        return np.asarray(jax.vjp(conv, w.astype(dtype))[1](dy.astype(dtype))[0], np.float64)

    off = np.abs(grad(np.float32) - grad(np.float64)).max()
    if off < 1e-3:  # float32 rounding of these sums stays below 1e-5; the bug was 0.44 off here
        pytest.skip(f"XLA:CPU computes this float32 weight gradient right on this CPU (off by {off:.1e})")
    spec = ConvSpec(spatial=(4,), kernel=1, in_channels=2, out_channels=2, batch=2, padding=((1, 0),),
                    op="conv_transpose", quantity="grad_weight", output_padding=1)
    result = CaseRun(Case(spec.slug(), spec)).against_reference("jax")
    assert result.status == "known" and "crops at the start and pads at the end" in result.reason
    assert adapters.get("jax").known(ConvSpec(**{**spec.as_dict(), "dtype": "float64"})) is None
    assert adapters.get("jax").known(ConvSpec(**{**spec.as_dict(), "quantity": "grad_input"})) is None


def test_keras_adds_a_channels_first_bias_along_the_width_when_the_output_is_as_wide_as_its_filters():
    """README, "Porting a layer": keras.ops.add on TensorFlow takes a (1, C, 1, 1) bias for an NHWC one whenever
    the last axis has C elements (its tf.nn.bias_add shortcut). Zero input and kernel: the output is the bias."""
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "tensorflow":
        pytest.skip(f"the shortcut is the TensorFlow backend's; Keras runs on {keras.backend.backend()}")
    layer = keras.layers.Conv2D(8, 3, strides=2, padding="same", data_format="channels_first")
    layer.build((None, 3, None, None))
    layer.set_weights([np.zeros((3, 3, 3, 8), np.float32), np.arange(8, dtype=np.float32)])
    wide = np.asarray(layer(np.zeros((1, 3, 16, 16), np.float32)))  # 8x8 outputs of 8 channels
    narrow = np.asarray(layer(np.zeros((1, 3, 17, 17), np.float32)))  # 9x9
    np.testing.assert_array_equal(wide[0, :, 0, :], np.tile(np.arange(8), (8, 1)))  # bias[w], not bias[c]
    np.testing.assert_array_equal(narrow[0, :, 0, 0], np.arange(8))
    found = parity.check_layers(layer, layer, input_size=16)
    assert "a does not compute its own stated convolution here" in found.format()

"""The ``tensorflow_xla``, ``litert_xnnpack`` and ``litert_ref`` backends: what they run, what they refuse in
their frameworks' words, and the behaviour they found (each test skips where its framework is absent).

If a test of a framework's behaviour starts failing after an upgrade, the framework changed: update the
adapter's notes and the reported findings, not the assertion.
"""
from __future__ import annotations

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters import _litert as litert
from parity.adapters import tensorflow as eager
from parity.adapters import tensorflow_xla as xla
from parity.adapters.base import Refused
from parity.core.spec import ConvSpec

needs_tf = pytest.mark.skipif(xla.ADAPTER.available() is not None, reason=str(xla.ADAPTER.available()))
_LITERT = adapters.get("litert_ref").available()
needs_litert = pytest.mark.skipif(_LITERT is not None, reason=str(_LITERT))


def _spec(**fields) -> ConvSpec:
    base = dict(spatial=(9, 9), kernel=3, in_channels=8, out_channels=8, batch=2, layout="channels_last")
    return ConvSpec(**{**base, **fields})


def _run(backend: str, spec: ConvSpec) -> tuple[np.ndarray, parity.Reference]:
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    return adapters.get(backend).run(spec, x, w, dy), parity.exact(spec, x, w, dy)


def _off(y: np.ndarray, ref: parity.Reference) -> int:
    """Elements that are not the exact result rounded once to the case's dtype."""
    return int((y != np.asarray(ref.value).astype(y.dtype)).sum())


def _passes(backend: str, spec: ConvSpec) -> bool:
    y, ref = _run(backend, spec)
    return parity.compare(y, ref, spec.dtype).passed


# --- TensorFlow XLA -----------------------------------------------------------------------------------------
@needs_tf
def test_xla_compiles_once_per_geometry():
    spec = _spec(strides=2, padding="SAME", distribution="normal")
    assert _passes("tensorflow_xla", spec)
    function = xla.compiled(xla.geometry(spec), False)
    assert _passes("tensorflow_xla", ConvSpec(**{**spec.as_dict(), "distribution": "int", "seed": 3}))
    assert xla.compiled(xla.geometry(spec), False) is function
    assert function.experimental_get_tracing_count() == 1


@needs_tf
@pytest.mark.parametrize("fields", [
    dict(quantity="grad_weight"),
    dict(spatial=(5, 5, 5), kernel=3, in_channels=16, batch=1),
    dict(groups=8),
    dict(spatial=(6, 6), in_channels=16, strides=2, op="conv_transpose", batch=1),
], ids=["conv2d-grad_weight", "conv3d", "depthwise", "conv2d_transpose"])
def test_xla_rounds_float16_once_where_eager_tf_sums_in_float16(fields):
    """Finding: the same TF calls under jit_compile are correctly rounded in float16 (XLA's CPU compiler
    converts the convolution to float32), where eager TF's Eigen float16 kernels sum in float16 (measured
    on the README's machine: 342/576, 165/216, 297/784 and 545/1352 elements off; eager TF's arithmetic
    depends on the CPU and thread count, so only XLA's is asserted)."""
    spec = _spec(dtype="float16", distribution="canary", **fields)
    assert _off(*_run("tensorflow_xla", spec)) == 0


@needs_tf
def test_xla_runs_what_tf_cpu_kernels_refuse():
    """Eager TF (Eigen) refuses dilated float64 Conv3D on the CPU; XLA compiles and passes it."""
    spec = _spec(spatial=(7, 7, 7), dilations=2, dtype="float64", batch=1)
    with pytest.raises(Refused, match="only supports dilated rates of 1"):
        _run("tensorflow", spec)
    assert _passes("tensorflow_xla", spec)


@needs_tf
def test_xla_channels_first_routes_are_learnt_apart_from_eager_tf():
    spec = _spec(layout="channels_first")
    assert xla.route(spec) == ("xla", eager.route(spec))
    assert _passes("tensorflow_xla", spec)


# --- LiteRT -------------------------------------------------------------------------------------------------
def test_delegated_nodes_are_those_between_a_delegate_nodes_inputs_and_outputs():
    def node(index, name, inputs, outputs):
        return {"index": index, "op_name": name, "inputs": np.array(inputs), "outputs": np.array(outputs)}

    chain = [node(0, "RESHAPE", [0, 1], [2]), node(1, "CONV_2D", [2, 3, 4], [5]), node(2, "RESHAPE", [5, 6], [7])]
    assert litert.delegated([*chain, node(3, "DELEGATE", [0, 1, 3, 4, 6], [7])]) == {0, 1, 2}
    assert litert.delegated([*chain, node(3, "DELEGATE", [0, 1], [2]), node(4, "DELEGATE", [5, 6], [7])]) == {0, 2}
    assert litert.delegated(chain) == set()


def test_converter_words_quote_the_first_line_and_the_error_code():
    class Data:
        class ErrorCode:
            @staticmethod
            def Name(code):
                return {7: "ERROR_NEEDS_FLEX_OPS"}[code]

        error_code, error_message = 7, "'tf.Conv2D' op is neither a custom op nor a flex op\nsee current operation"

    error = Exception("long text")
    error.errors = [Data()]
    assert litert.converter_words(error, "2.21.0") == (
        "TFLite converter (TensorFlow 2.21.0): ''tf.Conv2D' op is neither a custom op nor a flex op' "
        "(ERROR_NEEDS_FLEX_OPS)")
    plain = ValueError("Unsupported TensorFlow type `<dtype: 'bfloat16'>` provided")
    assert litert.converter_words(plain, "2.21.0").endswith("provided'")


@needs_litert
@pytest.mark.parametrize("backend", ["litert_xnnpack", "litert_ref"])
@pytest.mark.parametrize("fields", [
    dict(), dict(strides=2, padding="SAME"), dict(groups=8), dict(groups=2),
    dict(dilations=2, padding=((1, 2), (0, 1))),
    dict(spatial=(11,), kernel=3, strides=2, padding="CAUSAL"), dict(op="conv_transpose", strides=2, padding="SAME"),
    dict(quantity="grad_input", strides=2), dict(layout="channels_first"), dict(dtype="float16", distribution="canary"),
], ids=["plain", "same-s2", "depthwise", "grouped", "dilated-explicit", "conv1d-causal", "transpose", "grad_input",
        "nchw", "float16-canary"])
def test_litert_passes(backend, fields):
    assert _passes(backend, _spec(**fields))


@needs_litert
def test_one_conversion_per_geometry_serves_both_backends_and_every_kernel():
    spec = _spec(strides=2, padding="SAME")
    litert.converted.cache_clear()
    for backend in ("litert_xnnpack", "litert_ref"):
        for distribution in ("normal", "int", "sparse"):
            assert _passes(backend, ConvSpec(**{**spec.as_dict(), "distribution": distribution}))
    assert litert.converted.cache_info().misses == 1


@needs_litert
def test_a_written_kernel_gives_what_converting_that_kernel_gives():
    """The placeholder-order write is the converter's own model of the case's kernel: bit-identical results."""
    tf = pytest.importorskip("tensorflow")
    spec = _spec(strides=2, padding="SAME", op="conv_transpose", batch=1)
    x, w = parity.generate(spec)
    kernel = tf.constant(np.moveaxis(w, (0, 1), (-1, -2)))
    program = xla.program(spec, channels_first=False)
    function = tf.function(lambda data: program(data, kernel))
    signature = tf.TensorSpec((1, 9, 9, 8), tf.float32, name="data")
    direct = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function(signature)],
                                                            function).convert()
    adapter = adapters.get("litert_ref")
    operands = {"data": np.moveaxis(x, 1, -1)}
    patched = adapter._invoke(litert.converted(xla.geometry(spec)).with_kernel(w), operands)
    assert np.array_equal(patched, adapter._invoke(direct, operands))


@needs_litert
@pytest.mark.parametrize("fields, words", [
    (dict(dtype="float64"), "'tf.Conv2D' op is neither a custom op nor a flex op' (ERROR_NEEDS_FLEX_OPS)"),
    (dict(dtype="bfloat16"), "Unsupported TensorFlow type `<dtype: 'bfloat16'>` provided for the input type"),
    (dict(quantity="grad_weight"), "'tf.Conv2DBackpropFilter' op is neither a custom op nor a flex op'"),
    (dict(quantity="grad_input", dilations=2), "'tf.Conv2DBackpropInput' op is neither a custom op nor a flex op'"),
    (dict(spatial=(5, 6, 7), groups=2, batch=1), "'tf.Conv3D' op is neither a custom op nor a flex op'"),
], ids=["float64", "bfloat16", "grad_weight", "dilated-grad_input", "grouped-conv3d"])
def test_litert_refuses_in_the_converters_words(fields, words):
    for backend in ("litert_xnnpack", "litert_ref"):
        with pytest.raises(Refused, match="^TFLite converter") as refusal:
            _run(backend, _spec(**fields))
        assert words in str(refusal.value)


@needs_litert
def test_converter_fails_on_channels_first_conv1d_so_it_runs_channels_last():
    """Finding: TF 2.21's converter fails on a channels-first ``tf.nn.conv1d`` graph with its own verifier
    error (NCW conv1d is a conv2d on an expanded axis; the transpose it inserts keeps the wrong rank); the
    channels-last graph of the same case converts and passes."""
    spec = _spec(spatial=(11,), kernel=3, strides=2, padding="SAME", layout="channels_first")
    refusal = litert._converted(xla.geometry(spec), channels_first=True)
    assert "'tfl.transpose' op expect output type tensor<2x8x1x6xf32>, got tensor<2x8x6xf32>" in refusal
    assert litert.converted(xla.geometry(spec)).channels_first is False
    assert _passes("litert_ref", spec) and _passes("litert_xnnpack", spec)


@needs_litert
@pytest.mark.parametrize("fields", [dict(spatial=(5, 6, 7), batch=1),
                                    dict(spatial=(3, 4, 5), op="conv_transpose", strides=2, batch=1)],
                         ids=["CONV_3D", "CONV_3D_TRANSPOSE"])
def test_xnnpack_leaves_3d_convolutions_to_the_builtin_kernels(fields, request):
    spec = _spec(**fields)
    with pytest.raises(Refused, match=f"XNNPACK delegate did not take {request.node.callspec.id}"):
        _run("litert_xnnpack", spec)
    assert _passes("litert_ref", spec)


@needs_litert
def test_float16_cases_run_as_float16_weights_dequantized_to_float32():
    spec = _spec(dtype="float16", distribution="canary")
    model = litert.converted(xla.geometry(spec))
    assert [view.dtype for view in litert.filter_buffers(bytearray(model.content))] == [np.float16]
    for backend in ("litert_xnnpack", "litert_ref"):
        assert _off(*_run(backend, spec)) == 0  # float32 arithmetic, rounded once to float16 by the adapter


@needs_tf
def test_tf_graph_shape_inference_swaps_the_h_and_w_dilations_of_conv3d():
    """Finding (tensorflow-cpu 2.21): traced ``tf.nn.conv3d`` infers its static shape with the H and W
    dilations exchanged (eager and every kernel compute the right shape). Where that makes a size negative,
    tracing refuses a valid call; the TFLite converter, which re-infers shapes, refuses the traced graph."""
    tf = eager._tf()
    x, w = tf.zeros((1, 5, 5, 5, 1)), tf.zeros((3, 3, 3, 1, 1))
    call = tf.function(lambda a, b: tf.nn.conv3d(a, b, [1] * 5, "VALID", dilations=[1, 1, 2, 1, 1]))
    assert tuple(call.get_concrete_function(x, w).structured_outputs.shape) == (1, 3, 3, 1, 1)
    assert tuple(call(x, w).shape) == (1, 3, 1, 3, 1)
    tiny = _spec(spatial=(1, 1, 2), kernel=(1, 1, 2), dilations=(1, 2, 1), in_channels=1, out_channels=1, batch=1)
    with pytest.raises(Refused, match="graph construction: Negative dimension size caused by subtracting 3 from 2"):
        _run("tensorflow_xla", tiny)
    assert _passes("tensorflow", tiny)
    assert _passes("tensorflow_xla", _spec(spatial=(5, 6, 7), dilations=(1, 2, 1), batch=1))


@needs_litert
def test_converter_refuses_the_conv3d_graph_whose_static_shape_tf_inferred_wrong():
    spec = _spec(spatial=(5, 6, 7), dilations=(1, 2, 1), batch=1)
    with pytest.raises(Refused, match="'tf.Conv3D' op failed to infer returned types"):
        _run("litert_ref", spec)


@needs_litert
@pytest.mark.parametrize("backend", ["litert_ref", "litert_xnnpack"])
@pytest.mark.parametrize("padding, shape", [(((1, 1), (1, 1)), (7, 7)), (((2, 0), (0, 1)), (7, 6)),
                                            (((2, 2), (2, 2)), None), ("SAME", None), ("VALID", None)])
def test_converter_gives_dilated_depthwise_convs_same_padding_whatever_their_padding(backend, padding, shape):
    """Finding (found by hypothesis): TF lowers a dilated tf.nn.depthwise_conv2d to SpaceToBatchND,
    DepthwiseConv2dNative, BatchToSpaceND; the TFLite converter fuses them into one DEPTHWISE_CONV_2D with
    SAME padding, so explicit padding yields the input's size (9x9 here) and wrong values. Explicit pads that
    are SAME's, SAME and VALID come out right. Declared as known; the run reports it as such."""
    spec = _spec(spatial=(9, 9), in_channels=4, out_channels=8, groups=4, dilations=2, padding=padding)
    assert litert.explicit_dilated_depthwise(spec) is (shape is not None)
    y, ref = _run(backend, spec)
    if shape is None:
        assert parity.compare(y, ref, spec.dtype).passed
        return
    assert spec.output_spatial == shape and y.shape[2:] == (9, 9)
    from parity.running.registry import Case
    from parity.running.runner import CaseRun

    result = CaseRun(Case(spec.slug(), spec)).against_reference(backend)
    assert result.status == "known" and "SAME padding whatever the explicit padding" in result.reason


@needs_litert
def test_converter_s_dilated_depthwise_fusion_leaves_a_rank_1_reshape_the_interpreter_refuses():
    spec = _spec(spatial=(9,), in_channels=2, out_channels=4, groups=2, dilations=2, padding=((1, 1),))
    with pytest.raises(Refused, match=r"num_input_elements != num_output_elements \(72 != 56\)"):
        _run("litert_ref", spec)

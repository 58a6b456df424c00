"""The legacy backends beyond forward float convs: tf1 transposed convs and bfloat16, Theano transposed convs
(``conv{2,3}d_grad_wrt_inputs``), tflearn's other layers and gradients, and refusals in the frameworks' words.

The translations are tested without any environment; the rest skips with the reason where the tf1 or theano
environment is absent (``parity env create tf1`` / ``theano``, or ``tox -e legacy``).
"""
import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters.base import Refused
from parity.adapters.legacy import envs
from parity.adapters.legacy import tf1, tflearn, theano
from parity.adapters.legacy.worker import WorkerError, call_in_env
from parity.core import convert
from parity.core.spec import ConvSpec
from parity.running import runner
from parity.running.result import Result
from parity.running.accumulation import declared
from parity.running.registry import Case

needs_tf1 = pytest.mark.skipif(envs.missing("tf1") is not None, reason=str(envs.missing("tf1")))
needs_theano = pytest.mark.skipif(envs.missing("theano") is not None, reason=str(envs.missing("theano")))


def _spec(**fields) -> ConvSpec:
    return ConvSpec(**{"spatial": (7, 6), "kernel": 3, "in_channels": 3, "out_channels": 4, "batch": 2,
                       "op": "conv_transpose", "layout": "channels_last", **fields})


def _result(backend: str, spec: ConvSpec) -> Result:
    """``backend`` against the exact reference, as ``parity run`` compares it (declared or probed accumulation)."""
    return runner.run_case(Case(spec.slug(), spec), [backend])[0]


def _passes(backend: str, spec: ConvSpec) -> Result:
    result = _result(backend, spec)
    assert result.status == "pass", result
    return result


# --- translations (no environment needed) ------------------------------------------------------------------
def test_tf1_transposed_call_native_same_and_cropped_full_output():
    same = tf1.transposed(_spec(strides=2, padding="SAME"))
    assert same["kwargs"]["padding"] == "SAME" and same["crop"] is None
    assert same["kwargs"]["output_shape"] == [2, 14, 12, 4] and same["kwargs"]["strides"] == [1, 2, 2, 1]
    cropped = tf1.transposed(_spec(layout="NCHW", strides=2, padding=((1, 0), (0, 2)), output_padding=1))
    # (n-1)*s + k = 15 and 13; crop (1, 0) + 1 and (0, 2) + 1 cut from the full output in the graph
    assert cropped["kwargs"]["padding"] == "VALID" and cropped["kwargs"]["output_shape"] == [2, 4, 15, 13]
    assert cropped["kwargs"]["data_format"] == "NCHW" and cropped["kwargs"]["strides"] == [1, 1, 2, 2]
    assert [list(p) for p in cropped["crop"]] == [[0, 0], [0, 0], [-1, 1], [0, -1]]


def test_tf1_forward_call_passes_the_case_layout():
    call = tf1.forward(ConvSpec(spatial=(5, 6, 7), kernel=2, layout="NCDHW", padding="SAME_LOWER", strides=2))
    assert call["kwargs"]["data_format"] == "NCDHW" and call["kwargs"]["strides"] == [1, 1, 2, 2, 2]
    assert call["pad"][:2] == [[0, 0], [0, 0]] and call["kwargs"]["padding"] == "VALID"
    assert tf1.forward(ConvSpec(spatial=(9,), kernel=3, strides=2, dilations=2))["kwargs"]["stride"] == 2


@pytest.mark.parametrize("fields, border, crop", [
    ({"strides": 2, "padding": "SAME"}, ((0, 1), (0, 1)), None),  # crop (0, 1): the forward conv's SAME pads
    ({"kernel": 1, "strides": 2, "padding": "SAME"}, "valid", None),  # crop hi -1: zeros past the full output
    ({"spatial": (4, 5, 3), "padding": ((1, 0), (0, 0), (1, 1))}, "valid", ((-1, 0), (0, 0), (-1, -1))),  # 3-D
    ({"spatial": (9,), "kernel": 4, "strides": 2, "padding": "SAME", "output_padding": 1},
     (0, 1), None),  # rank 1 as height 1: crop (1, 1) + output_padding 1
])
def test_theano_transposed_border_mode_or_crop(fields, border, crop):
    spec = _spec(**fields)
    op, got, more = theano.transposed(spec, theano._geometry(spec))
    assert op == f"conv{max(spec.rank, 2)}d_grad_wrt_inputs" and got == border and more["crop"] == crop
    assert more["input_shape"][:2] == [2, 4]


@pytest.mark.parametrize("fields, expected", [
    ({"op": "conv", "groups": 3, "out_channels": 6}, "grouped_conv_2d"),
    ({"op": "conv", "dilations": 2}, "atrous_conv_2d"),
    ({"op": "conv", "spatial": (5, 6, 7)}, "conv_3d"),
    ({"padding": "SAME", "strides": 2}, "conv_2d_transpose"),
    ({"spatial": (4, 5, 3), "padding": "VALID"}, "conv_3d_transpose"),
    ({"spatial": (9,)}, tflearn.TRANSPOSED_1D),
    ({"dilations": 2}, tflearn.TRANSPOSED_ARGS),
    ({"op": "conv", "dilations": 2, "strides": 2}, tflearn.DILATION),
    ({"op": "conv", "groups": 3, "in_channels": 6, "out_channels": 6}, tflearn.GROUPS),
    ({"op": "conv", "padding": "FULL"}, tflearn.PADDING),
    ({"padding": ((1, 0), (0, 0))}, tflearn.PADDING),
])
def test_tflearn_layer_choice(fields, expected):
    chosen = tflearn.layer(_spec(**fields))
    assert (chosen if isinstance(chosen, str) else chosen[0]) == expected


def test_declared_reasons_are_the_frameworks_words():
    assert "'Initializer type '<dtype: 'float64'>' and explicit dtype '<dtype: 'float32'>' don't match.'" in \
        adapters.get("tflearn").supports(_spec(dtype="float64"))
    assert adapters.get("theano").supports(_spec(dtype="bfloat16", layout="channels_first")) == theano.BFLOAT16
    assert adapters.get("theano").supports(_spec()) == theano.CHANNELS_FIRST
    assert adapters.get("tf1").supports(_spec(dtype="bfloat16", spatial=(4, 5, 3), groups=3, out_channels=3)) \
        == tf1.TRANSPOSE_GROUPS
    conv3d = ConvSpec(spatial=(5, 6, 7), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NDHWC")
    assert adapters.get("tf1").supports(conv3d) == tf1.CONV3D_GROUPS
    assert adapters.get("tf1").supports(ConvSpec(**{**conv3d.as_dict(), "dtype": "bfloat16"})) is None


# --- tf1 ---------------------------------------------------------------------------------------------------
@needs_tf1
@pytest.mark.parametrize("spec", [
    _spec(spatial=(9,), kernel=4, strides=2, padding="SAME", output_padding=1),  # conv1d_transpose
    _spec(strides=2, padding="SAME"),
    _spec(strides=2, padding=((1, 0), (0, 2)), output_padding=1, dtype="float64"),  # VALID, cropped in the graph
    _spec(spatial=(4, 5, 3), kernel=(3, 2, 3), strides=(2, 1, 2), padding="SAME"),  # conv3d_transpose
    _spec(strides=2, padding="VALID", quantity="grad_input", dtype="float64"),
    _spec(spatial=(4, 5, 3), padding="SAME", quantity="grad_weight"),
    _spec(strides=2, padding="SAME", dtype="float16"),
], ids=lambda spec: spec.slug())
def test_tf1_transposed_matches_reference(spec):
    _passes("tf1", spec)


@needs_tf1
@pytest.mark.parametrize("spec", [
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=6, groups=2, strides=2, padding="SAME",
             layout="NCHW", dtype="bfloat16"),  # channels-first and grouped: XLA_CPU runs both
    ConvSpec(spatial=(5, 6, 7), kernel=3, in_channels=4, out_channels=4, groups=2, dilations=(1, 2, 1),
             layout="NDHWC", dtype="bfloat16"),  # grouped, dilated Conv3D: right on XLA_CPU
    _spec(dilations=2, strides=2, padding="SAME", layout="NCHW", dtype="bfloat16"),
    ConvSpec(spatial=(11,), kernel=3, in_channels=3, out_channels=2, dilations=2, padding="CAUSAL", layout="NWC",
             quantity="grad_weight", dtype="bfloat16"),
], ids=lambda spec: spec.slug())
def test_tf1_bfloat16_travels_as_bits_and_runs_on_xla_cpu(spec):
    assert _passes("tf1", spec).accumulation == "float32"  # declared, not probed: XLA_CPU sums bfloat16 in float32


@needs_tf1
@pytest.mark.parametrize("spec, words", [
    (_spec(layout="NCHW"),
     "TensorFlow 1.15.5 (Conv2DBackpropInput): 'Conv2DCustomBackpropInputOp only supports NHWC.'"),
    (_spec(dilations=2), "TensorFlow 1.15.5 (Conv2DBackpropInput): 'Current libxsmm and customized CPU "
                         "implementations do not yet support dilation rates larger than 1.'"),
    (ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4, groups=2, layout="NHWC"),
     "TensorFlow 1.15.5 (Conv2D): 'The Conv2D op currently does not support grouped convolutions on the CPU.'"),
    (ConvSpec(spatial=(5, 6, 7), kernel=2, dilations=2, layout="NDHWC", dtype="float16"),
     "TensorFlow 1.15.5 (Conv3D): 'CPU implementation of Conv3D currently only supports dilated rates of 1.'"),
], ids=lambda value: value.slug() if isinstance(value, ConvSpec) else "")
def test_tf1_refusals_are_tensorflows_words(spec, words):
    x, w = parity.generate(spec)
    with pytest.raises(Refused) as info:
        adapters.get("tf1").run(spec, x, w, parity.cotangent(spec))
    assert str(info.value) == words
    assert _result("tf1", spec).status == "skip"


@needs_tf1
def test_tf1_float16_adds_kernel_taps_in_float16_in_conv3d_and_backprop():
    """Finding: TF 1.15's CPU kernels (Eigen) add float16 kernel taps in float16 in Conv3D and in the backprop
    kernels (conv*_transpose, input gradients), where forward conv1d/conv2d sum in float32: 37x to 118x the
    float32 bound on the default tier. The probe names float16-taps and the case passes that bound."""
    spec = ConvSpec(spatial=(5, 7, 5), kernel=2, in_channels=6, out_channels=5, strides=2, padding="SAME",
                    layout="NDHWC", dtype="float16")
    x, w = parity.generate(spec)
    y = adapters.get("tf1").run(spec, x, w)
    assert parity.compare(y, parity.exact(spec, x, w), "float16", accumulation="float32").bound_ratio > 30
    assert declared("tf1", adapters.get("tf1"), spec, None) == ("float16-taps", True)
    assert _passes("tf1", spec).accumulation == "float16-taps (probed)"
    transposed = _spec(strides=2, padding="SAME", dtype="float16")
    assert declared("tf1", adapters.get("tf1"), transposed, None) == ("float16-taps", True)
    forward2d = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=5, layout="NHWC", dtype="float16")
    assert declared("tf1", adapters.get("tf1"), forward2d, None) == ("float32", True)


def _raw_depthwise(spec: ConvSpec) -> np.ndarray:
    """``tf.nn.depthwise_conv2d`` with the case's strides and ``rate``, whatever its docs say."""
    x, w = parity.generate(spec)
    call = {"framework": "tf1", "op": "depthwise_conv2d", "quantity": "output", "pad": None, "crop": None,
            "kwargs": {"strides": [1, *spec.strides, 1], "rate": list(spec.dilations), "padding": spec.padding,
                       "data_format": "NHWC"}}
    arrays = {"x": convert.to_channels_last(x), "w": np.moveaxis(w.reshape(spec.in_channels, -1, *w.shape[2:]), (0, 1), (-2, -1))}
    y = call_in_env("tf1", "tf1_worker.py", call, arrays, (spec.batch, *spec.output_spatial, spec.out_channels),
                    spec.dtype)
    return parity.compare(convert.to_channels_first(y), parity.exact(spec, x, w), spec.dtype)


@needs_tf1
def test_tf1_conv3d_shape_function_swaps_row_and_column_dilations():
    """Declared where the swap makes the kernel too long; by hand: rows 2 and kernel rows 2 take row dilation
    1, but TF reads the column dilation 2 (span 3 > 2)."""
    refused = ConvSpec(spatial=(1, 2, 1), kernel=(1, 2, 1), dilations=(1, 1, 2), padding="VALID", dtype="bfloat16")
    fits = ConvSpec(**{**refused.as_dict(), "spatial": (1, 3, 2)})
    assert tf1.swapped_dilations_refused(refused) and not tf1.swapped_dilations_refused(fits)
    assert not tf1.swapped_dilations_refused(ConvSpec(**{**refused.as_dict(), "dilations": (1, 2, 2),
                                                          "spatial": (1, 3, 3)}))


@needs_tf1
def test_tf1_conv3d_swapped_dilations_refuse_a_valid_bfloat16_call():
    spec = ConvSpec(spatial=(1, 2, 1), kernel=(1, 2, 1), dilations=(1, 1, 2), padding="VALID", dtype="bfloat16")
    result = _result("tf1", spec)
    assert result.status == "known" and "Negative dimension size caused by subtracting 3 from 2" in result.reason
    _passes("tf1", ConvSpec(**{**spec.as_dict(), "spatial": (1, 3, 2)}))  # the same dilations where it fits
    gradient = ConvSpec(spatial=(1, 1, 3), kernel=(1, 1, 2), dilations=(1, 1, 2), padding="VALID", dtype="bfloat16",
                        op="conv_transpose", quantity="grad_input")  # a Conv3D of the 1x1x5 cotangent: 4, not 3
    assert tf1.swapped_dilations_refused(gradient)
    result = _result("tf1", gradient)
    assert result.status == "known" and "Calculated input gradient shape: (1, 1, 1, 1, 4)" in result.reason


@needs_tf1
def test_tf1_strided_dilated_depthwise_is_silently_wrong():
    """Finding: TF 1.15's ``tf.nn.depthwise_conv2d`` with strides 2 and rate 2, which its docs exclude ('If
    it is greater than 1, then all values of strides must be 1.'), raises nothing: on 9x9 and 12x12 images
    it returns 1.4e15 to 3.7e15 times the error bound, on 11x10 a (3, 4) image where the conv has (4, 3).
    The tf1 backend runs such cases as grouped conv2d instead (refused on CPU, right on XLA_CPU)."""
    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=3, out_channels=6, groups=3, strides=2, dilations=2,
                    layout="NHWC", dtype="float64")
    comparison = _raw_depthwise(spec)
    assert comparison.status == "fail" and comparison.bound_ratio > 1e12
    with pytest.raises(WorkerError, match=r"must be float64 \(1, 4, 3, 6\), got float64 \(1, 3, 4, 6\)"):
        _raw_depthwise(ConvSpec(**{**spec.as_dict(), "spatial": (11, 10)}))
    assert not tf1.depthwise(spec) and tf1.depthwise(ConvSpec(**{**spec.as_dict(), "dilations": 1}))
    _passes("tf1", ConvSpec(**{**spec.as_dict(), "dilations": 1}))  # depthwise_conv2d, [kh, kw, in, mult]
    _passes("tf1", ConvSpec(**{**spec.as_dict(), "dtype": "bfloat16"}))  # grouped conv2d on XLA_CPU


# --- theano ------------------------------------------------------------------------------------------------
@needs_theano
@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("spec", [
    _spec(spatial=(9,), kernel=4, strides=2, padding="SAME", output_padding=1, groups=1),
    _spec(in_channels=4, strides=2, groups=2, dilations=(1, 2), padding=((1, 1), (0, 2)), dtype="float64"),
    _spec(kernel=1, strides=2, padding="SAME"),  # crop hi < 0: border (0, 0) on a longer input_shape
    _spec(spatial=(4, 5, 3), kernel=(3, 2, 3), strides=(2, 1, 2), padding="SAME"),  # 3-D crop in the graph
    _spec(spatial=(4, 5, 3), padding="VALID", quantity="grad_input", dtype="float64"),
    _spec(strides=2, padding=((1, 0), (0, 2)), output_padding=1, quantity="grad_weight"),
], ids=lambda spec: spec.slug())
def test_theano_transposed_matches_reference_with_both_filter_flips(spec, flip):
    from test_legacy import _passes_theano

    _passes_theano(ConvSpec(**{**spec.as_dict(), "layout": "channels_first"}), flip)


# --- tflearn -----------------------------------------------------------------------------------------------
@needs_tf1
@pytest.mark.parametrize("spec", [
    _spec(strides=2, padding="SAME"),  # conv_2d_transpose
    _spec(spatial=(4, 5, 3), padding="VALID", quantity="grad_weight"),  # conv_3d_transpose
    ConvSpec(spatial=(5, 6, 7), kernel=(3, 2, 3), in_channels=2, out_channels=3, strides=2, padding="SAME",
             layout="NDHWC"),  # conv_3d
    ConvSpec(spatial=(10, 11), kernel=3, in_channels=3, out_channels=4, dilations=3, padding="SAME", layout="NHWC"),
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=3, out_channels=6, groups=3, strides=2, padding="SAME",
             layout="NHWC", quantity="grad_weight"),  # grouped_conv_2d, [kh, kw, in, multiplier]
    ConvSpec(spatial=(11,), kernel=4, in_channels=3, out_channels=5, strides=2, padding="SAME", layout="NWC",
             quantity="grad_weight"),  # conv_1d's (width, 1, in, out) W
    ConvSpec(spatial=(9, 8), kernel=3, in_channels=3, out_channels=4, padding="VALID", layout="NHWC",
             quantity="grad_input"),
], ids=lambda spec: spec.slug())
def test_tflearn_layers_and_gradients_match_reference(spec):
    _passes("tflearn", spec)


@needs_tf1
def test_tflearn_and_tf1_transposed_are_bit_identical():
    spec = _spec(strides=2, padding="SAME")
    x, w = parity.generate(spec)
    np.testing.assert_array_equal(adapters.get("tflearn").run(spec, x, w), adapters.get("tf1").run(spec, x, w))

"""parity.check: Y built "the other way" (independent loops in conv_oracle, np.convolve, scipy, PyTorch,
TensorFlow/Keras) for every documented forward/transposed discrepancy; the first explanation must name
exactly the right change. Framework-built cases skip when the framework is not installed."""
from __future__ import annotations

import numpy as np
import pytest

import conv_oracle as oracle
from check_support import first_changes, normal
from parity.porting.checking import check
from parity.porting.explain import UNCHANGED

RNG = np.random.default_rng(20240601)


def _normal(*shape, dtype=np.float32):
    return normal(RNG, *shape, dtype=dtype)


_first = first_changes


# --- matching outputs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, "bfloat16"])
def test_correct_output_matches_in_every_dtype(dtype):
    import ml_dtypes

    dtype = ml_dtypes.bfloat16 if dtype == "bfloat16" else dtype
    x, w = _normal(2, 3, 9, 8, dtype=dtype), _normal(4, 3, 3, 2, dtype=dtype)
    y = oracle.forward(x, w, (2, 1), ((1, 1), (0, 1))).astype(dtype)
    result = check(x, w, y, padding="1:1,0:1", strides=(2, 1))
    assert result.matches, result.format()
    assert result.explanations == () and result.problem == ""
    assert 0 <= result.bound_ratio <= 1 and result.max_abs >= 0 and result.max_ulp >= 0


def test_oracle_agrees_with_np_convolve():
    x, w = _normal(1, 1, 20, dtype=np.float64), _normal(1, 1, 5, dtype=np.float64)
    expected = np.convolve(x[0, 0], w[0, 0][::-1], mode="valid")  # np.convolve flips: unflip it
    np.testing.assert_allclose(oracle.forward(x, w, (1,), ((0, 0),))[0, 0], expected, rtol=1e-12, atol=1e-12)


# --- flip ----------------------------------------------------------------------------------------------------
def test_true_convolution_from_np_convolve_is_a_flip():
    x, w = _normal(1, 1, 40), _normal(1, 1, 5)
    y = np.convolve(x[0, 0].astype(np.float64), w[0, 0].astype(np.float64), mode="valid")
    result = check(x, w, y.astype(np.float32)[None, None])
    assert _first(result) == ["flip"]
    assert result.explanations[0].fix == "w = w[:, :, ::-1]"


def test_true_convolution_2d_is_a_flip():
    x, w = _normal(2, 3, 12, 11), _normal(5, 3, 3, 4)
    y = oracle.forward(x, w, (1, 1), ((1, 1), (1, 2)), reverse=(0, 1)).astype(np.float32)
    assert _first(check(x, w, y, padding="SAME")) == ["flip"]


def test_scipy_convolve2d_is_a_flip():
    signal = pytest.importorskip("scipy.signal")
    x, w = _normal(1, 1, 15, 13), _normal(1, 1, 3, 5)
    y = signal.convolve2d(x[0, 0].astype(np.float64), w[0, 0].astype(np.float64), mode="valid")
    assert _first(check(x, w, y.astype(np.float32)[None, None])) == ["flip"]


def test_kernel_reversed_on_one_axis():
    x, w = _normal(1, 2, 10, 10), _normal(3, 2, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)), reverse=(0,)).astype(np.float32)
    result = check(x, w, y)
    assert _first(result) == ["flip:H"]
    assert result.explanations[0].fix == "w = w[:, :, ::-1]"


# --- layouts -------------------------------------------------------------------------------------------------
def test_channels_last_data_read_as_channels_first():
    x, w_tf = _normal(1, 9, 8, 5), _normal(3, 3, 5, 6)  # NHWC data, HWIO kernel
    w = np.transpose(w_tf, (3, 2, 0, 1))
    y = oracle.channels_last(oracle.forward(np.moveaxis(x, -1, 1), w, (1, 1), ((0, 0), (0, 0))))
    assert _first(check(x, w_tf, y.astype(np.float32), kernel_layout="HWIO")) == ["layout:NHWC"]


def test_tensorflow_arrays_with_no_flags_need_both_layouts():
    tf = pytest.importorskip("tensorflow")
    x, w_tf = _normal(2, 10, 9, 4), _normal(3, 2, 4, 6)
    y = tf.nn.conv2d(x, w_tf, strides=1, padding="VALID").numpy()
    result = check(x, w_tf, y)  # no kernel layout given: it follows the data layout
    assert _first(result) == ["layout:NHWC"]
    assert "w = w.transpose(3, 2, 0, 1)  # HWIO -> OIHW" in result.explanations[0].fix
    assert _first(check(x, w_tf, y, kernel_layout="OIHW")) == ["layout:NHWC", "kernel-layout:HWIO"]


def test_tensorflow_kernel_given_to_pytorch_conventions():
    x, w_tf = _normal(1, 4, 9, 9), _normal(3, 3, 4, 8)
    y = oracle.forward(x, np.transpose(w_tf, (3, 2, 0, 1)), (1, 1), ((1, 1), (1, 1))).astype(np.float32)
    result = check(x, w_tf, y, padding="SAME")
    assert _first(result) == ["kernel-layout:HWIO"]
    assert result.explanations[0].fix == "w = w.transpose(3, 2, 0, 1)  # HWIO -> OIHW"


def test_torch_output_with_kernel_in_tensorflow_layout():
    torch = pytest.importorskip("torch")
    x, w = _normal(1, 3, 11, 11), _normal(8, 3, 5, 5)
    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=2).numpy()
    w_tf = np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)))
    assert _first(check(x, w_tf, y, padding="2:2,2:2")) == ["kernel-layout:HWIO"]


def test_kernel_in_and_out_channels_swapped():
    x, w = _normal(1, 3, 8, 8), _normal(5, 3, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0))).astype(np.float32)
    result = check(x, np.ascontiguousarray(np.swapaxes(w, 0, 1)), y)
    assert _first(result) == ["kernel-layout:IOHW"]
    assert "in and out channel axes are swapped" in result.explanations[0].sentence


def test_3d_kernel_reversed_along_depth():
    x, w = _normal(1, 2, 6, 7, 5), _normal(2, 2, 3, 2, 2)
    y = oracle.forward(x, w, (1, 1, 1), ((1, 1), (0, 1), (1, 0)), reverse=(0,)).astype(np.float32)
    assert _first(check(x, w, y, padding="1:1,0:1,1:0")) == ["flip:D"]


def test_kernel_spatial_axes_transposed():
    x, w = _normal(1, 2, 9, 10), _normal(3, 2, 3, 4)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0))).astype(np.float32)
    result = check(x, np.ascontiguousarray(np.swapaxes(w, 2, 3)), y, kernel_layout="OIHW")
    assert _first(result) == ["kernel-layout:OIWH"]
    assert "spatial axes are transposed" in result.explanations[0].sentence


# --- padding -------------------------------------------------------------------------------------------------
def test_symmetric_padding_where_tensorflow_same_was_stated():
    x, w = _normal(1, 3, 224, 224), _normal(8, 3, 7, 7)  # tensornets #25: TF pads (2, 3), symmetric (3, 3)
    assert oracle.same_pads(224, 7, 2) == (2, 3)
    y = oracle.forward(x, w, (2, 2), ((3, 3), (3, 3))).astype(np.float32)
    result = check(x, w, y, padding="SAME", strides=2)
    assert _first(result) == ["padding:3:3,3:3"]
    assert "F.pad(x, (3, 3, 3, 3))" in result.explanations[0].fix


def test_tensorflow_same_where_symmetric_padding_was_stated():
    x, w = _normal(1, 3, 224, 224), _normal(8, 3, 7, 7)
    y = oracle.forward(x, w, (2, 2), ((2, 3), (2, 3))).astype(np.float32)
    assert _first(check(x, w, y, padding="3:3,3:3", strides=2)) == ["padding:SAME"]


def test_torch_symmetric_vs_tensorflow_same_built_by_the_frameworks():
    torch, tf = pytest.importorskip("torch"), pytest.importorskip("tensorflow")
    x, w = _normal(1, 3, 32, 32), _normal(4, 3, 7, 7)
    y_torch = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=3).numpy()
    assert _first(check(x, w, y_torch, padding="SAME", strides=2)) == ["padding:3:3,3:3"]
    w_tf = np.transpose(w, (2, 3, 1, 0))
    y_tf = tf.nn.conv2d(oracle.channels_last(x), w_tf, strides=2, padding="SAME").numpy()
    result = check(oracle.channels_last(x), w_tf, y_tf, layout="NHWC", padding="3:3,3:3", strides=2)
    assert _first(result) == ["padding:SAME"]


def test_same_lower_where_same_was_stated():
    x, w = _normal(1, 2, 10, 10), _normal(2, 2, 4, 4)
    y = oracle.forward(x, w, (1, 1), ((2, 1), (2, 1))).astype(np.float32)
    assert _first(check(x, w, y, padding="SAME")) == ["padding:SAME_LOWER"]


def test_causal_where_same_was_stated():
    x, w = _normal(2, 4, 20), _normal(6, 4, 3)
    y = oracle.forward(x, w, (1,), ((4, 0),), dilations=(2,)).astype(np.float32)
    result = check(x, w, y, padding="SAME", dilations=2)
    assert _first(result) == ["padding:CAUSAL"]
    assert "causal" in result.explanations[0].sentence


def test_keras_causal_conv1d_where_same_was_stated():
    tf = pytest.importorskip("tensorflow")
    x, w_tf = _normal(2, 25, 3), _normal(4, 3, 5)  # NWC, WIO
    layer = tf.keras.layers.Conv1D(5, 4, padding="causal", dilation_rate=2, use_bias=False)
    layer.build((None, 25, 3))
    layer.set_weights([w_tf])
    y = layer(x).numpy()
    assert _first(check(x, w_tf, y, layout="NWC", padding="SAME", dilations=2)) == ["padding:CAUSAL"]


def test_full_padding_where_valid_was_stated():
    x, w = _normal(1, 1, 12), _normal(2, 1, 4)
    y = oracle.forward(x, w, (1,), ((3, 3),)).astype(np.float32)
    assert _first(check(x, w, y)) == ["padding:FULL"]


# --- depthwise -----------------------------------------------------------------------------------------------
def _depthwise_case(channels=4, multiplier=2):
    x, w_tf = _normal(1, channels, 9, 9), _normal(3, 3, channels, multiplier)
    per_channel = np.moveaxis(w_tf, (2, 3), (0, 1)).reshape(channels * multiplier, 1, 3, 3)
    y = oracle.forward(x, per_channel, (1, 1), ((1, 1), (1, 1)), groups=channels)
    return oracle.channels_last(x), w_tf, oracle.channels_last(y).astype(np.float32)


def test_tensorflow_depthwise_kernel_read_as_grouped_hwio():
    x, w_tf, y = _depthwise_case()
    result = check(x, w_tf, y, layout="NHWC", groups=4, padding="SAME")
    assert _first(result) == ["kernel-layout:HWIM"]
    assert "depthwise" in result.explanations[0].sentence


def test_tensorflow_depthwise_conv2d_output():
    tf = pytest.importorskip("tensorflow")
    x, w_tf = _normal(1, 8, 8, 3), _normal(3, 3, 3, 2)
    y = tf.nn.depthwise_conv2d(x, w_tf, strides=[1, 1, 1, 1], padding="SAME").numpy()
    assert _first(check(x, w_tf, y, layout="NHWC", groups=3, padding="SAME")) == ["kernel-layout:HWIM"]


# --- strides and dilations -----------------------------------------------------------------------------------
def test_stride_read_as_dilation():
    x, w = _normal(1, 2, 16, 16), _normal(3, 2, 3, 3)
    y = oracle.forward(x, w, (1, 1), ((0, 0), (0, 0)), dilations=(2, 2)).astype(np.float32)
    assert _first(check(x, w, y, strides=2)) == ["dilations:2,2", "strides:1,1"]


# --- transposed convolution ----------------------------------------------------------------------------------
def test_forgotten_output_padding():
    x, w = _normal(1, 4, 8, 8), _normal(4, 6, 3, 3)
    y = oracle.transposed(x, w, (2, 2), ((1, 1), (1, 1)), (1, 1)).astype(np.float32)
    result = check(x, w, y, transposed=True, strides=2, padding="1:1,1:1")
    assert _first(result) == ["output-padding:1,1"]
    assert result.explanations[0].fix == "output_padding=(1, 1)  # in the call"


def test_torch_conv_transpose_with_output_padding():
    torch = pytest.importorskip("torch")
    x, w = _normal(2, 3, 5, 6), _normal(3, 4, 4, 4)
    y = torch.nn.functional.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), stride=3, padding=1,
                                             output_padding=2).numpy()
    assert _first(check(x, w, y, transposed=True, strides=3, padding=1)) == ["output-padding:2,2"]


def test_tensorflow_same_crop_where_pytorch_padding_was_stated():
    x, w = _normal(1, 4, 8, 8), _normal(4, 6, 3, 3)  # TF SAME crops (0, 1): the keras #22876 one-pixel shift
    y = oracle.transposed(x, w, (2, 2), ((0, 1), (0, 1)), (0, 0)).astype(np.float32)
    result = check(x, w, y, transposed=True, strides=2, padding="1:1,1:1", output_padding=1)
    assert _first(result) == ["padding:SAME"]


def test_tensorflow_conv2d_transpose_built_by_tensorflow():
    tf = pytest.importorskip("tensorflow")
    x, w_tf = _normal(1, 6, 6, 4), _normal(3, 3, 5, 4)  # NHWC, filter [kh, kw, out, in]
    y = tf.nn.conv2d_transpose(x, w_tf, output_shape=[1, 12, 12, 5], strides=2, padding="SAME").numpy()
    stated = dict(layout="NHWC", transposed=True, strides=2)
    assert _first(check(x, w_tf, y, **stated, padding="1:1,1:1", output_padding=1)) == ["padding:SAME"]
    result = check(x, w_tf, y, **stated, padding="SAME", kernel_layout="HWIO")
    assert _first(result) == ["kernel-layout:HWOI"]
    assert "in and out channel axes are swapped" in result.explanations[0].sentence


# --- the printed fix, run, reproduces Y with the stated conventions ----------------------------------------------
def _run_fix(fix: str, x, w, call):
    """Run the fix's lines on x and w, call the stated convolution with its changed arguments, then run
    the lines on the result (everything channels-first, as stated in these cases)."""
    lines = fix.splitlines()
    marker = next((i for i, line in enumerate(lines) if "  # in the call" in line or line == UNCHANGED), None)
    before, arguments, after = (lines, [], []) if marker is None else \
        (lines[:marker], [lines[marker]], lines[marker + 1:])
    space = {"np": np, "x": x, "w": w}
    exec("\n".join(before), space)
    overrides = {}
    exec("\n".join(arguments), {}, overrides)
    space["y"] = call(space["x"], space["w"], **overrides)
    exec("\n".join(after), space)
    return space["y"]


def test_fix_for_tensorflow_arrays_and_padding_reproduces_y():
    x_nhwc, w_hwio = _normal(1, 14, 14, 3), _normal(5, 5, 3, 4)
    y = oracle.channels_last(oracle.forward(np.moveaxis(x_nhwc, -1, 1), np.transpose(w_hwio, (3, 2, 0, 1)),
                                            (2, 2), ((1, 2), (1, 2))))
    result = check(x_nhwc, w_hwio, y.astype(np.float32), strides=2, padding="2:2,2:2")
    assert _first(result) == ["layout:NHWC", "padding:SAME"]

    def stated(x, w, padding="2:2,2:2"):
        pads = ((0, 0), (0, 0)) if padding == "VALID" else ((2, 2), (2, 2))
        return oracle.forward(x, w, (2, 2), pads)

    np.testing.assert_allclose(_run_fix(result.explanations[0].fix, x_nhwc, w_hwio, stated), y, atol=1e-4)
    assert 'padding="VALID"  # in the call (PyTorch: padding=0)' in result.explanations[0].fix.splitlines()


@pytest.mark.parametrize("crops, output_padding", [(((0, 2), (1, 0)), (0, 0)), (((1, 1), (1, 1)), (1, 1))])
def test_fix_for_a_transposed_crop_reproduces_y(crops, output_padding):
    x, w = _normal(1, 2, 5, 5), _normal(2, 3, 3, 3)
    y = oracle.transposed(x, w, (2, 2), crops, output_padding).astype(np.float32)
    result = check(x, w, y, transposed=True, strides=2, padding="0:0,0:0")
    assert result.explanations

    def stated(x, w, padding=0, output_padding=0):
        pads = padding if isinstance(padding, tuple) else (padding, padding)
        extra = output_padding if isinstance(output_padding, tuple) else (output_padding,) * 2
        return oracle.transposed(x, w, (2, 2), tuple((p, p) for p in pads), extra)

    np.testing.assert_allclose(_run_fix(result.explanations[0].fix, x, w, stated), y, atol=1e-4)


def test_fix_for_a_depthwise_kernel_reproduces_y():
    x, w_tf, y = _depthwise_case()
    result = check(np.moveaxis(x, -1, 1), w_tf, np.moveaxis(y, -1, 1), groups=4, padding="SAME",
                   kernel_layout="OIHW")
    assert _first(result) == ["kernel-layout:HWIM"]

    def stated(x, w):
        return oracle.forward(x, w, (1, 1), ((1, 1), (1, 1)), groups=4)

    fixed = _run_fix(result.explanations[0].fix, np.moveaxis(x, -1, 1), w_tf, stated)
    np.testing.assert_allclose(fixed, np.moveaxis(y, -1, 1), atol=1e-4)


def test_a_float16_bound_that_admits_far_readings_offers_only_the_one_y_is_closest_to():
    """float16 over 2304 terms: the bound also admitted the kernel read as WHIO (197 from Y), flipped along H
    or along W alone, listed as readings that 'reproduce Y' beside the flip that made it (0.03 away)."""
    rng = np.random.default_rng(3)
    rng.standard_normal((1, 64, 12, 12)), rng.standard_normal((8, 64, 3, 3))
    x, w = normal(rng, 1, 10, 10, 256, dtype=np.float16), normal(rng, 3, 3, 256, 4, dtype=np.float16)  # NHWC, HWIO
    canonical_x, canonical_w = x.transpose(0, 3, 1, 2).astype(np.float64), w.transpose(3, 2, 0, 1).astype(np.float64)
    y = oracle.forward(canonical_x, canonical_w, (1, 1), ((1, 1), (1, 1)), reverse=(0, 1))
    result = check(x, w, oracle.channels_last(y).astype(np.float16), layout="NHWC", padding="SAME")
    assert [e.changes for e in result.explanations] == [("flip",)], result.format()


def test_a_tensorflow_depthwise_kernel_is_found_without_groups_stated():
    """kernel-layout:HWIM was tried with groups 1, which no depthwise kernel fits: 'no convention change tried
    gives Y's shape either'. A depthwise kernel has one group per input channel."""
    rng = np.random.default_rng(5)
    x, w = normal(rng, 1, 9, 9, 4), normal(rng, 3, 3, 4, 2)  # NHWC; HWIM: output channel i*2 + m
    canonical_w = w.transpose(2, 3, 0, 1).reshape(8, 1, 3, 3)
    y = oracle.forward(x.transpose(0, 3, 1, 2), canonical_w, (1, 1), ((1, 1), (1, 1)), groups=4)
    result = check(x, w, oracle.channels_last(y).astype(np.float32), layout="NHWC", padding="SAME")
    assert [e.changes for e in result.explanations][:1] == [("kernel-layout:HWIM",)], result.format()
    assert result.explanations[0].fix.splitlines()[-1] == "groups=4  # in the call"
    assert check(x, w, oracle.channels_last(y).astype(np.float32), layout="NHWC", kernel_layout="HWIM",
                 padding="SAME").matches


def test_bfloat16_values_stored_as_float32_say_what_the_bfloat16_bound_admits():
    """Y made with the kernel flipped, all in bfloat16 and saved as float32: it said 'nothing reproduces Y',
    the flip 55x its float32 bound; as bfloat16 (as the .npy of the same values says) the bound admits the flip
    and the stated result alike, and Y is far closer to the flip."""
    import ml_dtypes

    rng = np.random.default_rng(11)
    x, w = (normal(rng, *shape).astype(ml_dtypes.bfloat16).astype(np.float32) for shape in ((1, 64, 8, 8), (8, 64, 3, 3)))
    y = oracle.forward(x.astype(np.float64), w.astype(np.float64), (1, 1), ((1, 1), (1, 1)), reverse=(0, 1))
    result = check(x, w, y.astype(ml_dtypes.bfloat16).astype(np.float32), padding=1)
    assert result.read[-1] == "Y: float32 holding bfloat16 values only: compared as bfloat16, the type it was computed in"
    assert not result.matches and "times closer to the result with the kernel flipped" in result.doubt, result.format()


def test_tf_same_with_an_output_shape_is_named_as_such():
    """tf.nn.conv2d_transpose(..., output_shape=9, strides=2, padding='SAME') from 5x5 crops (1, 1): it was called
    'symmetric, like PyTorch's integer padding, not (0, 1) (TF SAME)', which misleads a TF user."""
    rng = np.random.default_rng(2)
    x, w = normal(rng, 1, 4, 5, 5), normal(rng, 4, 3, 3, 3)
    y = oracle.transposed(x, w, (2, 2), ((1, 1), (1, 1)), (0, 0))
    result = check(x, w, y.astype(np.float32), transposed=True, strides=2, padding="SAME")
    assert y.shape[2:] == (9, 9) and result.explanations[0].changes == ("padding:1:1,1:1",), result.format()
    assert result.explanations[0].sentence.startswith("Y was cropped (1, 1) on every spatial axis: TF SAME with an "
                                                      "output_shape of 9x9 (without output_shape")


def test_a_crop_tf_cannot_make_is_not_called_tf_same():
    """Stride 1, 8x8 cropped (1, 0) to 9x9: SAME's low crop for 9, but TF refuses output_shape 9 for 8 inputs at
    stride 1 (its forward SAME conv of 9 gives 9, not 8)."""
    rng = np.random.default_rng(3)
    x, w = normal(rng, 1, 2, 8, 8), normal(rng, 2, 3, 3, 3)
    y = oracle.transposed(x, w, (1, 1), ((1, 0), (1, 0)), (0, 0))
    result = check(x, w, y.astype(np.float32), transposed=True, padding="SAME")
    assert y.shape[2:] == (9, 9) and result.explanations, result.format()
    assert not any("TF SAME with an output_shape" in e.sentence for e in result.explanations)


def test_a_y_of_bfloat16_values_from_float32_inputs_gets_a_hint():
    """model.bfloat16() on float32 data, its output stored as float32: x and w are not bfloat16 values, so
    nothing narrows, and 'nothing explains Y' said nothing of the cause (helper-31's review)."""
    import ml_dtypes

    rng = np.random.default_rng(13)
    x, w = normal(rng, 1, 16, 8, 8), normal(rng, 4, 16, 3, 3)
    rounded = [a.astype(ml_dtypes.bfloat16).astype(np.float64) for a in (x, w)]
    y = oracle.forward(*rounded, (1, 1), ((1, 1), (1, 1))).astype(ml_dtypes.bfloat16).astype(np.float32)
    result = check(x, w, y, padding=1)
    assert not result.matches
    assert "every element of Y is a bfloat16 value, x and w are not" in result.hint, result.format()
    assert check(*(a.astype(ml_dtypes.bfloat16) for a in (x, w)), y.astype(ml_dtypes.bfloat16), padding=1).matches

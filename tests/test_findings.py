"""Framework behaviour parity relies on or reports, checked against the installed frameworks.

What TF's CPU kernels refuse depends on the build and the CPU (oneDNN on AVX-512 CPUs runs calls its
Eigen kernels refuse elsewhere). Each refusal test calls TF itself: where TF refuses, the adapter must
declare TF's own words; where TF runs the call, the adapter must run the case and get it right, and the
test then skips, saying what TF did instead. If an assertion starts failing after a framework upgrade,
the framework changed: update the adapter's routing and the README's findings, not the assertion.
"""
import numpy as np
import pytest

import parity
from parity.core import convert
from parity.adapters import _probes as probes
from parity.adapters import tensorflow as tf_adapter
from parity.core.spec import ConvSpec
from refusals import refusal

tf = pytest.importorskip("tensorflow")


def _tf_refusal(call) -> str | None:
    """TF's message if ``call`` raises a TF op error, None if TF runs it."""
    try:
        call()
    except tf.errors.OpError as error:
        return str(error)
    return None


def _quoted(reason: str) -> str:
    """The part of a declared reason that quotes TF."""
    return reason.split(": '", 1)[1].removesuffix("'")


def _comparison(spec: ConvSpec) -> parity.Comparison:
    x, w = parity.generate(spec)
    dy = parity.cotangent(spec)
    return parity.compare(tf_adapter.ADAPTER.run(spec, x, w, dy), parity.exact(spec, x, w, dy), spec.dtype)


def _adapter_follows_tf(spec: ConvSpec, message: str | None, call: str) -> None:
    """Where TF refused, the adapter declares TF's words; where TF ran it, the adapter runs the case
    correctly, and the refusal is no finding here (skip)."""
    reason = refusal("tensorflow", spec)
    if message is not None:
        assert reason is not None and _quoted(reason) in message
        return
    assert reason is None
    comparison = _comparison(spec)
    assert comparison.passed, f"TensorFlow ran {call} but computed it wrong: {comparison.reason}"
    pytest.skip(f"TensorFlow ran {call} on this CPU ({spec.dtype}); the refusal is not a finding here")


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_channels_first_runs_natively_or_converted(rank):
    """TF's Eigen CPU kernels take channels-last data only ('... only supports the NHWC tensor format'); the
    adapter passes channels-first data natively where TF takes it, else converts the layout itself."""
    spec = ConvSpec(spatial=(5,) * rank, kernel=2, in_channels=2, out_channels=3, padding="SAME",
                    layout="channels_first")
    op = {1: tf.nn.conv1d, 2: tf.nn.conv2d, 3: tf.nn.conv3d}[rank]
    x, w = np.zeros(spec.input_shape, np.float32), np.zeros((*spec.kernel, 2, 3), np.float32)
    fmt = convert.layout_name("channels_first", rank)
    message = _tf_refusal(lambda: op(x, w, 1 if rank < 3 else [1] * 5, "SAME", data_format=fmt))
    assert refusal("tensorflow", spec) is None
    comparison = _comparison(spec)
    assert comparison.passed, comparison.reason
    assert probes.channels_first_refused(tf_adapter.route(spec)) == (message is not None)
    if message is None:
        pytest.skip(f"TensorFlow ran {fmt} conv{rank}d on this CPU (oneDNN): the refusal is not a finding here")
    assert "only supports the NHWC tensor format" in message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv3d_dilation(dtype):
    x, w = np.zeros((1, 5, 5, 5, 2), dtype), np.zeros((2, 2, 2, 2, 2), dtype)
    message = _tf_refusal(lambda: tf.nn.conv3d(x, w, [1] * 5, "VALID", dilations=[1, 2, 2, 2, 1]))
    spec = ConvSpec(spatial=(5, 5, 5), kernel=2, in_channels=2, out_channels=2, dilations=2, dtype=dtype,
                    layout="NDHWC")
    _adapter_follows_tf(spec, message, "a dilated Conv3D")
    assert "only supports dilated rates of 1" in message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv3d_groups(dtype):
    """A grouped Conv3D filter (C/groups deep): Eigen says 'Number of channels in filter (2) must match last
    dimension of input (4)', oneDNN 'input and filter must have the same depth: 4 vs 2'."""
    x, w = np.zeros((1, 5, 5, 5, 4), dtype), np.zeros((2, 2, 2, 2, 4), dtype)
    message = _tf_refusal(lambda: tf.nn.conv3d(x, w, [1] * 5, "VALID"))
    spec = ConvSpec(spatial=(5, 5, 5), kernel=2, in_channels=4, out_channels=4, groups=2, dtype=dtype, layout="NDHWC")
    _adapter_follows_tf(spec, message, "a grouped Conv3D")
    assert "must match last dimension of input" in message or "must have the same depth" in message


def _gradient(op, x: np.ndarray, w: np.ndarray, wrt: int):
    operands = [tf.constant(x), tf.constant(w)]
    with tf.GradientTape() as tape:
        tape.watch(operands[wrt])
        y = op(*operands)
    return tape.gradient(y, operands[wrt])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("quantity", ["grad_input", "grad_weight"])
def test_conv2d_gradients_with_dilation(quantity, dtype):
    x, w = np.ones((1, 9, 9, 2), dtype), np.ones((3, 3, 2, 2), dtype)
    conv = lambda a, b: tf.nn.conv2d(a, b, 1, "VALID", dilations=2)  # noqa: E731
    message = _tf_refusal(lambda: _gradient(conv, x, w, ["grad_input", "grad_weight"].index(quantity)))
    spec = ConvSpec(spatial=(9, 9), kernel=3, in_channels=2, out_channels=2, dilations=2, dtype=dtype, layout="NHWC",
                    quantity=quantity)
    _adapter_follows_tf(spec, message, f"the {quantity} of a dilated conv2d")
    assert "do not yet support dilation rates larger than 1" in message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_transpose_with_dilation(dtype):
    x, w = np.ones((1, 5, 5, 2), dtype), np.ones((3, 3, 2, 2), dtype)
    message = _tf_refusal(lambda: tf.nn.conv2d_transpose(x, w, [1, 9, 9, 2], 1, "VALID", dilations=2))
    spec = ConvSpec(op="conv_transpose", spatial=(5, 5), kernel=3, in_channels=2, out_channels=2, dilations=2,
                    dtype=dtype, layout="NHWC")
    _adapter_follows_tf(spec, message, "a dilated conv2d_transpose")
    assert "do not yet support dilation rates larger than 1" in message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grouped_conv2d_gradients(dtype):
    x, w = np.ones((1, 6, 6, 4), dtype), np.ones((3, 3, 2, 4), dtype)
    conv = lambda a, b: tf.nn.conv2d(a, b, 1, "VALID")  # noqa: E731
    message = _tf_refusal(lambda: _gradient(conv, x, w, 1))
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4, groups=2, dtype=dtype, layout="NHWC",
                    quantity="grad_weight")
    _adapter_follows_tf(spec, message, "the gradient of a grouped conv2d")
    assert "Gradients for grouped convolutions are not supported on CPU" in message


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_conv2d_unequal_strides(dtype):
    """Eigen's depthwise kernel refuses unequal strides; the adapter runs such cases as grouped conv2d
    everywhere. Where TF runs them (oneDNN), its values must be right."""
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=2, out_channels=2, groups=2, strides=(1, 2), dtype=dtype,
                    layout="NHWC")
    x, w = parity.generate(spec)
    kernel = np.moveaxis(w.reshape(spec.in_channels, -1, *w.shape[2:]), (0, 1), (-2, -1))
    raw = []
    message = _tf_refusal(lambda: raw.append(tf.nn.depthwise_conv2d(convert.to_channels_last(x), kernel, [1, 1, 2, 1],
                                                                    "VALID").numpy()))
    assert not tf_adapter.uses_depthwise_op(spec) and _comparison(spec).passed
    if message is None:
        direct = parity.compare(convert.to_channels_first(raw[0]), parity.exact(spec, x, w), dtype)
        assert direct.passed, f"TensorFlow ran depthwise_conv2d with strides (1, 2) but got it wrong: {direct.reason}"
        pytest.skip(f"TensorFlow ran depthwise_conv2d with strides (1, 2) on this CPU ({dtype}) correctly")
    assert "only supports equal length strides in the row and column dimensions" in message


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_depthwise_conv2d_strided_dilated_is_wrong(dtype):
    """tf.nn.depthwise_conv2d documents strides > 1 with dilations > 1 as unsupported, but TF 2.21 only
    warns and returns wrong values; parity's comparator must flag them, and the adapter must avoid them."""
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=8, groups=4, strides=2, dilations=2,
                    padding="SAME", dtype=dtype, layout="NHWC", batch=2)
    x, w = parity.generate(spec)
    kernel = np.moveaxis(w.reshape(spec.in_channels, -1, *w.shape[2:]), (0, 1), (-2, -1))
    try:
        with pytest.warns(UserWarning, match="strides must be 1"):
            raw = tf.nn.depthwise_conv2d(convert.to_channels_last(x), kernel, [1, 2, 2, 1], "SAME", dilations=[2, 2])
    except tf.errors.OpError as error:  # e.g. a 16-bit kernel this CPU's build does not have
        pytest.skip(probes.tf_reason(error))
    direct = parity.compare(convert.to_channels_first(raw.numpy()), parity.exact(spec, x, w), dtype)
    assert direct.status == "fail" and direct.bound_ratio > 10
    assert not tf_adapter.uses_depthwise_op(spec)
    assert parity.compare(tf_adapter.ADAPTER.run(spec, x, w), parity.exact(spec, x, w), dtype).passed

"""Framework behaviour parity relies on or reports, checked against the installed frameworks.

If one of these starts failing after a framework upgrade, the framework changed: update the adapter's
declared limits (or routing) and the README's findings, not the assertion.
"""
import numpy as np
import pytest

import parity
from parity import convert
from parity.adapters import tensorflow as tf_adapter
from parity.spec import ConvSpec

tf = pytest.importorskip("tensorflow")


def _tf_error(call) -> str:
    with pytest.raises(Exception) as info:
        call()
    return str(info.value)


def _quoted(reason: str) -> str:
    """The part of a declared reason that quotes TF."""
    return reason.split("'")[1]


def test_channels_first_reason_quotes_tf():
    x = np.zeros((1, 2, 5, 5), np.float32)
    message = _tf_error(lambda: tf.nn.conv2d(x, np.zeros((3, 3, 2, 2), np.float32), 1, "SAME", data_format="NCHW"))
    assert _quoted(tf_adapter.CHANNELS_FIRST) in message


def test_conv3d_dilation_reason_quotes_tf():
    x, w = np.zeros((1, 5, 5, 5, 2), np.float32), np.zeros((2, 2, 2, 2, 2), np.float32)
    message = _tf_error(lambda: tf.nn.conv3d(x, w, [1] * 5, "VALID", dilations=[1, 2, 2, 2, 1]))
    assert _quoted(tf_adapter.CONV3D_DILATION) in message


def test_conv3d_groups_reason_quotes_tf():
    x, w = np.zeros((1, 5, 5, 5, 4), np.float32), np.zeros((2, 2, 2, 2, 4), np.float32)
    message = _tf_error(lambda: tf.nn.conv3d(x, w, [1] * 5, "VALID"))
    assert "must match last dimension of input" in message
    assert "must match last dimension of input" in tf_adapter.CONV3D_GROUPS


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_depthwise_conv2d_strided_dilated_is_wrong(dtype):
    """tf.nn.depthwise_conv2d documents strides > 1 with dilations > 1 as unsupported, but TF 2.21 only
    warns and returns wrong values; parity's comparator must flag them, and the adapter must avoid them."""
    spec = ConvSpec(spatial=(9, 8), kernel=3, in_channels=4, out_channels=8, groups=4, strides=2, dilations=2,
                    padding="SAME", dtype=dtype, layout="NHWC", batch=2)
    x, w = parity.generate(spec)
    kernel = convert.depthwise_to_tf(w, spec.in_channels)
    with pytest.warns(UserWarning, match="strides must be 1"):
        raw = tf.nn.depthwise_conv2d(convert.to_channels_last(x), kernel, [1, 2, 2, 1], "SAME", dilations=[2, 2])
    direct = parity.compare(convert.to_channels_first(raw.numpy()), parity.exact(spec, x, w), dtype)
    assert direct.status == "fail" and direct.bound_ratio > 10
    assert not tf_adapter.uses_depthwise_op(spec)
    assert parity.compare(tf_adapter.ADAPTER.run(spec, x, w), parity.exact(spec, x, w), dtype).passed

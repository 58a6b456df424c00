"""Worker for the ``tf1`` and ``tflearn`` backends: TensorFlow 1.15 graphs run in a Session.

Runs under the tf1 environment's Python 3.7 (see parity.adapters.legacy.envs); imports nothing from parity. The harness
has already put the operands in TensorFlow's layout (the case's data layout, ``[k..., in, out]`` kernels,
``[k..., out, in]`` for transposed convs, the ``(width, 1, in, out)`` kernel of ``tflearn.conv_1d``, the
``[kh, kw, in, multiplier]`` kernel of ``tflearn.grouped_conv_2d``) and chosen every argument; this script
only calls the framework. Request ``call`` fields:

- ``framework``: "tf1" or "tflearn";
- ``quantity``: "output", "grad_input" or "grad_weight" (``tf.gradients`` with ``dy`` as ``grad_ys``, with
  respect to the data or to the kernel: the tf1 constant, the tflearn layer's variable ``W``);
- ``bits``: the arrays are bfloat16 sent as their uint16 bits (numpy 1.x has no bfloat16; TensorFlow 1.15
  registers its own numpy type, ``tf.bfloat16.as_numpy_dtype``), and the result goes back the same way;
- tf1: ``op`` (``tf.nn.conv1d/2d/3d``, ``tf.nn.conv1d/2d/3d_transpose``), ``kwargs`` for it, ``pad`` (a
  ``tf.pad`` list applied to the data first, or null) and ``crop`` (widths applied to the op's result as
  ``[[lo, hi], ...]`` over every axis, padding first, negative entries cropping; or null);
- tflearn: ``op`` (a layer of ``tflearn.layers.conv``) and ``kwargs`` for it; the kernel goes in as
  ``weights_init``, without bias, linear activation.

A call TensorFlow refuses when it runs (``InvalidArgumentError``, ``UnimplementedError``: a CPU kernel's
limit) is answered ``refused`` with the first sentence of TensorFlow's message and the op that refused.
"""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from worker_protocol import Refusal, serve  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
REFUSALS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)


def compute(call, arrays):
    if call["bits"]:
        arrays = {name: a.view(tf.bfloat16.as_numpy_dtype) for name, a in arrays.items()}
    graph = tf.Graph()
    with graph.as_default():
        x, y, kernel = (tflearn_conv if call["framework"] == "tflearn" else tf1_conv)(call, arrays)
        if call["quantity"] != "output":
            target = x if call["quantity"] == "grad_input" else kernel
            y = tf.gradients(y, [target], grad_ys=tf.constant(arrays["dy"]))[0]
        with tf.Session(graph=graph) as session:
            session.run(tf.global_variables_initializer())
            try:
                result = session.run(y)
            except REFUSALS as error:
                raise Refusal(refusal(error)) from None
    return result.view(np.uint16) if call["bits"] else result


def tf1_conv(call, arrays):
    """(data, result, kernel) of ``tf.nn.<op>``."""
    x, w = tf.constant(arrays["x"]), tf.constant(arrays["w"])
    data = tf.pad(x, call["pad"]) if call["pad"] else x
    y = getattr(tf.nn, call["op"])(data, w, **call["kwargs"])
    return x, pad_or_crop(y, call["crop"]) if call["crop"] else y, w


def pad_or_crop(y, widths):
    """Zero-pad by the positive widths, then cut the negative ones off (a transposed conv's crop)."""
    y = tf.pad(y, [[max(0, lo), max(0, hi)] for lo, hi in widths])
    return y[tuple(slice(max(0, -lo), n - max(0, -hi)) for (lo, hi), n in zip(widths, y.shape.as_list()))]


def tflearn_conv(call, arrays):
    """(data, result, kernel variable) of the tflearn layer."""
    from tflearn.layers import conv

    x = tf.constant(arrays["x"])
    y = getattr(conv, call["op"])(x, weights_init=arrays["w"], bias=False, activation="linear", **call["kwargs"])
    return x, y, y.W


def refusal(error):
    """``TensorFlow 1.15.5 (Conv2DBackpropInput): 'Current libxsmm ... larger than 1.'``: the first sentence
    (the rest repeats the case's shapes)."""
    text = (error.message or type(error).__name__).strip().splitlines()[0]
    sentence = text.split(". ", 1)[0].rstrip(".") + "."
    op = getattr(error, "op", None)
    where = " ({})".format(op.type) if op is not None else ""
    return "TensorFlow {}{}: '{}'".format(tf.__version__, where, sentence)


if __name__ == "__main__":
    serve(compute)

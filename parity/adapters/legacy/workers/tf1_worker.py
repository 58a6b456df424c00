"""Worker for the ``tf1`` and ``tflearn`` backends: TensorFlow 1.15 graphs run in a Session.

Runs under the tf1 environment's Python 3.7 (see parity.adapters.legacy.envs); imports nothing from parity. The harness
has already put the operands in TensorFlow's layout (the case's data layout, ``[k..., in, out]`` kernels,
``[k..., out, in]`` for transposed convs, the ``(width, 1, in, out)`` kernel of ``tflearn.conv_1d``, the
``[kh, kw, in, multiplier]`` kernel of ``tflearn.grouped_conv_2d``) and chosen every argument; this script
only calls the framework. Request ``call`` fields:

- ``framework``: "tf1" or "tflearn";
- ``quantity``: "output", "grad_input" or "grad_weight" (``tf.gradients`` with ``dy`` as ``grad_ys``, with
  respect to the data or to the kernel, for tflearn the layer's variable ``W``);
- ``bits``: the arrays are bfloat16 sent as their uint16 bits (numpy 1.x has no bfloat16; TensorFlow 1.15
  registers its own numpy type, ``tf.bfloat16.as_numpy_dtype``), and the result goes back the same way;
- tf1: ``op`` (``tf.nn.conv1d/2d/3d``, ``tf.nn.conv1d/2d/3d_transpose``), ``kwargs`` for it, ``pad`` (a
  ``tf.pad`` list applied to the data first, or null) and ``crop`` (widths applied to the op's result as
  ``[[lo, hi], ...]`` over every axis, padding first, negative entries cropping; or null);
- tflearn: ``op`` (a layer of ``tflearn.layers.conv``) and ``kwargs`` for it; the kernel goes in as
  ``weights_init``, without bias, linear activation.

Operands are fed to placeholders of a graph and Session kept for the next calls with the same arguments
and shapes (the latest 16). A call TensorFlow refuses when it runs (``InvalidArgumentError``,
``UnimplementedError``: a CPU kernel's limit) is answered ``refused`` with the first sentence of TensorFlow's
message and the op that refused.
"""
import json
import os
import warnings
from collections import OrderedDict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from worker_protocol import Refusal, serve  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
REFUSALS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError)
# Sessions of the latest calls, by call and operand shapes: bfloat16 ops run on XLA_CPU, which compiles each
# op for its session (seconds); a case's canaries and its other data distributions reuse the compiled one.
SESSIONS = OrderedDict()
KEEP = 16


def compute(call, arrays):
    if call["bits"]:
        arrays = {name: a.view(tf.bfloat16.as_numpy_dtype) for name, a in arrays.items()}
    key = json.dumps([call, sorted((name, a.shape, a.dtype.name) for name, a in arrays.items())], sort_keys=True)
    if key not in SESSIONS:
        SESSIONS[key] = build(call, arrays)
        if len(SESSIONS) > KEEP:
            SESSIONS.popitem(last=False)[1][0].close()
    SESSIONS.move_to_end(key)
    session, inputs, y, initialize = SESSIONS[key]
    feed = {inputs[name]: a for name, a in arrays.items()}
    try:
        session.run(initialize, feed)  # tflearn's W, initialized from the fed kernel
        result = session.run(y, feed)
    except REFUSALS as error:
        raise Refusal(refusal(error)) from None
    return result.view(np.uint16) if call["bits"] else result


def build(call, arrays):
    """(session, placeholders by operand name, the quantity, the variables' initializer) for one call on
    operands of these shapes."""
    graph = tf.Graph()
    with graph.as_default():
        inputs = {name: tf.placeholder(tf.as_dtype(a.dtype), a.shape, name=name) for name, a in arrays.items()}
        x, y, kernel = (tflearn_conv if call["framework"] == "tflearn" else tf1_conv)(call, inputs)
        if call["quantity"] != "output":
            target = x if call["quantity"] == "grad_input" else kernel
            y = tf.gradients(y, [target], grad_ys=inputs["dy"])[0]
        initialize = tf.global_variables_initializer()
    return tf.Session(graph=graph), inputs, y, initialize


def tf1_conv(call, inputs):
    """(data, result, kernel) of ``tf.nn.<op>``."""
    x, w = inputs["x"], inputs["w"]
    data = tf.pad(x, call["pad"]) if call["pad"] else x
    y = getattr(tf.nn, call["op"])(data, w, **call["kwargs"])
    return x, pad_or_crop(y, call["crop"]) if call["crop"] else y, w


def pad_or_crop(y, widths):
    """Zero-pad by the positive widths, then cut the negative ones off (a transposed conv's crop)."""
    y = tf.pad(y, [[max(0, lo), max(0, hi)] for lo, hi in widths])
    return y[tuple(slice(max(0, -lo), n - max(0, -hi)) for (lo, hi), n in zip(widths, y.shape.as_list()))]


def tflearn_conv(call, inputs):
    """(data, result, kernel variable) of the tflearn layer."""
    from tflearn.layers import conv

    x = inputs["x"]
    y = getattr(conv, call["op"])(x, weights_init=inputs["w"], bias=False, activation="linear", **call["kwargs"])
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

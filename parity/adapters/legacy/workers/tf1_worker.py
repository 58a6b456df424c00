"""Worker for the ``tf1`` and ``tflearn`` backends: TensorFlow 1.15 graphs run in a Session.

Runs under the tf1 environment's Python 3.7 (see parity.adapters.legacy.envs); imports nothing from parity. The harness
has already put the operands in TensorFlow's layout (channels-last data, ``[k..., in, out]`` kernels, the
``(width, 1, in, out)`` kernel of ``tflearn.conv_1d``) and chosen every argument; this script only calls
the framework. Request ``call`` fields:

- ``framework``: "tf1" or "tflearn";
- tf1: ``op`` ("conv1d", "conv2d", "conv3d"), ``kwargs`` for ``tf.nn.<op>`` (strides, padding, dilations),
  ``pad`` (a ``tf.pad`` list applied first, or null), ``quantity`` ("output", "grad_input", "grad_weight";
  gradients by ``tf.gradients`` with ``dy`` as ``grad_ys``);
- tflearn: ``op`` ("conv_1d", "conv_2d") and ``kwargs`` for it (nb_filter, filter_size, strides, padding);
  the kernel goes in as ``weights_init``, without bias.
"""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import tensorflow as tf  # noqa: E402

from worker_protocol import serve  # noqa: E402

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)


def compute(call, arrays):
    graph = tf.Graph()
    with graph.as_default():
        result = (tflearn_conv if call["framework"] == "tflearn" else tf1_conv)(call, arrays)
        with tf.Session(graph=graph) as session:
            session.run(tf.global_variables_initializer())
            return session.run(result)


def tf1_conv(call, arrays):
    x, w = tf.constant(arrays["x"]), tf.constant(arrays["w"])
    data = tf.pad(x, call["pad"]) if call["pad"] else x
    y = getattr(tf.nn, call["op"])(data, w, **call["kwargs"])
    if call["quantity"] == "output":
        return y
    target = x if call["quantity"] == "grad_input" else w
    return tf.gradients(y, [target], grad_ys=tf.constant(arrays["dy"]))[0]


def tflearn_conv(call, arrays):
    import tflearn

    layer = getattr(tflearn, call["op"])
    return layer(tf.constant(arrays["x"]), weights_init=arrays["w"], bias=False, activation="linear",
                 **call["kwargs"])


if __name__ == "__main__":
    serve(compute)

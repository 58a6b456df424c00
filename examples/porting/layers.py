"""A Keras layer and two hand-made PyTorch ports of it, for ``parity layers``:

    parity layers examples/porting/layers.py:keras_layer examples/porting/layers.py:torch_port
    parity layers examples/porting/layers.py:keras_layer examples/porting/layers.py:torch_fixed

``torch_port`` is a port as it is often written: the kernel transposed with ``.transpose(3, 2, 1, 0)``
(which swaps H and W) and ``padding=1`` for Keras' ``"same"`` (TF pads (0, 1) at stride 2 on even sizes).
``torch_fixed`` is what :func:`parity.porting.layers.convert_layer` builds.
"""
import numpy as np


def keras_layer():
    import keras

    layer = keras.layers.Conv2D(8, 3, strides=2, padding="same")
    layer.build((None, None, None, 3))
    rng = np.random.default_rng(0)
    layer.set_weights([rng.standard_normal((3, 3, 3, 8)).astype(np.float32),
                       rng.standard_normal(8).astype(np.float32)])
    return layer


def torch_port():
    import torch

    kernel, bias = keras_layer().get_weights()
    layer = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 1, 0).copy()))
        layer.bias.copy_(torch.from_numpy(bias))
    return layer


def torch_fixed():
    from parity.porting.layers import convert_layer

    return convert_layer(keras_layer(), to="torch")

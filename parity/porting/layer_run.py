"""Running a framework's convolution layer on parity's canonical arrays, and the exact result of a
:class:`~parity.porting.layer_read.LayerConv` (bias included, padding filled as its ``padding_mode`` says)."""
from __future__ import annotations

import contextlib
from typing import Any, Final, Iterator

import numpy as np

from parity.core import convert, files
from parity.reference import conv as reference
from parity.porting.layer_read import LayerConv
from parity.reference.conv import Reference
from parity.core.spec import ConvSpec

_NUMPY_MODES: Final = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def run(layer: Any, conv: LayerConv, x: np.ndarray) -> np.ndarray:
    """The layer's output for canonical (N, C, *spatial) ``x``, in canonical order (the convolution only:
    a Keras activation is switched off for the call)."""
    data = convert.to_channels_last(x) if conv.channels_last else x
    if conv.framework == "torch":
        import torch

        wide = data.astype(np.float32) if data.dtype.name == "bfloat16" else data  # torch reads no ml_dtypes array
        tensor = torch.from_numpy(np.ascontiguousarray(wide))
        with torch.no_grad():
            y = files.numpy_of(layer(tensor if wide is data else tensor.bfloat16()))
    elif conv.framework == "keras":
        with _linear(layer):
            y = np.asarray(layer(np.ascontiguousarray(data)))
    elif isinstance(layer, tuple):
        y = np.asarray(layer[0].apply(layer[1], data))
    else:
        y = np.asarray(layer(data))
    return convert.to_channels_first(y) if conv.channels_last else y


@contextlib.contextmanager
def _linear(layer: Any) -> Iterator[None]:
    """A Keras convolution (or the last layer of a Sequential) without its activation, for the call."""
    inner = layer.layers[-1] if hasattr(layer, "layers") else layer
    activation = getattr(inner, "activation", None)
    if activation is None or getattr(activation, "__name__", "") == "linear":
        yield
        return
    import keras

    inner.activation = keras.activations.linear
    try:
        yield
    finally:
        inner.activation = activation


def spec(conv: LayerConv, spatial: tuple[int, ...], batch: int, padded: bool = False) -> ConvSpec:
    """The canonical spec of the layer on input of this size, its padding resolved (``padded``: the input is
    padded already, so the spec pads nothing)."""
    common = dict(kernel=conv.kernel, in_channels=conv.in_channels, out_channels=conv.out_channels, batch=batch,
                  strides=conv.strides, dilations=conv.dilations, groups=conv.groups, dtype=conv.dtype)
    if conv.transposed:
        crops, extra = conv.crops(spatial)
        return ConvSpec(op="conv_transpose", spatial=spatial, padding=crops, output_padding=extra, **common)
    pads = tuple((0, 0) for _ in spatial) if padded else conv.pads(spatial)
    return ConvSpec(spatial=spatial, padding=pads, **common)


def exact(conv: LayerConv, x: np.ndarray) -> Reference:
    """The exact output of the layer for canonical ``x``: the bias is one more term of each sum."""
    padded = not conv.transposed and conv.padding_mode != "zeros"
    if padded:
        x = np.pad(x, [(0, 0), (0, 0), *conv.pads(x.shape[2:])], mode=_NUMPY_MODES[conv.padding_mode])
    ref = reference.reference(spec(conv, x.shape[2:], x.shape[0], padded), x, conv.weight)
    if conv.bias is None:
        return ref
    bias = np.asarray(conv.bias, np.float64).reshape(1, -1, *(1,) * conv.rank)
    return Reference(ref.value + bias, ref.low, ref.scale + np.abs(bias), ref.accumulation_length + 1,
                     ref.integer_inputs, ref.taps, lambda mask: ref.repeats(mask) + 1)  # the bias: one product more

"""The equivalent of a :class:`~parity.porting.layer_read.LayerConv` as a PyTorch or Keras layer, weights and bias
converted (layouts, Keras' depthwise multiplier, transposed kernels).

A padding the target's convolution cannot express becomes a padding layer in front of it
(``nn.ZeroPad2d``, ``keras.layers.ZeroPadding2D``); a transposed crop it cannot express, a crop after it.
TensorFlow's SAME at strides above 1 pads by the input size: for PyTorch it becomes
:class:`parity.porting.torch_same.SamePad`, or fixed pads when ``input_size`` is given. What cannot be expressed
is a one-line ``ValueError``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from parity.core import convert
from parity.core.convert import Pads
from parity.core.files import first_line
from parity.porting.layer_read import LayerConv


def build(conv: LayerConv, to: str, input_size: tuple[int, ...] | None) -> Any:
    if conv.activation != "linear":
        raise ValueError(f"{conv.kind} activation must be linear to convert (the layer is a convolution), got "
                         f"{conv.activation!r}: apply the activation after the converted layer")
    if to not in ("torch", "keras"):
        raise ValueError(f"to must be 'torch' or 'keras', got {to!r}")
    try:
        return _torch(conv, input_size) if to == "torch" else _keras(conv)
    except (TypeError, RuntimeError) as error:  # the target framework refuses these arguments
        raise ValueError(f"{conv.kind} must be expressible by {to}, got: {first_line(error)}") from None
    except ValueError as error:
        if str(error).startswith(conv.kind):
            raise
        raise ValueError(f"{conv.kind} must be expressible by {to}, got: {first_line(error)}") from None


def _fixed_pads(conv: LayerConv, input_size: tuple[int, ...] | None) -> Pads | None:
    """The layer's (lo, hi) pads if they are the same for every input size (or at ``input_size``), else None."""
    if input_size is not None:
        return conv.pads(input_size)
    if conv.padding == "SAME" and any(s > 1 for s in conv.strides):
        return None
    return conv.pads((1,) * conv.rank)


# --- PyTorch ------------------------------------------------------------------------------------------------
def _torch(conv: LayerConv, input_size: tuple[int, ...] | None) -> Any:
    import torch

    dtype = getattr(torch, conv.dtype)
    common = dict(in_channels=conv.in_channels, out_channels=conv.out_channels, kernel_size=conv.kernel,
                  stride=conv.strides, dilation=conv.dilations, groups=conv.groups, bias=conv.bias is not None,
                  dtype=dtype)
    if conv.transposed:
        return _torch_transposed(conv, common)
    layer_type = getattr(torch.nn, f"Conv{conv.rank}d")
    pads = _fixed_pads(conv, input_size)
    symmetric = None if pads is None else convert.symmetric_pads(pads)
    if symmetric is not None:
        layer = layer_type(padding=symmetric, padding_mode=conv.padding_mode, **common)
        return _torch_weights(layer, conv)
    layer = _torch_weights(layer_type(padding=0, **common), conv)
    if pads is None:
        from parity.porting.torch_same import SamePad

        return torch.nn.Sequential(SamePad(conv.kernel, conv.strides, conv.dilations), layer)
    return torch.nn.Sequential(_torch_pad(conv.rank, conv.padding_mode, pads), layer)


def _torch_pad(rank: int, mode: str, pads: Pads) -> Any:
    import torch

    name = {"zeros": "ZeroPad", "reflect": "ReflectionPad", "replicate": "ReplicationPad",
            "circular": "CircularPad"}[mode]
    return getattr(torch.nn, f"{name}{rank}d")(convert.torch_pad_arg(pads))


def _torch_transposed(conv: LayerConv, common: dict) -> Any:
    import torch

    crops, extra = conv.crops((1,) * conv.rank)  # PyTorch's and Keras' crops do not depend on the input size
    native = convert.torch_transpose_args(crops, extra, conv.strides, conv.dilations)
    layer_type = getattr(torch.nn, f"ConvTranspose{conv.rank}d")
    if native is not None:
        return _torch_weights(layer_type(padding=native[0], output_padding=native[1], **common), conv)
    layer = _torch_weights(layer_type(**common), conv)
    crop = convert.crop_full_transpose(crops, extra)  # negative: cropped
    return torch.nn.Sequential(layer, getattr(torch.nn, f"ZeroPad{conv.rank}d")(convert.torch_pad_arg(crop)))


def _torch_weights(layer: Any, conv: LayerConv) -> Any:
    import torch

    def tensor(a: np.ndarray) -> "torch.Tensor":  # torch.from_numpy has no bfloat16: through float32, exactly
        return torch.from_numpy(np.ascontiguousarray(a, np.float32 if a.dtype.name == "bfloat16" else a.dtype))

    with torch.no_grad():
        layer.weight.copy_(tensor(conv.weight))
        if conv.bias is not None:
            layer.bias.copy_(tensor(conv.bias))
    return layer


# --- Keras --------------------------------------------------------------------------------------------------
def _keras(conv: LayerConv) -> Any:
    import keras

    if conv.padding_mode != "zeros":
        raise ValueError(f"{conv.kind} padding_mode must be 'zeros' to convert to keras (keras pads with zeros "
                         f"only), got {conv.padding_mode!r}")
    letters = convert.layout_name("channels_first", conv.rank)[2:]
    common = dict(kernel_size=conv.kernel, strides=conv.strides, dilation_rate=conv.dilations,
                  use_bias=conv.bias is not None, dtype=conv.dtype)
    if conv.transposed:
        return _keras_transposed(conv, common, letters)
    depthwise = conv.groups == conv.in_channels and conv.groups > 1
    mode, pads = _keras_padding(conv)
    if depthwise:
        layer = getattr(keras.layers, f"DepthwiseConv{conv.rank}D")(
            depth_multiplier=conv.out_channels // conv.groups, padding=mode, **common)
        kernel = convert.kernel_from_canonical(conv.weight, convert.kernel_layout(letters + "IM", conv.rank),
                                               conv.groups)
    else:
        layer = getattr(keras.layers, f"Conv{conv.rank}D")(conv.out_channels, groups=conv.groups, padding=mode,
                                                            **common)
        kernel = convert.kernel_from_canonical(conv.weight, convert.kernel_layout(letters + "IO", conv.rank), 1)
    layer.build((None, *(None,) * conv.rank, conv.in_channels))
    layer.set_weights([kernel] + ([conv.bias] if conv.bias is not None else []))
    if pads is None:
        return layer
    padding = getattr(keras.layers, f"ZeroPadding{conv.rank}D")(pads[0] if conv.rank == 1 else pads)
    return keras.Sequential([padding, layer])


def _keras_padding(conv: LayerConv) -> tuple[str, Pads | None]:
    """(Keras' padding mode, pads for a ZeroPadding layer in front, or None). Explicit pads are 'same' only
    where SAME gives them at every input size (stride 1)."""
    if conv.padding in ("VALID", "SAME", "CAUSAL"):
        return str(conv.padding).lower(), None
    pads = tuple(conv.padding)
    if all(lo == hi == 0 for lo, hi in pads):
        return "valid", None
    same = convert.explicit_pads("SAME", (1,) * conv.rank, conv.kernel, conv.strides, conv.dilations)
    if all(s == 1 for s in conv.strides) and same == pads:
        return "same", None
    return "valid", pads


def _keras_transposed(conv: LayerConv, common: dict, letters: str) -> Any:
    import keras

    if conv.groups != 1:
        raise ValueError(f"{conv.kind} groups must be 1 to convert to keras (keras' Conv*DTranspose has no "
                         f"groups), got {conv.groups}")
    size = (8,) * conv.rank  # crops do not depend on the input size (see LayerConv.crops)
    crops, extra = conv.crops(size)
    native = convert.keras_transpose_args(crops, extra, size, conv.kernel, conv.strides, conv.dilations)
    layer_type = getattr(keras.layers, f"Conv{conv.rank}DTranspose")
    mode, output_padding, cropping = (native[0], native[1], None) if native else _keras_crop(conv, crops, extra)
    layer = layer_type(conv.out_channels, padding=mode, output_padding=output_padding, **common)
    layer.build((None, *(None,) * conv.rank, conv.in_channels))
    kernel = convert.kernel_from_canonical(conv.weight, convert.kernel_layout(letters + "OI", conv.rank, True), 1)
    layer.set_weights([kernel] + ([conv.bias] if conv.bias is not None else []))
    if cropping is None:
        return layer
    crop = getattr(keras.layers, f"Cropping{conv.rank}D")(cropping[0] if conv.rank == 1 else cropping)
    return keras.Sequential([layer, crop])


def _keras_crop(conv: LayerConv, crops: Pads, extra: tuple[int, ...]) -> tuple[str, tuple[int, ...], Pads]:
    """('valid', output_padding, cropping): Keras' 'valid' transposed conv gives the full output grown by its
    output_padding (zeros, fewer than the stride), which a Cropping layer then trims."""
    grow, cropping = [], []
    for (lo, hi), e, s in zip(crops, extra, conv.strides):
        end = hi - e  # < 0: the output reaches past the full output, where it is 0
        if -end >= s:
            raise ValueError(f"{conv.kind} output must reach past the full output by less than the stride to convert "
                             f"to keras (its output_padding < strides), got {-end} with stride {s}")
        grow.append(max(-end, 0))
        cropping.append((lo, max(end, 0)))
    return "valid", tuple(grow), tuple(cropping)

"""A framework's convolution layer read into one description, :class:`LayerConv`, in parity's terms.

Read: ``torch.nn.Conv1d/2d/3d`` (``padding`` ints or 'same'/'valid', every ``padding_mode``) and
``ConvTranspose1d/2d/3d``; ``keras.layers.Conv1D/2D/3D``, ``DepthwiseConv1D/2D`` and
``Conv1D/2D/3DTranspose``; Flax ``nn.Conv`` (bound, or a ``(module, variables)`` pair); and a padding
layer followed by a convolution (``torch.nn.Sequential(nn.ZeroPad2d(...), nn.Conv2d(...))``,
``keras.Sequential([ZeroPadding2D(...), Conv2D(...)])``), which is how a padding the convolution cannot
express is written. The weight is kept in canonical order: (O, I/groups, *k), or (I, O/groups, *k) for
a transposed layer (PyTorch's).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final

import numpy as np

from parity.core import convert, files
from parity.core.convert import Pads
from parity.core import geometry

_TORCH_PADS: Final = {"ZeroPad": "zeros", "ConstantPad": "zeros", "ReflectionPad": "reflect",
                      "ReplicationPad": "replicate", "CircularPad": "circular"}


@dataclass(frozen=True, eq=False)
class LayerConv:
    """One convolution layer. ``padding``: forward, a mode (VALID, SAME, CAUSAL) or (lo, hi) per axis;
    transposed, PyTorch's crop (lo, hi) per axis or Keras' mode ("valid"/"same", with ``output_padding``
    None for Keras' default). ``padding_mode``: how the padding is filled (zeros, reflect, replicate,
    circular)."""

    framework: str
    kind: str
    weight: np.ndarray
    bias: np.ndarray | None
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    groups: int
    padding: str | Pads
    transposed: bool = False
    output_padding: tuple[int, ...] | None = None
    padding_mode: str = "zeros"
    channels_last: bool = False
    activation: str = "linear"
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return self.weight.ndim - 2

    @property
    def kernel(self) -> tuple[int, ...]:
        return tuple(self.weight.shape[2:])

    @property
    def in_channels(self) -> int:
        return self.weight.shape[0] if self.transposed else self.weight.shape[1] * self.groups

    @property
    def out_channels(self) -> int:
        return self.weight.shape[1] * self.groups if self.transposed else self.weight.shape[0]

    def pads(self, spatial: tuple[int, ...]) -> Pads:
        """Forward: explicit (lo, hi) per axis for an input of this size."""
        return convert.explicit_pads(self.padding, spatial, self.kernel, self.strides, self.dilations)

    def crops(self, spatial: tuple[int, ...]) -> tuple[Pads, tuple[int, ...]]:
        """Transposed: (crop (lo, hi) of the full output, output_padding) for an input of this size."""
        if not isinstance(self.padding, str):
            return tuple(self.padding), tuple(self.output_padding or (0,) * self.rank)
        return keras_crops(self.padding, self.output_padding, spatial, self.kernel, self.strides, self.dilations)

    def describe(self) -> str:
        data = convert.layout_name("channels_last" if self.channels_last else "channels_first", self.rank)
        padding = self.padding if isinstance(self.padding, str) else convert.pads_text(self.padding)
        parts = [f"{self.kind} {self.in_channels}->{self.out_channels}", f"{data} data",
                 f"kernel {self.kernel}", f"strides {self.strides}", f"dilations {self.dilations}",
                 f"groups {self.groups}", f"{'crop' if self.transposed else 'padding'} {padding}"]
        parts += [f"output_padding {self.output_padding}"] if self.transposed else []
        parts += [f"padding_mode {self.padding_mode}"] if self.padding_mode != "zeros" else []
        parts += [f"activation {self.activation}"] if self.activation != "linear" else []
        return ", ".join(parts + [f"bias {'yes' if self.bias is not None else 'no'}", self.dtype])


def keras_crops(mode: str, output_padding: tuple[int, ...] | None, spatial: tuple[int, ...],
                kernel: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...]) -> tuple[Pads, tuple]:
    """Keras' ``Conv*Transpose``: its output length (Keras 3's ``_get_output_shape_given_tf_padding``), then
    TensorFlow crops at the start what the forward conv of that length pads there; past the full output's
    end the output is extended (our output_padding)."""
    crops, extra = [], []
    for axis, (n, k, s, d) in enumerate(zip(spatial, kernel, strides, dilations)):
        span, op = geometry.span(k, d), None if output_padding is None else output_padding[axis]
        if mode == "valid":
            length = (n - 1) * s + span + (max(span, s) - span if op is None else op)
            lo = 0
        else:
            length = n * s if op is None else (n - 1) * s + span % 2 + op
            lo = convert.same_pads(length, k, s, d)[0]
        full = (n - 1) * s + span
        crops.append((lo, max(full - lo - length, 0)))
        extra.append(max(length - (full - lo), 0))
    return tuple(crops), tuple(extra)


def read(layer: Any) -> LayerConv:
    """The convolution ``layer`` computes; ``ValueError`` (one line) for anything else."""
    if isinstance(layer, tuple) and len(layer) == 2:
        return _flax(*layer)
    module = type(layer).__module__
    if module.startswith("torch"):
        return _torch(layer)
    if module.startswith(("keras", "tf_keras", "tensorflow")):
        return _keras(layer)
    if module.startswith("flax"):
        return _flax(layer, None)
    raise ValueError(f"layer must be a torch, keras or flax convolution layer, got {type(layer).__name__} "
                     f"from {module!r}")


def _array(value: Any) -> np.ndarray:
    """A copy of a framework's weight as a numpy array."""
    value = files.numpy_of(value)
    return np.array(value.numpy() if hasattr(value, "numpy") else value)


# --- torch --------------------------------------------------------------------------------------------------
def _torch(layer: Any) -> LayerConv:
    import torch

    if isinstance(layer, torch.nn.Sequential):
        return _torch_sequence(list(layer), torch.nn.modules.conv._ConvNd)
    if not isinstance(layer, torch.nn.modules.conv._ConvNd):
        raise ValueError(f"layer must be a torch.nn.Conv*d or ConvTranspose*d, got {type(layer).__name__}")
    weight = _array(layer.weight)
    name = f"torch.nn.{type(layer).__name__}"
    bias = None if layer.bias is None else _array(layer.bias)
    padding: str | Pads = layer.padding.upper() if isinstance(layer.padding, str) else \
        tuple((p, p) for p in layer.padding)
    return LayerConv("torch", name, weight, bias, tuple(layer.stride), tuple(layer.dilation), layer.groups, padding,
                     layer.transposed, tuple(layer.output_padding) if layer.transposed else None,
                     "zeros" if padding == "VALID" else layer.padding_mode, dtype=str(weight.dtype))


def _torch_sequence(modules: list, conv_type: type) -> LayerConv:
    """A padding module and a convolution, or a transposed convolution and a crop (negative padding)."""
    kinds = ", ".join(type(m).__name__ for m in modules)
    convs = [i for i, m in enumerate(modules) if isinstance(m, conv_type)]
    if len(convs) != 1 or len(modules) != 2:
        raise ValueError(f"a torch.nn.Sequential must be a padding module and a convolution, got {kinds}")
    conv = _torch(modules[convs[0]])
    if convs[0] == 0 and conv.transposed:
        return _cropped(conv, _torch_pad(modules[1])[1], kinds)
    return _padded([_torch_pad(modules[0])], conv, kinds)


def _cropped(conv: LayerConv, pads: Pads, what: str) -> LayerConv:
    """A transposed convolution whose output is then padded (negative: cropped) by ``pads``."""
    crops, extra = conv.crops((1,) * conv.rank)
    ends = [hi - e - after for (_, hi), e, (_, after) in zip(crops, extra, pads)]  # < 0: zeros past the end
    starts = [lo - before for (lo, _), (before, _) in zip(crops, pads)]
    if min(starts) < 0:
        raise ValueError(f"a transposed convolution must not be followed by padding at the start, got {what}")
    crop = tuple((lo, max(end, 0)) for lo, end in zip(starts, ends))
    return replace(conv, padding=crop, output_padding=tuple(max(-end, 0) for end in ends),
                   kind=f"{conv.kind} + crop")


def _torch_pad(module: Any) -> tuple[str, Pads]:
    kind = type(module).__name__
    if kind == "SamePad":  # parity.porting.torch_same.SamePad
        return "same", ()
    mode = next((m for prefix, m in _TORCH_PADS.items() if kind.startswith(prefix)), None)
    if mode is None or getattr(module, "value", 0) != 0:
        raise ValueError(f"a torch.nn.Sequential must be padding layers and a convolution, got {kind}")
    flat = tuple(module.padding)  # (lo, hi) pairs from the last axis
    return mode, tuple((flat[i], flat[i + 1]) for i in range(0, len(flat), 2))[::-1]


def _padded(pads: list[tuple[str, Pads]], conv: LayerConv, what: str) -> LayerConv:
    """A convolution after padding layers, as one layer (the convolution must not pad itself)."""
    if conv.transposed or len(pads) != 1 or conv.padding not in ("VALID", tuple((0, 0) for _ in conv.kernel)):
        raise ValueError(f"a padded convolution must be one padding layer and a forward convolution without padding "
                         f"of its own, got {what[:120]}")
    mode, given = pads[0]
    if mode == "same":
        return replace(conv, padding="SAME", kind=f"SAME padding + {conv.kind}")
    if len(given) != conv.rank:
        raise ValueError(f"the padding layer must pad the {conv.rank} spatial axes of the convolution, got {given}")
    return replace(conv, padding=given, padding_mode=mode, kind=f"{mode} padding + {conv.kind}")


# --- keras --------------------------------------------------------------------------------------------------
def _keras(layer: Any) -> LayerConv:
    kind = type(layer).__name__
    if kind in ("Sequential", "Functional"):
        inner = list(layer.layers)
        kinds = ", ".join(type(item).__name__ for item in inner)
        if len(inner) == 2 and type(inner[1]).__name__.startswith("Cropping"):
            crop = inner[1].cropping
            pairs = (tuple(crop),) if isinstance(crop[0], int) else tuple(tuple(p) for p in crop)
            return _cropped(_keras(inner[0]), tuple((-lo, -hi) for lo, hi in pairs), kinds)
        if len(inner) != 2:
            raise ValueError(f"a keras Sequential must be a ZeroPadding layer and a convolution, got {kinds}")
        return _padded([_keras_pad(inner[0])], _keras(inner[1]), kinds)
    if not hasattr(layer, "kernel_size") or not hasattr(layer, "strides"):
        raise ValueError(f"layer must be a keras Conv*D, DepthwiseConv*D or Conv*DTranspose, got {kind}")
    if not layer.built:
        raise ValueError(f"keras {kind} must be built to have weights (call it once, or layer.build(shape)), "
                         "got an unbuilt layer")
    if not hasattr(layer, "kernel"):  # SeparableConv*D: a depthwise and a pointwise kernel, two convolutions
        raise ValueError(f"layer must be a keras Conv*D, DepthwiseConv*D or Conv*DTranspose (one kernel), got {kind} "
                         f"with {', '.join(w.path.rsplit('/', 1)[-1] for w in layer.weights)}")
    stored, rank = _array(layer.kernel), len(layer.kernel_size)
    letters = convert.layout_name("channels_first", rank)[2:]
    depthwise, transposed = hasattr(layer, "depth_multiplier"), kind.endswith("Transpose")
    if depthwise:
        weight = convert.kernel_to_canonical(stored, convert.kernel_layout(letters + "IM", rank))
        groups = stored.shape[-2]
    else:
        layout = convert.kernel_layout(letters + ("OI" if transposed else "IO"), rank, transposed)
        weight, groups = convert.kernel_to_canonical(stored, layout), getattr(layer, "groups", 1)
    mode = str(layer.padding).lower()
    padding: str | Pads = mode if transposed else mode.upper()
    extra = getattr(layer, "output_padding", None)
    return LayerConv("keras", f"keras.layers.{kind}", weight, _array(layer.bias) if layer.use_bias else None,
                     tuple(layer.strides), tuple(layer.dilation_rate), groups, padding, transposed,
                     None if extra is None else tuple(extra), channels_last=layer.data_format == "channels_last",
                     activation=getattr(layer.activation, "__name__", str(layer.activation)),
                     dtype=str(np.dtype(stored.dtype)))


def _keras_pad(layer: Any) -> tuple[str, Pads]:
    kind = type(layer).__name__
    if not kind.startswith("ZeroPadding"):
        raise ValueError(f"a keras Sequential must be a ZeroPadding layer and a convolution, got {kind}")
    padding = layer.padding
    return "zeros", (tuple(padding),) if isinstance(padding[0], int) else tuple(tuple(p) for p in padding)


# --- flax ---------------------------------------------------------------------------------------------------
def _flax(module: Any, variables: Any) -> LayerConv:
    kind = type(module).__name__
    if kind != "Conv" or not hasattr(module, "feature_group_count"):
        raise ValueError(f"a flax layer must be a linen nn.Conv (bound, or (module, variables)), got {kind}")
    params = (variables if variables is not None else module.variables)["params"]
    stored = _array(params["kernel"])
    rank = stored.ndim - 2
    letters = convert.layout_name("channels_first", rank)[2:]
    weight = convert.kernel_to_canonical(stored, convert.kernel_layout(letters + "IO", rank))
    if any(d != 1 for d in _per_axis(module.input_dilation, rank)):
        raise ValueError(f"flax nn.Conv input_dilation must be 1, got {module.input_dilation} (not read)")
    strides, dilations = _per_axis(module.strides, rank), _per_axis(module.kernel_dilation, rank)
    padding, mode = _flax_padding(module.padding, weight.shape[2:], dilations)
    return LayerConv("flax", "flax.linen.Conv", weight, _array(params["bias"]) if module.use_bias else None,
                     strides, dilations, module.feature_group_count, padding, padding_mode=mode, channels_last=True,
                     dtype=str(stored.dtype))


def _per_axis(value: Any, rank: int) -> tuple[int, ...]:
    if value is None:
        return (1,) * rank
    return (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)


def _flax_padding(padding: Any, kernel: tuple[int, ...], dilations: tuple[int, ...]) -> tuple[str | Pads, str]:
    if isinstance(padding, str):
        if padding.upper() == "CIRCULAR":  # flax wraps ((k-1)//2, k//2) of the dilated kernel around
            spans = geometry.spans(kernel, dilations)
            return tuple(((s - 1) // 2, s // 2) for s in spans), "circular"
        return padding.upper(), "zeros"
    if isinstance(padding, int):
        return tuple((padding, padding) for _ in kernel), "zeros"
    return tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding), "zeros"

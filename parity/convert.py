"""Every layout, flip and padding translation parity performs, in one pure module.

Nothing here imports a framework: adapters call these functions on numpy arrays (or plain tuples)
before handing data to their framework, so the translations are unit-tested without any installed.
Canonical form: data ``(N, C, *spatial)``, kernel ``(O, C/groups, *k)``, cross-correlation.
"""
from __future__ import annotations

from typing import Final, Sequence

import numpy as np

Pads = tuple[tuple[int, int], ...]
_SPATIAL_LETTERS: Final = {1: "W", 2: "HW", 3: "DHW"}


# --- data layout -------------------------------------------------------------------------------------------
def layout_name(family: str, rank: int) -> str:
    """``("channels_last", 2)`` -> ``"NHWC"``."""
    letters = _SPATIAL_LETTERS[rank]
    return f"NC{letters}" if family == "channels_first" else f"N{letters}C"


def layout_family(name: str, rank: int) -> str:
    """``"NHWC"`` -> ``"channels_last"``; the name must match the rank."""
    for family in ("channels_first", "channels_last"):
        if str(name).upper() == layout_name(family, rank):
            return family
    choices = ", ".join(layout_name(f, rank) for f in ("channels_first", "channels_last"))
    raise ValueError(f"must be channels_first, channels_last, {choices} for rank {rank}, got {name!r}")


def to_channels_last(x: np.ndarray) -> np.ndarray:
    """(N, C, *S) -> (N, *S, C)."""
    return np.moveaxis(x, 1, -1)


def to_channels_first(x: np.ndarray) -> np.ndarray:
    """(N, *S, C) -> (N, C, *S)."""
    return np.moveaxis(x, -1, 1)


# --- kernel layout and flip --------------------------------------------------------------------------------
def kernel_to_tf(w: np.ndarray) -> np.ndarray:
    """(O, I, *k) -> TensorFlow's (*k, I, O) (``HWIO``)."""
    return np.moveaxis(w, (0, 1), (-1, -2))


def kernel_from_tf(w: np.ndarray) -> np.ndarray:
    """TensorFlow's (*k, I, O) -> (O, I, *k)."""
    return np.moveaxis(w, (-1, -2), (0, 1))


def depthwise_to_tf(w: np.ndarray, in_channels: int) -> np.ndarray:
    """(C*M, 1, *k) with groups=C -> TensorFlow depthwise (*k, C, M).

    Output channel c*M + m belongs to group c in both conventions, so this is a reshape, not a permutation.
    """
    multiplier = w.shape[0] // in_channels
    return np.moveaxis(w.reshape(in_channels, multiplier, *w.shape[2:]), (0, 1), (-2, -1))


def depthwise_from_tf(w: np.ndarray) -> np.ndarray:
    """TensorFlow depthwise (*k, C, M) -> (C*M, 1, *k)."""
    channels, multiplier = w.shape[-2:]
    return np.moveaxis(w, (-2, -1), (0, 1)).reshape(channels * multiplier, 1, *w.shape[:-2])


def flip(w: np.ndarray) -> np.ndarray:
    """Reverse every spatial axis of an (O, I, *k) kernel: convolution <-> cross-correlation."""
    return w[(slice(None), slice(None)) + (slice(None, None, -1),) * (w.ndim - 2)]


def dilate_spatial(a: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Insert f-1 zeros between neighbours along each spatial axis of an (A, B, *spatial) array: kernel
    dilation for (O, I, *k) kernels, and the input dilation ("lhs dilation") of a transposed conv."""
    span = tuple(f * (n - 1) + 1 for n, f in zip(a.shape[2:], factors))
    out = np.zeros(a.shape[:2] + span, dtype=a.dtype)
    out[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factors)] = a
    return out


# --- transposed convolution --------------------------------------------------------------------------------
def transposed_kernel_to_forward(w: np.ndarray, groups: int) -> np.ndarray:
    """A transposed conv's (C_in, C_out/g, *k) kernel (PyTorch/ONNX) -> the (C_out, C_in/g, *k) kernel of
    the equivalent forward conv: in/out swapped within each group and every spatial axis flipped."""
    c_in, per_group_out = w.shape[:2]
    grouped = w.reshape(groups, c_in // groups, per_group_out, *w.shape[2:]).swapaxes(1, 2)
    return flip(grouped.reshape(groups * per_group_out, c_in // groups, *w.shape[2:]))


def transpose_crops(padding: str | Pads, spatial: Sequence[int], kernel: Sequence[int],
                    strides: Sequence[int], dilations: Sequence[int]) -> Pads:
    """(lo, hi) crop of a transposed conv's full output, (n-1)*s + d*(k-1) + 1 long, PyTorch's ``padding``.

    TF's transposed convs are gradients of forward convs: "VALID" crops nothing, "SAME" yields n*s
    elements, cropping at the start what the forward SAME conv of n*s elements pads there (hi may come out
    negative: the full output is then extended with zeros).
    """
    if not isinstance(padding, str):
        return tuple(padding)
    if padding == "VALID":
        return tuple((0, 0) for _ in spatial)
    crops = []
    for n, k, s, d in zip(spatial, kernel, strides, dilations):
        lo = same_pads(n * s, k, s, d)[0]
        crops.append((lo, (n - 1) * s + d * (k - 1) + 1 - lo - n * s))
    return tuple(crops)


def torch_transpose_args(crops: Pads, output_padding: Sequence[int], strides: Sequence[int],
                         dilations: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(padding, output_padding) for PyTorch's ``conv_transpose*d`` when it can express the crop, else None.

    PyTorch crops ``p`` from both ends of the full output and then appends ``op`` at the end, and requires
    0 <= op < max(stride, dilation): a crop (lo, hi) with our output_padding e is p = lo, op = lo - hi + e.
    """
    padding, extra = [], []
    for (lo, hi), e, s, d in zip(crops, output_padding, strides, dilations):
        op = lo - hi + e
        if lo < 0 or not 0 <= op < max(s, d):
            return None
        padding.append(lo)
        extra.append(op)
    return tuple(padding), tuple(extra)


def tf_transpose_padding(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                         kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int]) -> str | None:
    """"SAME" or "VALID" when TensorFlow's ``conv*_transpose(output_shape, padding)`` means exactly this crop.

    TF computes the gradient of the forward conv of an ``output_shape``-sized input: it crops at the start
    what that forward conv pads there, and requires the forward conv to give back the input's size.
    """
    full = [(n - 1) * s + d * (k - 1) + 1 for n, k, s, d in zip(spatial, kernel, strides, dilations)]
    out = [f - lo - hi + e for f, (lo, hi), e in zip(full, crops, output_padding)]
    for mode in ("VALID", "SAME"):
        forward = explicit_pads(mode, out, kernel, strides, dilations)
        sizes = [(m + plo + phi - d * (k - 1) - 1) // s + 1
                 for m, (plo, phi), k, s, d in zip(out, forward, kernel, strides, dilations)]
        if list(spatial) == sizes and all(plo == lo and f - plo - m == hi - e for (plo, _), (lo, hi), f, m, e
                                          in zip(forward, crops, full, out, output_padding)):
            return mode
    return None


def crop_full_transpose(crops: Pads, output_padding: Sequence[int]) -> Pads:
    """Padding (negative: crop) that turns a transposed conv's full output into the cropped one."""
    return tuple((-lo, e - hi) for (lo, hi), e in zip(crops, output_padding))


def transposed_pads(kernel: Sequence[int], dilations: Sequence[int], crops: Pads,
                    output_padding: Sequence[int]) -> Pads:
    """Padding of the equivalent forward conv over the dilated input: (d(k-1) - lo, d(k-1) - hi + op).
    Negative entries crop."""
    return tuple((d * (k - 1) - lo, d * (k - 1) - hi + op)
                 for k, d, (lo, hi), op in zip(kernel, dilations, crops, output_padding))


# --- padding -----------------------------------------------------------------------------------------------
def same_pads(size: int, kernel: int, stride: int, dilation: int, lower: bool = False) -> tuple[int, int]:
    """TensorFlow/ONNX SAME: total = max((ceil(n/s) - 1)*s + (k-1)*d + 1 - n, 0).

    SAME (ONNX SAME_UPPER) puts the odd extra element at the end, SAME_LOWER at the start.
    """
    total = max((-(-size // stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small, large = total // 2, total - total // 2
    return (large, small) if lower else (small, large)


def explicit_pads(padding: str | Pads, spatial: Sequence[int], kernel: Sequence[int],
                  strides: Sequence[int], dilations: Sequence[int]) -> Pads:
    """Resolve a padding mode to explicit (lo, hi) per spatial axis."""
    if not isinstance(padding, str):
        return tuple(padding)
    axes = list(zip(spatial, kernel, strides, dilations))
    if padding in ("SAME", "SAME_LOWER"):
        return tuple(same_pads(*axis, lower=padding == "SAME_LOWER") for axis in axes)
    span = [(k - 1) * d for _, k, _, d in axes]
    table = {"VALID": [(0, 0) for _ in span], "FULL": [(s, s) for s in span], "CAUSAL": [(s, 0) for s in span]}
    if padding not in table:
        raise ValueError(f"padding must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or explicit, got {padding!r}")
    return tuple(table[padding])


def parse_pads(text: str, rank: int) -> Pads:
    """``"1:2,0:1"`` -> ((1, 2), (0, 1)); ``"1"`` -> ((1, 1),) * rank."""
    try:
        pairs = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        raise ValueError("padding must be VALID, SAME, SAME_LOWER, CAUSAL, FULL or 'lo:hi,lo:hi,...', "
                         f"got {text!r}") from None
    pairs = [p * 2 if len(p) == 1 else p for p in pairs] * (rank if len(pairs) == 1 else 1)
    if len(pairs) != rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"padding must have one non-negative lo:hi pair per spatial axis ({rank}), got {text!r}")
    return tuple(pairs)


def padding_slug(padding: str | Pads) -> str:
    if isinstance(padding, str):
        return padding.lower().replace("_", "")
    return "p" + "x".join(f"{lo}{hi}" if lo < 10 and hi < 10 else f"{lo}.{hi}" for lo, hi in padding)


def symmetric_pads(pads: Pads) -> tuple[int, ...] | None:
    """Per-axis int padding if every axis pads equally on both sides (PyTorch's ``padding=int``), else None."""
    return tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else None


def torch_pad_arg(pads: Pads) -> tuple[int, ...]:
    """``F.pad`` wants (lo, hi) pairs starting from the *last* axis."""
    return tuple(v for lo_hi in reversed(pads) for v in lo_hi)


def tf_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
               dilations: Sequence[int], channels_last: bool) -> str | list[list[int]]:
    """TensorFlow's ``padding`` argument: "SAME"/"VALID" when they mean exactly ``pads``, else explicit
    ``[[0, 0], [lo, hi], ..., [0, 0]]`` in the data layout's axis order."""
    for mode in ("VALID", "SAME"):
        if explicit_pads(mode, spatial, kernel, strides, dilations) == tuple(pads):
            return mode
    body = [list(p) for p in pads]
    return [[0, 0], *body, [0, 0]] if channels_last else [[0, 0], [0, 0], *body]


def pad_array(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Zero-pad the spatial axes of channels-first data; negative entries crop instead."""
    crop = tuple(slice(max(0, -lo), n - max(0, -hi)) for n, (lo, hi) in zip(x.shape[2:], pads))
    return np.pad(x[(slice(None), slice(None), *crop)], [(0, 0), (0, 0), *((max(0, lo), max(0, hi)) for lo, hi in pads)])


# --- kernel layouts, per-axis flips and transposed-conv padding modes (parity check / translate) ----------
# A kernel layout names a stored kernel's axes with letters, parsed once at the edge into a frozen
# KernelLayout (like jax's ConvDimensionNumbers): O and I are the op's output and input channels, the
# spatial letters are those of the rank (W, HW, DHW). A depthwise kernel may instead carry I and M
# (TensorFlow's [kh, kw, in, multiplier]): output channel i*M + m reads input channel i alone.
# Canonical orders: forward (O, I/groups, *k) "OI...", transposed (I, O/groups, *k) "IO...".
from dataclasses import dataclass  # noqa: E402  (this section is appended; hoist when merging)


@dataclass(frozen=True)
class KernelLayout:
    name: str
    transposed: bool = False

    @property
    def spatial(self) -> str:
        return "".join(letter for letter in self.name if letter not in "OIM")

    @property
    def canonical(self) -> str:
        return ("IO" if self.transposed else "OI") + _SPATIAL_LETTERS[len(self.spatial)]

    @property
    def depthwise(self) -> bool:
        return "M" in self.name


def kernel_layout(name: str, rank: int, transposed: bool = False) -> KernelLayout:
    """``"hwio"`` -> KernelLayout("HWIO"); the letters must be O, I (or I, M) and the rank's spatial letters."""
    text, letters = str(name).strip().upper(), _SPATIAL_LETTERS.get(rank, "")
    choices = [sorted("OI" + letters)] + ([] if transposed else [sorted("IM" + letters)])
    if sorted(text) not in choices:
        depthwise = "" if transposed else f" (or I, M and {letters} for a depthwise kernel)"
        raise ValueError(f"kernel layout must be a permutation of O, I and {letters}{depthwise} for rank {rank}"
                         f"{' transposed' if transposed else ''}, got {name!r}")
    return KernelLayout(text, transposed)


def default_kernel_layout(rank: int, channels_last: bool, transposed: bool = False) -> KernelLayout:
    """OI... (IO... transposed) for channels-first data, ...IO (...OI transposed) for channels-last."""
    channels = "IO" if transposed else "OI"
    letters = _SPATIAL_LETTERS[rank]
    return KernelLayout(letters + channels[::-1] if channels_last else channels + letters, transposed)


def letter_permutation(source: str, target: str) -> tuple[int, ...]:
    """Axis order taking an array labelled ``source`` to ``target``: ("NHWC", "NCHW") -> (0, 3, 1, 2)."""
    return tuple(source.index(letter) for letter in target)


def kernel_to_canonical(w: np.ndarray, layout: KernelLayout) -> np.ndarray:
    """A kernel stored in ``layout`` -> (O, I/g, *k) (forward) or (I, O/g, *k) (transposed).

    A depthwise (I, M) kernel becomes (I*M, 1, *k): a reshape, output channel i*M + m (see depthwise_from_tf).
    """
    if layout.depthwise:
        moved = w.transpose(letter_permutation(layout.name, "IM" + _SPATIAL_LETTERS[w.ndim - 2]))
        return moved.reshape(moved.shape[0] * moved.shape[1], 1, *moved.shape[2:])
    return w.transpose(letter_permutation(layout.name, layout.canonical))


def flip_axes(w: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Reverse the given spatial axes (0-based, in canonical order) of an (A, B, *k) kernel."""
    return w[(slice(None), slice(None)) + tuple(slice(None, None, -1) if a in axes else slice(None)
                                                for a in range(w.ndim - 2))]


def transposed_mode_crops(mode: str, kernel: Sequence[int], strides: Sequence[int],
                          dilations: Sequence[int]) -> tuple[Pads, tuple[int, ...]]:
    """(crops, output_padding) that a transposed conv's padding mode means, in PyTorch terms.

    TF SAME gives n*s outputs: the forward SAME pads of that size, total max(span - s, 0), are cropped
    (odd extra at the end; SAME_LOWER at the start) and s - span is added back when the kernel is shorter
    than the stride. VALID crops nothing.
    """
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    if mode == "VALID":
        return tuple((0, 0) for _ in spans), tuple(0 for _ in spans)
    if mode not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"padding of a transposed conv must be VALID, SAME, SAME_LOWER or explicit crops "
                         f"'lo:hi,...', got {mode!r}")
    totals = [max(span - s, 0) for span, s in zip(spans, strides)]
    crops = tuple((t - t // 2, t // 2) if mode == "SAME_LOWER" else (t // 2, t - t // 2) for t in totals)
    return crops, tuple(max(s - span, 0) for span, s in zip(spans, strides))


def transposed_output_spatial(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                              dilations: Sequence[int], crops: Pads, output_padding: Sequence[int]) -> tuple[int, ...]:
    """(n - 1)*s + d*(k - 1) + 1 - lo - hi + output_padding per axis."""
    return tuple((n - 1) * s + d * (k - 1) + 1 - lo - hi + op for n, k, s, d, (lo, hi), op in
                 zip(spatial, kernel, strides, dilations, crops, output_padding))


def numpy_pad_arg(pads: Pads, channels_last: bool) -> list[tuple[int, int]]:
    """``np.pad``'s pad widths for data in either layout (batch and channel axes unpadded)."""
    body = [tuple(p) for p in pads]
    return [(0, 0), *body, (0, 0)] if channels_last else [(0, 0), (0, 0), *body]


def pads_text(pads: Pads) -> str:
    """((2, 3), (0, 1)) -> "2:3,0:1", the spelling ``parse_pads`` and ``--padding`` accept."""
    return ",".join(f"{lo}:{hi}" for lo, hi in pads)

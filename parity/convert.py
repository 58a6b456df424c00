"""Every layout, flip and padding translation parity performs, in one pure module.

Nothing here imports a framework: adapters call these functions on numpy arrays (or plain tuples)
before handing data to their framework, so the translations are unit-tested without any installed.
Canonical form: data ``(N, C, *spatial)``, kernel ``(O, C/groups, *k)``, cross-correlation.
"""
from __future__ import annotations

from dataclasses import dataclass
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
    """Zero-pad the spatial axes of channels-first data; negative entries crop instead.

    Padding comes first, then cropping, so a crop may reach into the other end's padding: (-2, 2) on
    [a] is [a, 0, 0] without its first two elements, [0] (cropping first would leave nothing to crop).
    """
    padded = np.pad(x, [(0, 0), (0, 0), *((max(0, lo), max(0, hi)) for lo, hi in pads)])
    return padded[(slice(None), slice(None), *crop_slices(padded.shape[2:], pads))]


def crop_slices(sizes: Sequence[int], pads: Pads) -> tuple[slice, ...]:
    """The slices that apply the negative entries of ``pads`` to axes of these (already padded) sizes."""
    return tuple(slice(max(0, -lo), n - max(0, -hi)) for n, (lo, hi) in zip(sizes, pads))


# --- kernel layouts, per-axis flips, padding spellings (parity check / translate) ----------------------
# A kernel layout names a stored kernel's axes with letters, parsed once at the edge into a frozen
# KernelLayout (like jax's ConvDimensionNumbers): O and I are the op's output and input channels, the
# spatial letters are those of the rank (W, HW, DHW). A depthwise kernel may instead carry I and M
# (TensorFlow's [kh, kw, in, multiplier]): output channel i*M + m reads input channel i alone.
# Canonical orders: forward (O, I/groups, *k) "OI...", transposed (I, O/groups, *k) "IO...".


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


def kernel_from_canonical(w: np.ndarray, layout: KernelLayout, groups: int) -> np.ndarray:
    """The inverse of :func:`kernel_to_canonical`; a depthwise layout needs groups = input channels."""
    if layout.depthwise:
        split = w.reshape(groups, w.shape[0] // groups, *w.shape[2:])
        return split.transpose(letter_permutation("IM" + _SPATIAL_LETTERS[w.ndim - 2], layout.name))
    return w.transpose(letter_permutation(layout.canonical, layout.name))


def flip_axes(w: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """Reverse the given spatial axes (0-based, in canonical order) of an (A, B, *k) kernel."""
    return w[(slice(None), slice(None)) + tuple(slice(None, None, -1) if a in axes else slice(None)
                                                for a in range(w.ndim - 2))]


def numpy_pad_arg(pads: Pads, channels_last: bool) -> list[tuple[int, int]]:
    """``np.pad``'s pad widths for data in either layout (batch and channel axes unpadded)."""
    body = [tuple(p) for p in pads]
    return [(0, 0), *body, (0, 0)] if channels_last else [(0, 0), (0, 0), *body]


def pads_text(pads: Pads) -> str:
    """((2, 3), (0, 1)) -> "2:3,0:1", the spelling ``parse_pads`` and ``--padding`` accept."""
    return ",".join(f"{lo}:{hi}" for lo, hi in pads)


# --- legacy backends: TensorFlow 1 / tflearn argument shapes, Theano border_mode (parity.adapters.tf1, ...) ----
def kernel_to_tflearn_1d(w: np.ndarray) -> np.ndarray:
    """(O, I, W) -> tflearn ``conv_1d``'s 4-D kernel (W, 1, I, O): it runs ``tf.nn.conv2d`` on (N, W, 1, C)."""
    return kernel_to_tf(w)[:, None]


def tf1_conv_args(rank: int, strides: Sequence[int], dilations: Sequence[int]) -> dict[str, object]:
    """Stride and dilation arguments of TF 1.15's ``tf.nn.conv1d`` (ints ``stride``, ``dilations``) or
    ``conv2d``/``conv3d`` (lists over every axis of channels-last data, ``[1, *s, 1]``)."""
    if rank == 1:
        return {"stride": strides[0], "dilations": dilations[0]}
    return {"strides": [1, *strides, 1], "dilations": [1, *dilations, 1]}


def theano_border_mode(pads: Pads, kernel: Sequence[int], dilations: Sequence[int]) -> str | tuple:
    """Theano's ``border_mode`` for explicit pads: "valid", "full" ((k-1)d both sides), "half"
    (((k-1)d + 1) // 2 both sides: half the dilated kernel, rounded down), per-axis ints when symmetric,
    else (lo, hi) pairs per axis (Theano takes those in 2-D only)."""
    spans = [d * (k - 1) for k, d in zip(kernel, dilations)]
    for mode, pad in (("valid", [0] * len(spans)), ("full", spans), ("half", [(s + 1) // 2 for s in spans])):
        if all(p == (q, q) for p, q in zip(pads, pad)):
            return mode
    symmetric = symmetric_pads(pads)
    return symmetric if symmetric is not None else tuple(tuple(p) for p in pads)


def as_height1(a: np.ndarray) -> np.ndarray:
    """(A, B, W) -> (A, B, 1, W): a rank-1 case as a height-1 image (how 2-D-only APIs run it)."""
    return a[:, :, None]


def from_height1(a: np.ndarray) -> np.ndarray:
    """(A, B, 1, W) -> (A, B, W), the inverse of :func:`as_height1`."""
    return a[:, :, 0]


# --- JAX, ONNX, Keras and PyTensor spellings (parity.adapters.jax, onnxruntime, keras, pytensor) -----------
def jax_dimension_numbers(rank: int, channels_last: bool) -> tuple[str, str, str]:
    """``lax.conv_general_dilated``'s (lhs, rhs, out) spec strings: ("NCHW", "OIHW", "NCHW") or, for
    channels-last data, ("NHWC", "HWIO", "NHWC") (TensorFlow's kernel layout, see :func:`kernel_to_tf`)."""
    data = layout_name("channels_last" if channels_last else "channels_first", rank)
    letters = _SPATIAL_LETTERS[rank]
    return data, f"{letters}IO" if channels_last else f"OI{letters}", data


def onnx_pads(pads: Pads) -> list[int]:
    """ONNX ``pads``: all begins, then all ends ([x1_begin, x2_begin, ..., x1_end, x2_end])."""
    return [lo for lo, _ in pads] + [hi for _, hi in pads]


def onnx_conv_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                      dilations: Sequence[int]) -> dict[str, object]:
    """ONNX ``Conv``'s padding attributes: ``auto_pad`` VALID, SAME_UPPER (TF's SAME) or SAME_LOWER when it
    means exactly ``pads``, else explicit ``pads``."""
    for ours, theirs in (("VALID", "VALID"), ("SAME", "SAME_UPPER"), ("SAME_LOWER", "SAME_LOWER")):
        if explicit_pads(ours, spatial, kernel, strides, dilations) == tuple(pads):
            return {"auto_pad": theirs}
    return {"pads": onnx_pads(pads)}


def onnx_transpose_padding(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                           kernel: Sequence[int], strides: Sequence[int],
                           dilations: Sequence[int]) -> dict[str, object]:
    """ONNX ``ConvTranspose``'s padding attributes for a crop (lo, hi) of the full output plus
    ``output_padding`` at the end.

    Output element j is element j + lo of the full output (zeros past its end), so a spelling is exact
    when it crops lo at the start and gives the same length. ONNX: VALID crops nothing; SAME_UPPER /
    SAME_LOWER give n*s elements, total = s*(n-1) + d*(k-1) + 1 - n*s split with the odd one at the end /
    start. SAME is only used without output_padding: ONNX's spec and onnxruntime then still give n*s, but
    onnx's shape inference says n*s + output_padding (tests/test_findings_more.py). Else explicit ``pads``
    (begins, then ends hi - output_padding where >= 0) and ``output_padding`` (what the end must grow by:
    output_padding - hi where > 0, e.g. TF SAME with a kernel shorter than the stride, whose hi < 0).
    """
    if all(c == (0, 0) for c in crops):
        return {"auto_pad": "VALID", **({"output_padding": list(output_padding)} if any(output_padding) else {})}
    axes = list(zip(spatial, kernel, strides, dilations, crops))
    totals = [s * (n - 1) + d * (k - 1) + 1 - n * s for n, k, s, d, _ in axes]
    same = not any(output_padding) and all(lo + hi == t >= 0 for (*_, (lo, hi)), t in zip(axes, totals))
    for mode, lower in (("SAME_UPPER", False), ("SAME_LOWER", True)):
        if same and all(c[0] == (t - t // 2 if lower else t // 2) for c, t in zip(crops, totals)):
            return {"auto_pad": mode}
    ends = [max(hi - e, 0) for (_, hi), e in zip(crops, output_padding)]
    grow = [max(e - hi, 0) for (_, hi), e in zip(crops, output_padding)]
    return {"pads": [lo for lo, _ in crops] + ends, **({"output_padding": grow} if any(grow) else {})}


def keras_padding(pads: Pads, spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                  dilations: Sequence[int]) -> str | None:
    """Keras' ``padding``: "valid", "same" (TF's SAME) or, rank 1, "causal" when it means exactly ``pads``."""
    modes = ("VALID", "SAME", "CAUSAL") if len(spatial) == 1 else ("VALID", "SAME")
    for mode in modes:
        if explicit_pads(mode, spatial, kernel, strides, dilations) == tuple(pads):
            return mode.lower()
    return None


def _keras_transpose_length(mode: str, extra: int | None, n: int, k: int, s: int, d: int) -> int:
    """Keras 3's output length for ``Conv*Transpose`` (``_get_output_shape_given_tf_padding``)."""
    span = d * (k - 1) + 1
    if mode == "valid":
        return (n - 1) * s + span + (max(span, s) - span if extra is None else extra)
    return n * s if extra is None else (n - 1) * s + span % 2 + extra


def keras_transpose_args(crops: Pads, output_padding: Sequence[int], spatial: Sequence[int],
                         kernel: Sequence[int], strides: Sequence[int],
                         dilations: Sequence[int]) -> tuple[str, tuple[int, ...] | None] | None:
    """(padding, output_padding) for Keras' ``Conv*Transpose`` when they give exactly this crop, else None.

    Keras computes the output length from (padding, output_padding) by its own formula, then TF crops at
    the start what the forward conv of that length pads there (and requires it to give back n). Keras
    takes one padding for all axes and 0 <= output_padding < stride.
    """
    axes = list(zip(spatial, kernel, strides, dilations))
    out = [(n - 1) * s + d * (k - 1) + 1 - lo - hi + e
           for (n, k, s, d), (lo, hi), e in zip(axes, crops, output_padding)]
    for mode in ("valid", "same"):
        forward = explicit_pads(mode.upper(), out, kernel, strides, dilations)
        sizes = [(m + plo + phi - d * (k - 1) - 1) // s + 1 for m, (plo, phi), (_, k, s, d) in zip(out, forward, axes)]
        if sizes != list(spatial) or [p[0] for p in forward] != [c[0] for c in crops]:
            continue
        if [_keras_transpose_length(mode, None, *axis) for axis in axes] == out:
            return mode, None
        extra = tuple(m - _keras_transpose_length(mode, 0, *axis) for m, axis in zip(out, axes))
        if all(0 <= e < s for e, s in zip(extra, strides)):
            return mode, extra
    return None


def undilate_spatial(a: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Every f-th element along each spatial axis of an (A, B, *spatial) array: the adjoint of
    :func:`dilate_spatial` (the gradient of a dilated kernel or input is the undilated gradient)."""
    return a[(slice(None), slice(None)) + tuple(slice(None, None, f) for f in factors)]


def negate_pads(pads: Pads) -> Pads:
    """(lo, hi) -> (-lo, -hi): :func:`pad_array` with these undoes a padding (or a crop); it is also the
    adjoint of that padding, so it maps a gradient back."""
    return tuple((-lo, -hi) for lo, hi in pads)

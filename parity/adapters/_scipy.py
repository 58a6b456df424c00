"""``scipy.signal.correlate`` as a convolution layer, for the ``scipy_direct`` (``method="direct"``) and
``scipy_fft`` (``method="fft"``) backends.

scipy cross-correlates two N-d arrays; it has no channels, groups, strides, dilations, padding modes,
transposed convolution or gradients. The one call that does the arithmetic is ``correlate(a, b,
mode="valid", method=...)`` with the channel axis as one of the correlated axes: ``a`` holds a group's input
channels, ``b`` as many kernel channels, so 'valid' mode leaves that axis 1 long and scipy itself sums over the
channels. Channels-first cases correlate ``(1, C/g, *S)`` with ``(1, C/g, *k)``; channels-last cases
``(1, *S, C/g)`` with ``(1, *k, C/g)`` (how a user holding NHWC arrays calls it; the direct method then sums
the channels innermost). The rest is written out around that call, and none of it rounds:

- padding: zeros added to the input first (``convert.pad_array``), then 'valid';
- dilation: the kernel with zeros between its taps (``convert.dilate_spatial``): exact zero terms in the
  direct sum, a longer kernel for the FFT;
- stride: the stride-1 correlation with every s-th result kept (those results are the strided ones);
- groups: one call per image and output channel, on that output channel's group of input channels;
- transposed conv: the correlation of the stride-dilated input (``convert.dilate_spatial``), padded by
  ``convert.transposed_pads``, with the flipped, in/out-swapped kernel (``convert.transposed_kernel_to_forward``):
  the forward form JAX's ``lhs_dilation`` computes;
- gradients (scipy has no automatic differentiation): the adjoints written as correlations. A conv's input
  gradient is the transposed conv of the cotangent (cropped by the conv's padding, grown to the input's
  length); a transposed conv's is the strided conv of the cotangent padded back to the full output; weight
  gradients correlate the (padded) input with the stride-dilated cotangent over the batch and spatial axes
  together (``(N, C/g, *S)`` with ``(N, 1, *out)``: 'valid' sums the batch) and keep every d-th lag.

``method="direct"`` sums in the arrays' dtype (``_correlateND``); ``method="fft"`` multiplies real FFTs
(``scipy.fft``, pocketfft, float16 promoted to float32 and the result cast back). scipy refuses bfloat16
(both methods) and float16 (direct); the words are pinned in ``tests/test_backend_onnx_scipy.py``.
"""
from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Callable

import numpy as np

from parity.adapters.base import missing_module
from parity.core import convert, geometry
from parity.core.collector import paused
from parity.core.spec import ConvSpec

REFUSED = {  # scipy 1.17's words for the dtypes it refuses, per method
    ("direct", "float16"): "Unsupported type",
    ("direct", "bfloat16"): "Unsupported type",
    ("fft", "bfloat16"): "dtype argument must be a NumPy dtype, but it is a <class 'ml_dtypes.bfloat16'>.",
}
Correlate = Callable[[np.ndarray, np.ndarray], np.ndarray]


@cache
def _signal() -> ModuleType:
    with paused():
        import scipy.signal

    return scipy.signal


class ScipyAdapter:
    """``scipy.signal.correlate(..., mode="valid", method=method)`` for every case it can run."""

    def __init__(self, name: str, method: str) -> None:
        self.name, self.method = name, method

    frameworks = ("scipy",)

    def settings(self) -> dict[str, object]:
        return {"method": self.method}

    def available(self) -> str | None:
        return missing_module("scipy", "scipy")

    def supports(self, spec: ConvSpec) -> str | None:
        words = REFUSED.get((self.method, spec.dtype))
        return None if words is None else f"scipy.signal.correlate(method='{self.method}') on {spec.dtype}: '{words}'"

    def known(self, spec: ConvSpec) -> str | None:
        if self.method != "fft":
            return None
        return ("FFT convolution spreads its rounding over the whole output (normwise, about u log2(n) |x| |w|): "
                "elements far below the largest exceed the per-element bound of a direct sum (scipy.signal."
                "fftconvolve's documented accuracy trade-off; figures pinned in tests/test_backend_onnx_scipy.py)")

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        correlate = _correlator(self.method, spec.layout == "channels_last")
        if spec.quantity == "output":
            result = (_transposed(correlate, spec, x, w, spec.pads, spec.output_padding) if spec.transposed
                      else _forward(correlate, spec, convert.pad_array(x, spec.pads), w))
        elif spec.quantity == "grad_input":
            result = _forward(correlate, spec, _full_cotangent(spec, dy), w) if spec.transposed \
                else _transposed(correlate, spec, dy, w, spec.pads, _input_growth(spec))
        elif spec.transposed:
            result = _weight_gradient(correlate, spec, _full_cotangent(spec, dy), x)
        else:
            result = _weight_gradient(correlate, spec, convert.pad_array(x, spec.pads), dy)
        return np.ascontiguousarray(result)


def _correlator(method: str, channels_last: bool) -> Correlate:
    """scipy's 'valid' correlation of two (B, C, *S) arrays, handed over channels-last when the case is."""
    def correlate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if not channels_last:
            return _signal().correlate(a, b, mode="valid", method=method)
        moved = _signal().correlate(convert.to_channels_last(a), convert.to_channels_last(b), mode="valid",
                                    method=method)
        return convert.to_channels_first(moved)
    return correlate


def _grouped(correlate: Correlate, data: np.ndarray, kernel: np.ndarray, groups: int) -> np.ndarray:
    """(N, C, *S) correlated with an (O, C/g, *k) kernel, stride 1: one call per image and output channel,
    which sums the output channel's group of input channels."""
    per_in, per_out = data.shape[1] // groups, kernel.shape[0] // groups
    sizes = [s - k + 1 for s, k in zip(data.shape[2:], kernel.shape[2:])]
    out = np.empty((data.shape[0], kernel.shape[0], *sizes), data.dtype)
    for n in range(data.shape[0]):
        for o in range(kernel.shape[0]):
            first = o // per_out * per_in
            out[n:n + 1, o:o + 1] = correlate(data[n:n + 1, first:first + per_in], kernel[o:o + 1])
    return out


def _forward(correlate: Correlate, spec: ConvSpec, data: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The conv of already padded ``data`` with the (O, C/g, *k) kernel ``w`` at the spec's dilations and
    strides (the stride-1 correlation, every s-th result kept)."""
    dense = _grouped(correlate, data, convert.dilate_spatial(w, spec.dilations), spec.groups)
    return convert.undilate_spatial(dense, spec.strides)


def _transposed(correlate: Correlate, spec: ConvSpec, data: np.ndarray, w: np.ndarray, crops: convert.Pads,
                extra: tuple[int, ...]) -> np.ndarray:
    """The transposed conv of ``data`` with the (C_in, C_out/g, *k) kernel ``w`` at the spec's strides and
    dilations, its full output cropped by ``crops`` and grown by ``extra`` at the end."""
    upsampled = convert.dilate_spatial(data, spec.strides)
    padded = convert.pad_array(upsampled, convert.transposed_pads(spec.kernel, spec.dilations, crops, extra))
    kernel = convert.transposed_kernel_to_forward(convert.dilate_spatial(w, spec.dilations), spec.groups)
    return _grouped(correlate, padded, kernel, spec.groups)


def _weight_gradient(correlate: Correlate, spec: ConvSpec, data: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
    """sum over n, j of cotangent[n, o, j] * data[n, c, j*s + k*d] for each ``cotangent`` channel o and each
    channel c of its group in ``data``: the (O, C/g, *k) weight gradient of a conv of ``data`` (a transposed
    conv's, with its full-output cotangent as ``data`` and its input as ``cotangent``)."""
    spread = convert.dilate_spatial(cotangent, spec.strides)
    per_data, per_cotangent = data.shape[1] // spec.groups, cotangent.shape[1] // spec.groups
    taps = (slice(None), *(slice(0, span, d) for span, d in zip(spec.dilated_kernel, spec.dilations)))
    grad = np.empty((cotangent.shape[1], per_data, *spec.kernel), data.dtype)
    for o in range(cotangent.shape[1]):
        first = o // per_cotangent * per_data
        grad[o] = correlate(data[:, first:first + per_data], spread[:, o:o + 1])[0][taps]
    return grad


def _input_growth(spec: ConvSpec) -> tuple[int, ...]:
    """What a conv's input gradient, as a transposed conv of the cotangent cropped by the conv's padding,
    must grow by at the end to reach the input's length (the rows the strided windows never reached)."""
    full = geometry.full_transposed(spec.output_spatial, spec.kernel, spec.strides, spec.dilations)
    return tuple(n - (f - lo - hi) for n, f, (lo, hi) in zip(spec.spatial, full, spec.pads))


def _full_cotangent(spec: ConvSpec, dy: np.ndarray) -> np.ndarray:
    """A transposed conv's cotangent padded back to its full (uncropped) output: the adjoint of the crop."""
    return convert.pad_array(dy, convert.negate_pads(convert.crop_full_transpose(spec.pads, spec.output_padding)))

"""PyTensor backend: ``pytensor.tensor.signal.convolve1d`` / ``convolve2d``, batched true convolutions of
single channels; gradients by ``pytensor.grad`` with the seeded cotangent as ``known_grads``.

Mapping a case onto them (all translations from ``parity.core.convert``):

- Channels are batch axes: the input is reshaped to ``(N, groups, 1, C/g, *S)`` and the kernel to
  ``(1, groups, O/g, C/g, *k)``; the batched convolution broadcasts to ``(N, groups, O/g, C/g, *out)``
  and PyTensor sums over ``C/g``. PyTensor has no data layout, so both layout variants run this graph.
- Forward conv (cross-correlation): the kernel is dilated (``convert.dilate_spatial``, zeros between taps)
  and flipped (``convert.flip``: convolution reverses it back), the input is zero-padded with numpy
  (``convert.pad_array``), the convolution runs in 'valid' mode at stride 1 and the graph keeps every
  s-th output (a strided conv is the dense one subsampled).
- Transposed conv: the full output is the 'full'-mode convolution of the stride-dilated input with the
  dilated, *unflipped* kernel (true convolution is the scatter form); it is cropped (or extended) with
  numpy by ``convert.crop_full_transpose``.
- Gradients: PyTensor differentiates its graph; the numpy steps around it are linear selections whose
  adjoints are exact: a padding's is a crop (``convert.negate_pads``), a dilation's is the undilation
  (``convert.undilate_spatial``), a flip's is the flip.

Quirks (pytensor 3.0): the default mode compiles with Numba, seconds per new graph and
'NotImplementedError: float16', so the functions are compiled in ``FAST_COMPILE`` mode, where the
convolution ops run their ``perform`` (``numpy.convolve``; ``scipy.signal.convolve`` with
``method='direct'``: an FFT result is not bounded element by element by the dot-product bound).
"""
from __future__ import annotations

import warnings
from functools import cache
from types import ModuleType

import numpy as np

from parity.core import convert
from parity.adapters.base import missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec

NO_3D = "PyTensor: pytensor.tensor.signal has convolve1d and convolve2d only (no 3-D convolution)"
NO_BFLOAT16 = "PyTensor: 'Unsupported dtype for TensorType: bfloat16'"
NO_FLOAT16_2D = "PyTensor convolve2d (scipy.signal.convolve): 'Unsupported type' for float16"
MODE = "FAST_COMPILE"
# FAST_COMPILE convolves every (input, output) channel pair with its own numpy/scipy call. Measured on the
# 2-core machine: 1.8 s for 256 x 256 pairs (a ResNet 3x3 layer), 20 s for 2048 x 512: parity's own limit.
MAX_CHANNEL_PAIRS = 20_000


@cache
def _pytensor() -> ModuleType:
    with warnings.catch_warnings(), paused():
        # "PyTensor could not link to a BLAS installation": a speed note about its own GEMMs, which
        # FAST_COMPILE convolutions do not use; it would otherwise land in every run's terminal.
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
        import pytensor
        import pytensor.tensor.signal  # noqa: F401  (convolve1d/convolve2d live in this submodule)

    return pytensor


class PyTensorAdapter:
    name = "pytensor"
    frameworks = ("pytensor",)

    def settings(self) -> dict[str, object]:
        return {"mode": MODE}

    def available(self) -> str | None:
        return missing_module("pytensor", "pytensor")

    def supports(self, spec: ConvSpec) -> str | None:
        if spec.rank == 3:
            return NO_3D
        if spec.dtype == "bfloat16":
            return NO_BFLOAT16
        if spec.dtype == "float16" and spec.rank == 2:
            return NO_FLOAT16_2D
        pairs = spec.in_channels // spec.groups * spec.out_channels
        if pairs > MAX_CHANNEL_PAIRS:
            return (f"parity runs PyTensor's FAST_COMPILE convolution (one numpy/scipy call per channel pair) up to "
                    f"{MAX_CHANNEL_PAIRS} channel pairs per case, this one has {pairs}")
        return None

    def accumulation(self, spec: ConvSpec) -> str:
        # Each channel pair's convolution comes out in the case's dtype and the graph sums the channels in it:
        # float16 cases round per channel and add in float16 (measured: a float16 WaveNet layer, 128 channels,
        # 84 ULP off, 9x a float32-accumulation bound). Integer canaries cannot show the per-channel rounding
        # without overflowing float16, so this is declared from the graph, not probed.
        return spec.dtype

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        if spec.transposed:
            data, kernel = convert.dilate_spatial(x, spec.strides), convert.dilate_spatial(w, spec.dilations)
            crop = convert.crop_full_transpose(spec.pads, spec.output_padding)
            cotangent = None if dy is None else convert.pad_array(dy, convert.negate_pads(crop))
        else:
            data = convert.pad_array(x, spec.pads)
            kernel = convert.flip(convert.dilate_spatial(w, spec.dilations))
            cotangent = dy
        result = _evaluate(spec, data, kernel, cotangent)
        if spec.quantity == "output":
            result = convert.pad_array(result, crop) if spec.transposed else result
        elif spec.quantity == "grad_input":
            result = convert.undilate_spatial(result, spec.strides) if spec.transposed \
                else convert.pad_array(result, convert.negate_pads(spec.pads))
        else:
            result = convert.undilate_spatial(result if spec.transposed else convert.flip(result), spec.dilations)
        return np.ascontiguousarray(result)


def _evaluate(spec: ConvSpec, data: np.ndarray, kernel: np.ndarray, cotangent: np.ndarray | None) -> np.ndarray:
    """The PyTensor graph: grouped, channel-summed, strided convolution of ``data`` with ``kernel`` (the
    full transposed output for conv_transpose), or the gradient of it for the cotangent."""
    pytensor = _pytensor()
    tensor = pytensor.tensor
    x = tensor.tensor("x", dtype=spec.dtype, shape=data.shape)
    w = tensor.tensor("w", dtype=spec.dtype, shape=kernel.shape)
    y = _grouped(spec, x, w)
    if cotangent is None:
        return pytensor.function([x, w], y, mode=MODE)(data, kernel)
    dy = tensor.tensor("dy", dtype=spec.dtype, shape=cotangent.shape)
    target = x if spec.quantity == "grad_input" else w
    grad = pytensor.grad(None, wrt=target, known_grads={y: dy})
    return pytensor.function([x, w, dy], grad, mode=MODE)(data, kernel, cotangent)


def _grouped(spec: ConvSpec, x, w):
    signal = _pytensor().tensor.signal
    g, (batch, channels, *spatial), k = spec.groups, x.type.shape, w.type.shape
    ws = w.reshape((1, g, k[0] // g, *k[1:]))
    # transposed: (N, g, C_in/g, 1, *S) with (1, g, C_in/g, C_out/g, *k), summed over C_in/g (axis 2);
    # forward: (N, g, 1, C/g, *S) with (1, g, O/g, C/g, *k), summed over C/g (axis 3)
    grouped = (g, channels // g, 1) if spec.transposed else (g, 1, channels // g)
    xs = x.reshape((batch, *grouped, *spatial))
    mode = "full" if spec.transposed else "valid"
    y = signal.convolve1d(xs, ws, mode=mode) if spec.rank == 1 \
        else signal.convolve2d(xs, ws, mode=mode, method="direct")
    y = y.sum(axis=2 if spec.transposed else 3)
    y = y.reshape((batch, spec.out_channels, *(y.shape[3 + axis] for axis in range(spec.rank))))
    return y if spec.transposed else y[(slice(None), slice(None), *(slice(None, None, s) for s in spec.strides))]


ADAPTER = PyTensorAdapter()

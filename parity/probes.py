"""Probes of what a framework does on the running machine, for adapters whose limits and arithmetic
depend on the build and the CPU (TensorFlow, Keras): the one-line reason quoting a refusal, and the
type a route accumulates 16-bit products in.

Framework-free: a probe gets the framework's call as a function, so its logic is tested with fakes.
(It lives outside ``parity/adapters/``, where every module is a backend.)
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np

from parity.dtypes import np_dtype
from parity.reference import reference
from parity.spec import ConvSpec

Compute = Callable[[ConvSpec, np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]
CANARY_LENGTH = 4096  # terms per canary sum: more than the 16-bit kernels' blocks, which may round between them
TAPS = 3  # kernel taps per axis, as in most cases: TF runs some 1x1 convs as a plain matrix product instead
_SITES = {1: (36,), 2: (6, 6), 3: (3, 3, 4)}  # a few dozen elements with full sums
_GRID = {1: (CANARY_LENGTH,), 2: (64, 64), 3: (16, 16, 16)}  # CANARY_LENGTH positions or kernel taps


def tf_reason(error: BaseException, via: str = "") -> str:
    """``TensorFlow on CPU (<via>, <op>): '<first sentence of TF's message>'`` for a TF op error.

    TF wraps its message in ``{{function_node __wrapped__<kernel>_device_/job:.../device:CPU:0}}`` and
    ``[Op:<op>] name:``; Keras puts it, in bold, below "Exception encountered when calling <layer>.call()."
    Later sentences only restate the first (the format given, the depths found).
    """
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    text = next((line for line in lines if "[Op:" in line), lines[0] if lines else type(error).__name__)
    device = re.search(r"device:([A-Z]+):\d", text)
    op = re.search(r"\[Op:(\w+)\]", text)
    words = re.sub(r"^\{\{.*?\}\}\s*", "", text).split(" [Op:")[0].strip()
    words = re.split(r"(?<=\.)\s", words, maxsplit=1)[0]
    where = f"TensorFlow on {device.group(1)}" if device else "TensorFlow"
    context = ", ".join(filter(None, (via, op and op.group(1))))
    return f"{where}{f' ({context})' if context else ''}: '{words}'"


def refusal(spec: ConvSpec, compute: Compute, errors: type[BaseException] | tuple[type[BaseException], ...],
            via: str = "") -> str | None:
    """None if ``compute`` runs ``spec`` (on ones), else :func:`tf_reason` of its refusal; only ``errors``
    count as refusals: anything else is a bug and propagates."""
    dtype = np_dtype(spec.dtype)
    x, w = (np.ones(shape, dtype) for shape in (spec.input_shape, spec.kernel_shape))
    try:
        compute(spec, x, w, np.ones(spec.output_shape, dtype) if spec.quantity != "output" else None)
    except errors as error:
        return tf_reason(error, via)
    return None


def small_case(spec: ConvSpec, padding: str | tuple[tuple[int, int], ...]) -> ConvSpec:
    """``spec`` with ``padding`` on one image of max(dilated kernel, stride + 1) pixels per axis, where
    SAME pads differ from VALID's as they do in any case whose SAME pads are not VALID's."""
    spatial = tuple(max(span, s + 1) for span, s in zip(spec.dilated_kernel, spec.strides))
    return ConvSpec(**{**spec.as_dict(), "batch": 1, "spatial": spatial, "padding": padding, "output_padding": 0,
                       "distribution": "normal", "seed": 0})


def canary_spec(spec: ConvSpec, depthwise: bool) -> ConvSpec:
    """A case on the same route as ``spec`` (rank, op, quantity, dtype, layout; ``depthwise``: the route
    takes depthwise kernels; else grouped or not) in which a few dozen compared elements sum at least
    CANARY_LENGTH products: unit strides and dilations, VALID padding, TAPS taps per axis."""
    rank, kernel = spec.rank, (TAPS,) * spec.rank
    margin = 2 * (TAPS - 1)  # the elements of a gradient or transposed conv away from the borders get every tap
    spatial = tuple(s + margin for s in _SITES[rank])
    width = -(-CANARY_LENGTH // TAPS ** rank)  # channels summed, with all taps
    groups = 2 if spec.groups > 1 else 1
    if spec.quantity == "grad_weight":  # over the positions of the output (conv) or the input (transposed)
        spatial = _GRID[rank] if spec.transposed else tuple(g + TAPS - 1 for g in _GRID[rank])
        channels = (2, 36) if depthwise else (12, 12)
    elif depthwise and spec.quantity == "output":  # over kernel taps
        # One position per channel: oneDNN's bfloat16 depthwise JIT (brdgmm) ran for minutes generating
        # code for a 1x16 kernel over 36 positions (tensorflow-cpu 2.21, AVX-512).
        kernel = spatial = _GRID[rank]
        channels = (36, 36)
    elif depthwise:  # grad_input: over the depth multiplier
        channels = (2, 2 * width)
    else:  # output: over input channels; grad_input: over output channels
        channels = (width * groups, groups) if spec.quantity == "output" else (2 * groups, width * groups)
    return ConvSpec(spatial=spatial, kernel=kernel, in_channels=channels[0], out_channels=channels[1],
                    groups=channels[0] if depthwise else groups, dtype=spec.dtype, layout=spec.layout, op=spec.op,
                    quantity=spec.quantity)


def canary_inputs(spec: ConvSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x, w, dy): x odd integers 1 to 5, w and dy 1 or 3. Every product (at most 15) is exact in any dtype;
    a canary's sums of about 4100 products average 16000 to 25000 and stay below float16's 65504, which
    past 2048 holds only even integers (bfloat16 past 256 only multiples of 2 and more); float32 sums them
    exactly."""
    rng = np.random.default_rng(0)
    dtype = np_dtype(spec.dtype)
    x = 2 * rng.integers(0, 3, spec.input_shape) + 1
    w = 2 * rng.integers(0, 2, spec.kernel_shape) + 1
    dy = 2 * rng.integers(0, 2, spec.output_shape) + 1 if spec.quantity != "output" else None
    return x.astype(dtype), w.astype(dtype), None if dy is None else dy.astype(dtype)


def canary_misses(spec: ConvSpec, compute: Compute) -> tuple[int, int]:
    """(elements that differ from the exact sum rounded once to the dtype, elements) of ``compute`` on the
    canary ``spec``: float32 (or wider) accumulation rounds only at the end and misses none."""
    x, w, dy = canary_inputs(spec)
    exact = reference(spec, x, w, dy).value  # integers below 2**16: exact in float64
    rounded = exact.astype(np_dtype(spec.dtype)).astype(np.float64)
    got = np.asarray(compute(spec, x, w, dy), np.float64)
    return int(np.count_nonzero(got != rounded)), rounded.size


def accumulation_type(spec: ConvSpec, compute: Compute) -> str:
    """The dtype the canary ``spec`` shows ``compute`` accumulates in: the 16-bit dtype itself if any
    element misses the once-rounded exact sum, else "float32"."""
    return spec.dtype if canary_misses(spec, compute)[0] else "float32"

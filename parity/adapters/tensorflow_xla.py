"""TensorFlow with XLA on the CPU: the ``tensorflow`` adapter's calls (``tf.nn.conv*``,
``tf.nn.depthwise_conv2d``, ``tf.nn.conv*_transpose``, gradients by ``tf.GradientTape``) inside
``tf.function(jit_compile=True)``, so that XLA compiles them to its own code instead of running TF's eager
kernels (oneDNN, Eigen).

The ops, kernel layouts and paddings are the ``tensorflow`` adapter's functions, imported, not copied. One
compiled function per geometry (the spec without its data: distribution and seed), so that cases on equal
geometries compile once per process. Channels-first cases go to XLA channels-first unless XLA refuses their
route so; a call XLA refuses raises ``Refused`` with TF's own first sentence (``probes.run_routed``), on
routes learnt apart from the eager adapter's.

Accumulation: the default (float32 for 16-bit inputs). XLA's CPU compiler converts float16 and bfloat16
convolutions to float32 and rounds the result once: the optimized HLO of a float16 and a bfloat16
``Conv2D`` (tensorflow-cpu 2.21) is ``convert`` to f32, an f32 ``convolution``, ``convert`` back.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Hashable

import numpy as np

from parity.adapters import _probes as probes
from parity.adapters import tensorflow as eager
from parity.adapters.base import missing_module
from parity.core.spec import ConvSpec


class TensorFlowXlaAdapter:
    name = "tensorflow_xla"
    frameworks = ("tensorflow",)

    def settings(self) -> dict[str, object]:
        return {"jit_compile": True}

    def available(self) -> str | None:
        return missing_module("tensorflow", "tensorflow")

    def supports(self, spec: ConvSpec) -> str | None:
        return eager.ADAPTER.supports(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        with probes.quiet_stderr():
            return probes.run_routed(spec, route, lambda channels_first: compute(spec, x, w, dy, channels_first),
                                     eager._tf().errors.OpError, via="XLA")


def route(spec: ConvSpec) -> Hashable:
    """The eager adapter's route, tagged: XLA's channels-first refusals are its own."""
    return "xla", eager.route(spec)


def compute(spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None, channels_first: bool) -> np.ndarray:
    """The spec's quantity from the compiled function for its geometry, handed channels-first or -last data."""
    tf = eager._tf()
    operands = eager.operands(spec, x, w, dy, channels_first)
    try:
        result = compiled(geometry(spec), channels_first)(*map(tf.constant, operands)).numpy()
    except ValueError as error:  # TF's graph construction refusing the call while tracing: TF's refusal
        raise tf.errors.InvalidArgumentError(None, None, f"graph construction: {trace_words(error)}") from None
    return eager.from_tf(spec, result, channels_first)


def trace_words(error: ValueError) -> str:
    """TF's words in a ValueError raised while tracing ("in user code: <frames> ValueError: <words> for
    '{{node ...}}' ..."): the words, without the node."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    words = next((line for line in reversed(lines) if line.startswith("ValueError: ")), lines[-1])
    return words.removeprefix("ValueError: ").split(" for '{{node", 1)[0]


def geometry(spec: ConvSpec) -> ConvSpec:
    """The spec without what only changes the data, so that equal geometries share a compiled function."""
    return ConvSpec(**{**spec.as_dict(), "distribution": "normal", "seed": 0})


@lru_cache(maxsize=512)
def compiled(spec: ConvSpec, channels_first: bool) -> Callable:
    """``tf.function(jit_compile=True)`` of :func:`program`; XLA compiles it on the first call."""
    return eager._tf().function(program(spec, channels_first), jit_compile=True)


def program(spec: ConvSpec, channels_first: bool) -> Callable:
    """The eager adapter's op for ``spec`` as a TF function of (data, kernel) for outputs, of (data, kernel,
    cotangent) through ``tf.GradientTape`` for gradients; TF layouts (``compute``)."""
    tf = eager._tf()
    fmt = eager.dimensions(spec, channels_first).data

    def forward(data, kernel):
        return eager.forward(tf, spec, data, kernel, fmt)

    def pullback(data, kernel, cotangent):
        target = data if spec.quantity == "grad_input" else kernel
        with tf.GradientTape() as tape:
            tape.watch(target)
            y = forward(data, kernel)
        return tape.gradient(y, target, output_gradients=cotangent)

    return forward if spec.quantity == "output" else pullback


ADAPTER = TensorFlowXlaAdapter()

"""JAX backend: ``jax.lax.conv_general_dilated`` on the CPU; gradients by ``jax.vjp`` with the seeded cotangent.

Both layout families are passed natively through ``dimension_numbers`` (:func:`dimensions`):
channels-first data with ``(O, I/groups, *k)`` kernels ("NCHW", "OIHW", "NCHW"), channels-last data with
TensorFlow's ``[k..., I/groups, O]`` kernels ("NHWC", "HWIO", "NHWC"), for ranks 1 to 3. Groups are
``feature_group_count`` (depthwise is groups = in_channels), dilation is ``rhs_dilation``, and every
padding is the explicit (lo, hi) list JAX takes directly (no SAME/VALID strings needed).

A transposed conv is the forward conv of the stride-dilated input (``lhs_dilation`` = strides) with the
flipped, in/out-swapped kernel (``convert.transposed_kernel_to_forward``) and the padding
``convert.transposed_pads`` (negative entries crop: XLA takes negative padding). That kernel map is a
permutation that is its own inverse, so the weight gradient JAX returns for the forward kernel maps back
through the same function. float64 needs ``jax_enable_x64``, set on the lazy import.
"""
from __future__ import annotations

from functools import cache, partial
from types import ModuleType

import numpy as np

from parity.core import convert
from parity.adapters import _device as device
from parity.adapters.base import missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec


# Measured with jax 0.10.2 (tests/test_findings_more.py pins it in plain JAX): on the CPU, the float32 gradient
# of lax.conv_general_dilated with respect to the kernel is wrong (0.44 to 5.9 off where float64 gives the
# exact sums) for some paddings whose low side is negative and high side positive, with two or more images and
# channels; float64 is right, and so are the outputs and input gradients of the same calls.
NEGATIVE_LOW_PAD = ("XLA:CPU computes the float32 weight gradient of a conv whose padding crops at the start and "
                    "pads at the end (a transposed conv's crop beyond its kernel) wrongly; float64 is right "
                    "(jax 0.10.2)")


@cache
def _jax() -> ModuleType:
    with paused():
        import jax

    jax.config.update("jax_enable_x64", True)  # else float64 arrays silently become float32
    return jax


class JaxAdapter:
    """JAX on ``platform`` ("cpu", or "gpu" for the CUDA backends) with ``precision`` ("highest", or None for
    JAX's default, which on Ampere and newer GPUs lets float32 convolutions use TF32)."""

    def __init__(self, name: str = "jax", platform: str = "cpu", precision: str | None = None) -> None:
        self.name, self.platform, self.precision = name, platform, precision

    frameworks = ("jax", "jaxlib")

    def settings(self) -> dict[str, object]:
        return {"platform": self.platform, "precision": self.precision or "framework default"}

    def available(self) -> str | None:
        return missing_module("jax", "jax") or (device.cuda_missing("jax") if self.platform == "gpu" else None)

    def supports(self, spec: ConvSpec) -> str | None:
        return None

    def known(self, spec: ConvSpec) -> str | None:
        if self.platform != "cpu" or spec.quantity != "grad_weight" or spec.dtype == "float64":
            return None
        pads = _transposed_pads(spec) if spec.transposed else spec.pads
        return NEGATIVE_LOW_PAD if any(lo < 0 < hi for lo, hi in pads) else None

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        jax, dims = _jax(), dimensions(spec)
        forward = convert.transposed_kernel_to_forward(w, spec.groups) if spec.transposed else w
        target = jax.devices(self.platform)[0]
        data = jax.device_put(dims.data_from_canonical(x), target)
        kernel = jax.device_put(dims.kernel_from_canonical(forward, spec.groups), target)
        precision = getattr(jax.lax.Precision, self.precision.upper()) if self.precision else None
        conv = partial(_transposed if spec.transposed else _forward, spec, precision)
        if spec.quantity == "output":
            return dims.output_to_canonical(np.asarray(jax.jit(conv)(data, kernel)))
        which = 0 if spec.quantity == "grad_input" else 1
        # One jitted program per case: XLA drops the forward conv and the other gradient.
        pullback = jax.jit(lambda a, b, cotangent: jax.vjp(conv, a, b)[1](cotangent)[which])
        grad = dims.result_to_canonical(np.asarray(pullback(data, kernel, jax.device_put(
            dims.data_from_canonical(dy), target))), spec.quantity)
        # transposed_kernel_to_forward is an involutive permutation: its adjoint is itself.
        transposed = spec.transposed and spec.quantity == "grad_weight"
        return np.ascontiguousarray(convert.transposed_kernel_to_forward(grad, spec.groups)) if transposed else grad


def dimensions(spec: ConvSpec) -> convert.DimensionNumbers:
    """JAX's layouts: the case's data layout, and the forward kernel (a transposed conv runs as a forward conv
    with the kernel ``convert.transposed_kernel_to_forward`` makes) as ``OI...``, or ``...IO`` with
    channels-last data (``lax.conv_general_dilated``'s ``dimension_numbers`` strings)."""
    return convert.dimension_numbers(spec.layout, None, spec.rank)


def _forward(spec: ConvSpec, precision, data, kernel):
    return _jax().lax.conv_general_dilated(
        data, kernel, window_strides=spec.strides, padding=spec.pads, rhs_dilation=spec.dilations,
        dimension_numbers=dimensions(spec).strings,
        feature_group_count=spec.groups, precision=precision)


def _transposed_pads(spec: ConvSpec) -> convert.Pads:
    """The padding of the forward conv a transposed conv runs as (negative entries crop)."""
    return convert.transposed_pads(spec.kernel, spec.dilations, spec.pads, spec.output_padding)


def _transposed(spec: ConvSpec, precision, data, kernel):
    return _jax().lax.conv_general_dilated(
        data, kernel, window_strides=(1,) * spec.rank, padding=_transposed_pads(spec), lhs_dilation=spec.strides,
        rhs_dilation=spec.dilations, feature_group_count=spec.groups, precision=precision,
        dimension_numbers=dimensions(spec).strings)


ADAPTER = JaxAdapter()

"""Accumulation declarations measured on the running machine.

An adapter whose accumulation depends on the CPU, the build or the code path a framework picks (TensorFlow's
float16 kernels: Eigen or oneDNN; PyTorch's float16 col2im) declares ``PROBE`` for 16-bit cases. The
runner then runs the backend on the canary version of the case (same geometry; a small case on
:data:`PROBE_IMAGES` images, so that it has enough results and terms to show its rounding; integer data whose
partial sums leave float16/bfloat16 behind, see :func:`parity.core.inputs.integer_plan`), and where that
shows nothing, on the same numbers with random signs, through the same path as the case itself (in a worker
process under isolation), and reads the fingerprint: kernel taps (or all terms) added in the 16-bit type if
that is what a result shows, else the default (float32). A result that is wrong in some other way (not
identified) never widens the bound: the case then fails on its own.
"""
from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import numpy as np

from parity import adapters
from parity.adapters.base import PROBE, Adapter, accumulation, default_accumulation
from parity.verdict.fingerprint import fingerprint
from parity.core.dtypes import np_dtype
from parity.core.inputs import cotangent, generate
from parity.reference.conv import reference
from parity.core.spec import ConvSpec


def call(backend: str, adapter: Adapter, spec: ConvSpec, operands: list[np.ndarray],
         isolate: float | None) -> object:
    """``adapter.run`` on ``operands``, in a worker process when ``isolate`` (seconds) is set."""
    if isolate:
        from parity.running import isolation

        return isolation.run(backend, spec, operands, isolate)
    return adapter.run(spec, *operands)


# Two canaries: positive data, whose sums pass 2048 many times over (full float16 accumulation shows), and
# the same numbers with random signs, whose products stay large while their sums cancel (a product or tap
# sum rounded to float16 shows: positive data hid it on 2-tap transposed convs, torch 2.13).
# One image of a 1x3 transposed conv has 2 outputs that sum 2 taps: float16 tap sums matched the exact sum
# rounded once on both (torch 2.13), and normal data then failed the float32 bound by 1 ULP; the weight
# gradients of 4x5x6x7 conv3d cases showed float16 taps on 8 images and not on 1 (normal data: 0.97-0.99
# of the float32 bound). Realistic layers (inputs over SMALL_INPUT elements) show it on their own images.
# A 2-tap sum rounded tap by tap differs from one rounding on about 1 in 5 results, and on none of the 16 of a
# 1x1x3 conv3d (keras 3.15, float16): tiny cases get images for at least PROBE_RESULTS results.
PROBE_IMAGES, SMALL_INPUT, PROBE_RESULTS = 8, 4096, 256
# A weight gradient has as many results as its kernel, whatever the images: TF 2.21's bfloat16 depthwise
# weight gradient (products and sums rounded to bfloat16) showed on neither canary of a 2-result case (both
# results happened to come out correctly rounded) and failed the float32 bound by 5 ULP on normal data.
# Fresh random signs per try, until one shows: at least PROBE_RESULTS results in all.


def stated(adapter: Adapter, spec: ConvSpec) -> tuple[str, bool]:
    """(the accumulation the adapter states, whether a probe may measure it instead): a ``PROBE`` of a
    16-bit case states the default until the runner asks :func:`declared`."""
    said = accumulation(adapter, spec)
    if said != PROBE:
        return said, False
    return default_accumulation(spec), spec.dtype in ("float16", "bfloat16")


def declared(backend: str, adapter: Adapter, spec: ConvSpec, isolate: float | None) -> tuple[str, bool]:
    """(the accumulation type the bound uses, whether it was probed): :func:`stated`, measured where a probe
    may measure it."""
    said, probe = stated(adapter, spec)
    if not probe:
        return said, False
    return _probed(backend, replace(spec, distribution="canary", seed=0, batch=probe_images(spec)), isolate), True


def probe_images(spec: ConvSpec) -> int:
    """Images of the canary: the case's, at least PROBE_IMAGES for small inputs, and for results computed per
    image enough for PROBE_RESULTS results while the input stays within SMALL_INPUT elements."""
    per_image = math.prod(spec.input_shape) // spec.batch
    if per_image * spec.batch > SMALL_INPUT:
        return spec.batch
    results = 0 if spec.quantity == "grad_weight" else math.prod(spec.result_shape) // spec.batch
    wanted = -(-PROBE_RESULTS // results) if results else 0
    return max(spec.batch, PROBE_IMAGES, min(wanted, SMALL_INPUT // per_image))


@cache
def _probed(backend: str, canary: ConvSpec, isolate: float | None) -> str:
    """The 16-bit accumulation the canaries show, else the default. Outputs and input gradients are computed
    per image, so both canaries go in one call (positive images, then the same with random signs); a weight
    gradient sums over the images: signed canaries run only while none has shown anything, up to
    PROBE_RESULTS results in all."""
    x, w = generate(canary)
    positive = [a for a in (x, w, cotangent(canary)) if a is not None]
    signs = np.random.default_rng(0)

    def signed() -> list[np.ndarray]:
        return [a * signs.choice((-1.0, 1.0), size=a.shape).astype(a.dtype) for a in positive]

    if canary.quantity == "grad_weight":
        shown = _shown(backend, canary, positive, isolate)
        for _ in range(-(-PROBE_RESULTS // math.prod(canary.result_shape))):
            if shown.startswith(canary.dtype):
                break
            shown = _shown(backend, canary, signed(), isolate)
    else:  # operand 1, the kernel, stays positive: the products' signs are random all the same
        both = [a if i == 1 else np.concatenate([a, b]) for i, (a, b) in enumerate(zip(positive, signed()))]
        shown = _shown(backend, replace(canary, batch=2 * canary.batch), both, isolate)
    return shown if shown.startswith(canary.dtype) else default_accumulation(canary)


def _shown(backend: str, canary: ConvSpec, operands: list[np.ndarray], isolate: float | None) -> str:
    """The accumulation type the fingerprint of the backend's result on ``operands`` names ('' if none)."""
    try:
        output = call(backend, adapters.get(backend), canary, [a.copy() for a in operands], isolate)
    except Exception:  # the case's own run reports the failure
        return ""
    if not isinstance(output, np.ndarray) or (output.shape, output.dtype) != (canary.result_shape,
                                                                               np_dtype(canary.dtype)):
        return ""  # the case's own comparison names the mismatch
    label = fingerprint(canary, reference(canary, *operands), output, operands) or ""
    return label.removesuffix(" accumulation")

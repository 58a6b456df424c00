"""Accumulation declarations measured on the running machine.

An adapter whose accumulation depends on the CPU, the build or the code path a framework picks (TensorFlow's
float16 kernels: Eigen or oneDNN; PyTorch's float16 col2im) declares ``PROBE`` for 16-bit cases. The
runner then runs the backend once on the canary version of the case (same geometry, integer data whose
partial sums leave float16/bfloat16 behind, see :func:`parity.inputs.integer_plan`), through the same path
as the case itself (in a worker process under isolation), and reads the fingerprint: kernel taps (or all
terms) added in the 16-bit type if that is what the result shows, else the default (float32). A result that is wrong in some
other way (not identified) never widens the bound: the case then fails on its own.
"""
from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np

from parity.adapters.base import PROBE, Adapter, accumulation, default_accumulation
from parity.fingerprint import fingerprint
from parity.inputs import cotangent, generate
from parity.reference import reference
from parity.spec import ConvSpec


def call(backend: str, adapter: Adapter, spec: ConvSpec, operands: list[np.ndarray],
         isolate: float | None) -> object:
    """``adapter.run`` on ``operands``, in a worker process when ``isolate`` (seconds) is set."""
    if isolate:
        from parity import isolation

        return isolation.run(backend, spec, operands, isolate)
    return adapter.run(spec, *operands)


def declared(backend: str, adapter: Adapter, spec: ConvSpec, isolate: float | None) -> tuple[str, bool]:
    """(the accumulation type the bound uses, whether it was probed)."""
    stated = accumulation(adapter, spec)
    if stated != PROBE:
        return stated, False
    if spec.dtype not in ("float16", "bfloat16"):
        return spec.dtype, False
    return _probed(backend, replace(spec, distribution="canary", seed=0), isolate), True


@cache
def _probed(backend: str, canary: ConvSpec, isolate: float | None) -> str:
    from parity import adapters

    x, w = generate(canary)
    dy = cotangent(canary)
    operands = [a for a in (x, w, dy) if a is not None]
    try:
        output = call(backend, adapters.get(backend), canary, [a.copy() for a in operands], isolate)
    except Exception:  # the case's own run reports the failure
        return default_accumulation(canary)
    if not isinstance(output, np.ndarray) or output.shape != canary.result_shape:
        return default_accumulation(canary)
    label = fingerprint(canary, reference(canary, *operands), output, operands) or ""
    summed_in = label.removesuffix(" accumulation")
    return summed_in if summed_in.startswith(canary.dtype) else default_accumulation(canary)

"""Seeded, deterministic inputs for a spec: the same spec gives bit-identical arrays in any process."""
from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING

import numpy as np

from parity.dtypes import np_dtype, precision_bits

if TYPE_CHECKING:
    from parity.spec import ConvSpec

# Exponent range of the "wide" distribution per dtype: 2**[-e, e] times a standard normal. float16 is
# kept narrow so that sums of up to a few hundred terms stay below its 65504 maximum.
_WIDE_EXPONENT = {"float16": 4, "bfloat16": 16, "float32": 16, "float64": 32}


def generate(spec: "ConvSpec") -> tuple[np.ndarray, np.ndarray]:
    """(x, w) in canonical layout and the case's dtype.

    The stream depends on shapes, dtype, distribution and seed, not on layout or quantity, so layout
    variants and the gradients of a case see the same numbers.
    """
    rng = _rng(spec, "")
    dtype = np_dtype(spec.dtype)
    return tuple(_draw(rng, shape, spec).astype(dtype) for shape in (spec.input_shape, spec.kernel_shape))


def cotangent(spec: "ConvSpec") -> np.ndarray | None:
    """The seeded upstream gradient for a ``grad_*`` quantity (shaped like the output), else None."""
    if spec.quantity == "output":
        return None
    return _draw(_rng(spec, "|cotangent"), spec.output_shape, spec).astype(np_dtype(spec.dtype))


def _rng(spec: "ConvSpec", stream: str) -> np.random.Generator:
    key = f"{spec.input_shape}|{spec.kernel_shape}|{spec.dtype}|{spec.distribution}{stream}".encode()
    return np.random.default_rng([spec.seed, zlib.crc32(key)])


def _draw(rng: np.random.Generator, shape: tuple[int, ...], spec: "ConvSpec") -> np.ndarray:
    if spec.distribution == "int":
        # |x|, |w| <= m with n * m**2 <= 2**p: every partial sum is an integer the dtype holds exactly.
        m = max(1, min(3, math.isqrt(2 ** precision_bits(spec.dtype) // spec.accumulation_length)))
        return rng.integers(-m, m + 1, size=shape).astype(np.float64)
    values = rng.standard_normal(shape)
    if spec.distribution == "wide":
        e = _WIDE_EXPONENT[spec.dtype]
        values = np.ldexp(values, rng.integers(-e, e + 1, size=shape))
    return values

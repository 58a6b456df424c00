"""Seeded, deterministic inputs for a spec: the same spec gives bit-identical arrays in any process."""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from parity.core.dtypes import np_dtype, precision_bits

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

# Exponent range of the "wide" distribution per dtype: 2**[-e, e] times a standard normal. float16 is
# kept narrow so that sums of up to a few hundred terms stay below its 65504 maximum.
_WIDE_EXPONENT = {"float16": 4, "bfloat16": 16, "float32": 16, "float64": 32}


def generate(spec: "ConvSpec") -> tuple[np.ndarray, np.ndarray]:
    """(x, w) in canonical layout and the case's dtype.

    The stream depends on shapes, dtype, distribution and seed, not on layout or quantity, so layout
    variants and the gradients of a case see the same numbers (integer distributions excepted: their
    magnitudes and density follow the compared quantity's accumulation length).
    """
    rng = _rng(spec, "")
    dtype = np_dtype(spec.dtype)
    return tuple(_draw(rng, shape, spec, role).astype(dtype)
                 for shape, role in ((spec.input_shape, "x"), (spec.kernel_shape, "w")))


def cotangent(spec: "ConvSpec") -> np.ndarray | None:
    """The seeded upstream gradient for a ``grad_*`` quantity (shaped like the output), else None."""
    if spec.quantity == "output":
        return None
    return _draw(_rng(spec, "|cotangent"), spec.output_shape, spec, "dy").astype(np_dtype(spec.dtype))


def _rng(spec: "ConvSpec", stream: str) -> np.random.Generator:
    key = f"{spec.input_shape}|{spec.kernel_shape}|{spec.dtype}|{spec.distribution}{stream}".encode()
    return np.random.default_rng([spec.seed, zlib.crc32(key)])


def _draw(rng: np.random.Generator, shape: tuple[int, ...], spec: "ConvSpec", role: str) -> np.ndarray:
    if spec.distribution == "int":
        # |x|, |w| <= m with n * m**2 <= 2**p: every partial sum is an integer the dtype holds exactly.
        m = max(1, min(3, math.isqrt(2 ** precision_bits(spec.dtype) // spec.accumulation_length)))
        return rng.integers(-m, m + 1, size=shape).astype(np.float64)
    if spec.distribution in ("sparse", "canary"):
        return _integers(rng, shape, spec, role)
    values = rng.standard_normal(shape)
    if spec.distribution == "wide":
        e = _WIDE_EXPONENT[spec.dtype]
        values = np.ldexp(values, rng.integers(-e, e + 1, size=shape))
    return values


def _integers(rng: np.random.Generator, shape: tuple[int, ...], spec: "ConvSpec", role: str) -> np.ndarray:
    """Integer data for the exact distributions. Every product pairs one *leading* operand (x for outputs and
    weight gradients, dy for input gradients) with a small one; the leading one is made sparse, so that
    the expected number of nonzero terms of a sum keeps every partial sum exact (see :func:`integer_plan`)."""
    plan = integer_plan(spec)
    leading = role == ("dy" if spec.quantity == "grad_input" else "x")
    low, high = plan.leading if leading else plan.small
    signs = 1 if plan.positive else rng.choice((-1, 1), size=shape)
    values = signs * rng.integers(low, high + 1, size=shape)
    if plan.odd and leading:
        values = values | 1
    if leading and plan.density < 1:
        values = np.where(rng.random(shape) < plan.density, values, 0)
    return values.astype(np.float64)


@dataclass(frozen=True)
class IntegerPlan:
    """Magnitude ranges (inclusive) of the leading and the small operand, whether all values are positive
    and the leading ones odd, and the density of the leading operand."""

    leading: tuple[int, int]
    small: tuple[int, int]
    density: float
    positive: bool = False
    odd: bool = False


def integer_plan(spec: "ConvSpec") -> IntegerPlan:
    """How the ``sparse`` and ``canary`` distributions draw integers for ``spec``.

    ``sparse`` (oneDNN benchdnn's rule): |leading| <= a, |small| <= b and density so that the expected
    count of nonzero terms, n * density, is half of 2**p / (a b): every sum, and so the result, is an integer
    the case's dtype holds exactly, at any accumulation length n. The bound is 0 and any error fails.
    ``canary`` is built to expose a hidden precision mode with a bound of 0 under the default declaration:
    float32 (float64): odd leading values of 12 (25) significant bits, which TF32 and bfloat16 (float32)
    inputs cannot hold, sparse enough that sums stay exact in float32 (float64); float16 and bfloat16:
    positive values whose sums pass 2048 (256) many times over, so accumulating in the 16-bit type rounds
    on the way while float32 accumulation stays exact and rounds once at the end.
    """
    n, p = spec.accumulation_length, precision_bits(spec.dtype)
    if spec.distribution == "sparse":
        a, b = {"float16": (4, 2), "bfloat16": (2, 2), "float32": (16, 8), "float64": (64, 32)}[spec.dtype]
        return IntegerPlan((1, a), (0, b), min(1.0, 2.0 ** p / (a * b) / 2 / n))
    if spec.dtype in ("float32", "float64"):
        bits = 12 if spec.dtype == "float32" else 25
        a, b = 2 ** bits - 1, 3
        return IntegerPlan((2 ** (bits - 1) + 1, a), (0, b), min(1.0, 2.0 ** p / (a * b) / 2 / n), odd=True)
    # Sums near 2**p * max(8, 2 * taps), so that even the per-tap partial sums of a col2im pass 2**p, and
    # the largest possible sum n * m**2 below float16's 65504.
    taps, terms = _terms(spec)
    target = min(32768, 2 ** p * max(8, 2 * taps))
    m = max(2, min(2 ** p, math.isqrt(65504 // terms), round(2 * math.sqrt(target / terms)) - 1))
    return IntegerPlan((1, m), (1, m), 1.0, positive=True)


def _terms(spec: "ConvSpec") -> tuple[int, int]:
    """(kernel taps that meet at one result element, nonzero terms of its sum): a stride s leaves only
    ceil(k / (s / gcd(s, d))) taps per axis of a scatter (transposed output, input gradient of a conv): tap
    j lands at j*d mod s, and those offsets repeat every s / gcd(s, d) taps."""
    if spec.quantity == "grad_weight":
        return 1, spec.accumulation_length
    volume = math.prod(spec.kernel)
    scatter = spec.transposed == (spec.quantity == "output")
    taps = math.prod(-(-k // (s // math.gcd(s, d))) for k, s, d in zip(spec.kernel, spec.strides, spec.dilations)) \
        if scatter else volume
    return taps, max(1, spec.accumulation_length // volume * taps)

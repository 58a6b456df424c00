"""Arithmetic fingerprints: what a backend's arithmetic is, read off its results on integer-valued cases.

On integer inputs the exact result is known, so the way a backend misses it names its arithmetic:
- ``correctly rounded``: exact accumulation, one final rounding to the output dtype;
- ``TF32 inputs`` / ``bfloat16 inputs`` / ``float32 inputs``: matches the exact result of the inputs first
  rounded to that many significant bits (NVIDIA TF32 keeps 11, bfloat16 8, float32 24);
- ``TF32 inputs, ties away`` / ``TF32 inputs, truncated``: the same with TF32's other roundings: PTX's
  ``cvt.rna.tf32.f32`` (the only float32-to-TF32 conversion before sm_90) rounds ties away from zero, and
  tensor cores handed float32 data drop its low 13 bits; which one a GPU library's kernel does is not
  documented, so all three are tried (cuDNN 9.19 on an H200 rounded ties away for four NCHW layers). Float32
  canaries have ties at 11 bits; float64 ones (25-bit values) hardly any, so there ties away reads ``TF32 inputs``;
- ``bfloat16 inputs and output`` (float16 cases): that result rounded to bfloat16 as well, then widened (a
  float16 request computed by bfloat16 kernels: OpenVINO's CPU plugin on CPUs without float16 arithmetic);
- ``float16-taps accumulation`` / ``bfloat16-taps accumulation``: not correctly rounded, but within the
  error bound of summing channels in float32 and adding the kernel taps in the 16-bit type (col2im);
- ``float16 accumulation`` / ``bfloat16 accumulation``: within the bound of summing everything in the
  16-bit output type;
- ``not identified``: none of these, or within an accumulation bound so wide that a zero result or a mutated
  reference (:mod:`parity.verdict.sensitivity`) fits it too, which is no evidence of that accumulation.
The canary distribution (see :func:`parity.core.inputs.integer_plan`) is what separates them; on small integers
every one of these arithmetics is exact, and the fingerprint says ``correctly rounded``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Final

import numpy as np

from parity.verdict.comparison import TAPS, error_bound
from parity.verdict.sensitivity import Mutant, admitted, mutants
from parity.core.dtypes import np_dtype
from parity.reference.conv import Reference, compute

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

CORRECTLY_ROUNDED: Final = "correctly rounded"
NOT_IDENTIFIED: Final = "not identified"
# Input roundings worth testing for, per case dtype: (label, significant bits kept, rounding).
_TF32: Final = (("TF32 inputs", 11, "even"), ("TF32 inputs, ties away", 11, "away"), ("TF32 inputs, truncated", 11, "zero"))
_INPUT_ROUNDINGS: Final = {"float16": (("bfloat16 inputs", 8, "even"),),
                           "float32": (*_TF32, ("bfloat16 inputs", 8, "even")),
                           "float64": (("float32 inputs", 24, "even"), *_TF32, ("bfloat16 inputs", 8, "even"))}


def round_to_bits(a: np.ndarray, bits: int, rounding: str = "even") -> np.ndarray:
    """``a`` (float64) rounded to ``bits`` (1 to 52) significant bits: to nearest with ties to even (``even``) or
    away from zero (``away``), or toward zero (``zero``)."""
    if rounding not in ("even", "away", "zero") or not 1 <= bits <= 52:
        raise ValueError(f"round_to_bits must get a rounding of even, away or zero and 1 to 52 bits, got "
                         f"{rounding!r} and {bits}")
    mantissa, exponent = np.frexp(a)
    scaled = np.ldexp(mantissa, bits)  # |scaled| < 2**bits: adding 0.5 is exact below 2**bits, at most 2**bits above
    if rounding == "away":
        kept = np.copysign(np.floor(np.abs(scaled) + 0.5), scaled)
    else:
        kept = np.round(scaled) if rounding == "even" else np.trunc(scaled)
    return np.ldexp(kept, exponent - bits)


def fingerprint(spec: "ConvSpec", ref: Reference, actual: np.ndarray, operands: list[np.ndarray],
                found: Callable[[], list[Mutant]] | None = None) -> str | None:
    """The label of ``actual``'s arithmetic (see the module docstring); None where the inputs are not all
    integers, so that the exact result tells nothing about the order or precision of the sums. ``found`` gives
    the case's mutants where the caller holds them (asked only when a bound must be shown telling); without
    it they are made here."""
    if not ref.integer_inputs:
        return None
    got = np.asarray(actual, np.float64)
    if _equal(got, ref.value, spec.dtype):
        return CORRECTLY_ROUNDED
    for label, bits, rounding in _INPUT_ROUNDINGS.get(spec.dtype, ()):
        rounded = [round_to_bits(np.asarray(a, np.float64), bits, rounding) for a in operands]
        exact = compute(spec, *rounded, scaled=False)[0]
        if _equal(got, exact, spec.dtype):
            return label
        if spec.dtype == "float16" and _equal(got, round_to_bits(exact, bits), spec.dtype):
            return f"{label} and output"
    if spec.dtype in ("float16", "bfloat16"):
        for accumulation in (spec.dtype + TAPS, spec.dtype):
            bound = error_bound(ref, spec.dtype, accumulation)
            with np.errstate(invalid="ignore"):
                if np.all(np.abs(got - ref.value) <= bound):
                    made = mutants(spec, ref, *operands) if found is None else found()
                    return f"{accumulation} accumulation" if _telling(ref, bound, made, spec.dtype) else NOT_IDENTIFIED
    return NOT_IDENTIFIED


def _telling(ref: Reference, bound: np.ndarray, found: list[Mutant], dtype: str) -> bool:
    """Whether a result within ``bound`` is evidence of that accumulation: the bound rejects a zero result and
    each mutated reference (over long sums a 16-bit accumulation bound exceeds the result itself, and an
    all-zero or flipped-kernel output fitted it: a probe then widened the case's bound to admit them)."""
    if np.all(np.abs(ref.value) <= bound):
        return False
    return next(admitted(found, ref, dtype, bound), None) is None


def _equal(got: np.ndarray, exact: np.ndarray, dtype: str) -> bool:
    """Whether ``got`` is ``exact`` correctly rounded to ``dtype`` (+0 and -0 alike)."""
    return got.shape == exact.shape and bool(np.all(got == exact.astype(np_dtype(dtype)).astype(np.float64)))


def contradicts(label: str | None, declared: str | None) -> bool:
    """Whether a fingerprint contradicts the declared accumulation: anything but a correctly rounded result,
    unless it is accumulation in exactly the declared type."""
    return label not in (None, CORRECTLY_ROUNDED, f"{declared} accumulation")

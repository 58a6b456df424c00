"""The four floating-point formats parity knows, and their rounding facts.

bfloat16 comes from ``ml_dtypes`` (the package JAX and TensorFlow use for it).
"""
from __future__ import annotations

from typing import Final

import ml_dtypes
import numpy as np

DTYPES: Final[dict[str, np.dtype]] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
SHORT: Final[dict[str, str]] = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
_ALIASES: Final[dict[str, str]] = {**{v: k for k, v in SHORT.items()}, "half": "float16", "float": "float32",
                                   "single": "float32", "double": "float64"}
# Unsigned integer type of the same width, for bit reinterpretation.
_UINT: Final[dict[int, type]] = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def canonical_name(dtype: object) -> str:
    """Map ``"f32"``, ``np.float32``, ``torch``-style names, ... to one of :data:`DTYPES`' keys."""
    named = dtype
    if isinstance(dtype, type):  # scalar types (np.float32, ml_dtypes.bfloat16) have no usable .name
        try:
            named = np.dtype(dtype)
        except TypeError:
            pass
    name = str(getattr(named, "name", named)).removeprefix("torch.").removeprefix("tf.")
    name = _ALIASES.get(name, name)
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return name


def np_dtype(dtype: object) -> np.dtype:
    return DTYPES[canonical_name(dtype)]


def _finfo(dtype: np.dtype):
    return ml_dtypes.finfo(dtype) if dtype == DTYPES["bfloat16"] else np.finfo(dtype)


def precision_bits(dtype: object) -> int:
    """Significand bits including the implicit one: 11, 8, 24, 53."""
    return int(_finfo(np_dtype(dtype)).nmant) + 1


def unit_roundoff(dtype: object) -> float:
    """u = 2**-p: the largest relative error of one rounding to nearest."""
    return 2.0 ** -precision_bits(dtype)


def max_finite(dtype: object) -> float:
    return float(_finfo(np_dtype(dtype)).max)


def ulp(values: np.ndarray, dtype: object) -> np.ndarray:
    """Spacing of ``dtype`` at each of ``values`` (given in any float type), as float64.

    ulp(v) = 2**(max(e, emin) - (p - 1)) with e = floor(log2|v|); at zero it is the smallest subnormal.
    """
    info = _finfo(np_dtype(dtype))
    mantissa, exponent = np.frexp(np.abs(np.asarray(values, dtype=np.float64)))
    # frexp(0) is (0, 0); send zeros to minexp so that ulp(0) is the smallest subnormal.
    e = np.maximum(np.where(mantissa == 0, int(info.minexp), exponent.astype(np.int64) - 1), int(info.minexp))
    return np.ldexp(1.0, e - int(info.nmant))


def uint_view(a: np.ndarray) -> np.ndarray:
    """The bits of a float array as unsigned integers of the same width."""
    return a.view(_UINT[a.dtype.itemsize])

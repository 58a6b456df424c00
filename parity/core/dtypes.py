"""The four floating-point formats parity knows, and their rounding facts.

bfloat16 comes from ``ml_dtypes`` (the package JAX and TensorFlow use for it), which takes about half a
second to import on some CPUs: it is imported only when a bfloat16 dtype object is actually needed
(``DTYPES["bfloat16"]``, ``np_dtype("bfloat16")``). Names, precisions and ULPs need no import.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final, NamedTuple

import numpy as np

from parity.core.errors import FieldError


class Format(NamedTuple):
    """IEEE-style facts of a format: precision p (significand bits with the implicit one), the smallest
    normal exponent emin (the smallest normal is 2**emin) and the largest finite value."""

    precision: int
    emin: int
    max: float


FORMATS: Final[dict[str, Format]] = {
    "float16": Format(11, -14, 65504.0),
    "bfloat16": Format(8, -126, (2 - 2.0 ** -7) * 2.0 ** 127),
    "float32": Format(24, -126, (2 - 2.0 ** -23) * 2.0 ** 127),
    "float64": Format(53, -1022, float(np.finfo(np.float64).max)),
}


class _Dtypes(Mapping):
    """Name -> numpy dtype; ml_dtypes' bfloat16 is imported on the first lookup of "bfloat16"."""

    def __init__(self) -> None:
        self._known = {"float16": np.dtype(np.float16), "float32": np.dtype(np.float32),
                       "float64": np.dtype(np.float64)}

    def __getitem__(self, name: str) -> np.dtype:
        if name == "bfloat16" and name not in self._known:
            import ml_dtypes

            self._known[name] = np.dtype(ml_dtypes.bfloat16)
        return self._known[name]

    def __iter__(self) -> Iterator[str]:
        return iter(FORMATS)

    def __len__(self) -> int:
        return len(FORMATS)

    def __contains__(self, name: object) -> bool:
        return name in FORMATS


DTYPES: Final[Mapping[str, np.dtype]] = _Dtypes()
SHORT: Final[dict[str, str]] = {"float16": "f16", "bfloat16": "bf16", "float32": "f32", "float64": "f64"}
_ALIASES: Final[dict[str, str]] = {**{v: k for k, v in SHORT.items()}, "half": "float16", "float": "float32",
                                   "single": "float32", "double": "float64"}
# Unsigned integer type of the same width, for bit reinterpretation.
_UINT: Final[dict[int, type]] = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_KNOWN: dict[object, str] = {}  # names and numpy dtypes already mapped by canonical_name


def canonical_name(dtype: object) -> str:
    """Map ``"f32"``, ``np.float32``, ``torch``-style names, ... to one of :data:`DTYPES`' keys."""
    try:
        return _KNOWN[dtype]
    except (KeyError, TypeError):  # TypeError: unhashable
        pass
    name = _canonical(dtype)
    if isinstance(dtype, (str, np.dtype)):  # a comparison asks several times per call: remembered
        _KNOWN[dtype] = name
    return name


def _canonical(dtype: object) -> str:
    named = dtype
    if isinstance(dtype, type):  # scalar types (np.float32, ml_dtypes.bfloat16) have no usable .name
        try:
            named = np.dtype(dtype)
        except TypeError:
            pass
    name = str(getattr(named, "name", named)).removeprefix("torch.").removeprefix("tf.")
    name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise FieldError("dtype", f"must be one of {', '.join(FORMATS)}, got {dtype!r}")
    return name


def np_dtype(dtype: object) -> np.dtype:
    return DTYPES[canonical_name(dtype)]


def precision_bits(dtype: object) -> int:
    """Significand bits including the implicit one: 11, 8, 24, 53."""
    return FORMATS[canonical_name(dtype)].precision


def unit_roundoff(dtype: object) -> float:
    """u = 2**-p: the largest relative error of one rounding to nearest."""
    return 2.0 ** -precision_bits(dtype)


def ulp(values: np.ndarray, dtype: object) -> np.ndarray:
    """Spacing of ``dtype`` at each of ``values`` (given in any float type), as float64.

    ulp(v) = 2**(max(e, emin) - (p - 1)) with e = floor(log2|v|); at zero it is the smallest subnormal.
    """
    p, emin, _ = FORMATS[canonical_name(dtype)]
    mantissa, exponent = np.frexp(np.asarray(values, dtype=np.float64))
    # frexp(0) is (0, 0): zeros get emin, so that ulp(0) is the smallest subnormal.
    e = np.maximum(np.where(mantissa == 0, emin, exponent - 1), emin)
    return np.ldexp(1.0, e - (p - 1))


def uint_view(a: np.ndarray) -> np.ndarray:
    """The bits of a float array as unsigned integers of the same width."""
    return a.view(_UINT[a.dtype.itemsize])

"""Arrays as people paste them: numpy, torch, TensorFlow, Julia, MATLAB/Octave printouts, lists and tables.

:func:`parse` reads the text (parsed, never evaluated: see :mod:`parity.porting.printed_formats`) and how
precisely each element was printed. A printout rounds: "0.123457" stands for any value within 5e-7 of
it. That half-width, per element, is :attr:`Printed.rounding`; `parity check` adds its effect to the
error bound. Printers keep either a number of decimals (numpy's positional mode, torch, MATLAB's
``format short``) or of significant digits (Julia, scientific notation), dropping trailing zeros (numpy,
Julia): an element printed with fewer digits than the most any element shows may still have been
rounded at that most. So with D the most decimals and S the most significant digits any element
shows, an element of magnitude 10**e is taken as rounded to the coarser of 10**-D and 10**(e-S+1).
Text whose every element is a whole number printed with at most one zero decimal ("3", "3.", "3.0") is
read as exact. The re-rounding of the decimal to the array's dtype adds half an ULP.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from parity.porting import printed_formats as formats
from parity.core.dtypes import np_dtype, ulp
from parity.core.wording import counted

FORMATS: Final = ("numpy", "list", "torch", "tensorflow", "julia", "matlab", "table")
_NAMES: Final = {"numpy": "numpy printout", "list": "nested list", "torch": "torch printout",
                 "tensorflow": "TensorFlow printout",
                 "julia": "Julia printout (Julia's indices kept, 1-based -> 0-based)",
                 "matlab": "MATLAB/Octave printout (MATLAB's indices kept, 1-based -> 0-based)", "table": "table"}
_FLOATS: Final = {"float16": "float16", "half": "float16", "bfloat16": "bfloat16", "float32": "float32",
                  "float": "float32", "float64": "float64", "double": "float64", "Float16": "float16",
                  "BFloat16": "bfloat16", "Float32": "float32", "Float64": "float64"}
_PARTS: Final = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eEfF]([+-]?\d+))?")
_MAX_TEXT: Final = 1 << 28  # bytes: larger text is not a printout anyone pasted


@dataclass(frozen=True, eq=False)
class Printed:
    """A parsed printout: ``array`` in ``dtype``, ``rounding`` the half-width of each element's printing
    (float64, 0 where exact), ``digits`` how it was printed in words."""

    array: np.ndarray
    dtype: str
    rounding: np.ndarray = field(repr=False)
    digits: str
    format: str
    dtype_note: str  # "declared", or why this dtype was assumed

    def describe(self) -> str:
        return (f"{_NAMES[self.format]}, shape {self.array.shape}, {self.dtype} ({self.dtype_note}), "
                f"{self.digits}")


def parse(text: str, *, format: str | None = None, digits: str | int | None = None) -> Printed:
    """Parse a printed array; ``format`` (one of :data:`FORMATS`) overrides detection, ``digits``
    (``6``: significant digits, ``".4"``: decimals, ``"exact"``) the detected printing precision.
    ``ValueError`` (one line naming the line of the text) when it cannot be read."""
    if format is not None and format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    text = formats.prepared(text)
    tokens = formats.parse(text, format or formats.detect(text))
    values = np.array([_value(t) for t in tokens.values], np.float64).reshape(tokens.shape)
    dtype, note = _dtype(tokens, values)
    array = values.astype(np_dtype(dtype))
    rounding, described = _rounding(tokens.values, values, digits)
    exact = np.asarray(array, np.float64)
    rounding = rounding.reshape(tokens.shape)
    rounding = np.where(rounding > 0, rounding + 0.5 * ulp(exact, dtype), 0.0)
    return Printed(array, dtype, np.where(np.isfinite(exact), rounding, 0.0), described, tokens.format, note)


def read(path: str, label: str, *, format: str | None = None, digits: str | int | None = None) -> Printed:
    """:func:`parse` the text file at ``path`` (``-``: standard input); errors name ``label`` and the path."""
    where = f"{label} {path!r}"
    text = _text(path, where)
    try:
        return parse(text, format=format, digits=digits)
    except ValueError as error:
        raise ValueError(f"{where} must be a printed array, got: {error}") from None


def _text(path: str, where: str) -> str:
    if path == "-":
        return sys.stdin.read(_MAX_TEXT + 1)[:_MAX_TEXT + 1]
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{where} must be a readable file, got {'a folder' if file.is_dir() else 'no such file'}")
    if file.stat().st_size > _MAX_TEXT:
        raise ValueError(f"{where} must be a printout under {_MAX_TEXT >> 20} MiB, got {file.stat().st_size} bytes "
                         "(save large arrays with np.save)")
    try:
        return file.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise ValueError(f"{where} must be a readable file, got: {error.strerror or error}") from None


def _value(token: str) -> float:
    text = token.lower().removesuffix("32").removesuffix("16") if token[-1].isdigit() and "n" in token.lower() \
        else token
    return float(text.replace("f", "e").replace("F", "e") if not text.lower().lstrip("+-").startswith(("nan", "inf"))
                 else text)


def _dtype(tokens: formats.Tokens, values: np.ndarray) -> tuple[str, str]:
    declared = tokens.dtype
    if declared in _FLOATS:
        return _FLOATS[declared], "declared"
    if declared is not None:
        if not re.fullmatch(r"U?[Ii]nt\d*|int\d*|long", declared):
            raise ValueError(f"line 1: the dtype must be a float or integer type, got {declared!r}")
        return "float64", f"{declared} read as float64"
    floats = any(not t.lstrip("+-").isdigit() for t in tokens.values)
    if tokens.format == "numpy":  # numpy's repr omits the default dtypes only
        return ("float64", "numpy's default") if floats else ("float64", "int64, numpy's default, read as float64")
    if tokens.format == "torch":
        return ("float32", "torch's default") if floats else ("float64", "int64, torch's default, read as float64")
    if tokens.format in ("julia", "matlab"):
        return "float64", f"{'MATLAB' if tokens.format == 'matlab' else 'Julia'}'s default"
    most = max((_significant(t) for t in tokens.values), default=0)
    return ("float64", "not in the text; over 9 significant digits, so float64 assumed") if most > 9 else \
        ("float32", "not in the text; assumed")


def _rounding(tokens: tuple[str, ...], values: np.ndarray, digits: str | int | None) -> tuple[np.ndarray, str]:
    """Per-element half-width of the printing (see the module docstring) and its description."""
    flat = values.reshape(-1)
    if digits is not None:
        significant, decimals, text = given_digits(digits)
    elif all(_whole(t) for t in tokens if _finite(t)):
        return np.zeros(flat.shape), "printed as whole numbers: read as exact (if they were rounded to whole " \
                                     "numbers, say --digits .0)"
    else:
        finite = [t for t in tokens if _finite(t)]
        significant = max(_significant(t) for t in finite)
        decimals = max(_decimals(t) for t in finite)
        text = ""
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log10(np.abs(flat)))
    by_digits = np.where((flat != 0) & np.isfinite(exponent), 0.5 * 10.0 ** (exponent - significant + 1), 0.0) \
        if significant is not None else np.zeros(flat.shape)
    by_decimals = np.full(flat.shape, 0.5 * 10.0 ** -decimals) if decimals is not None else np.zeros(flat.shape)
    if not text:
        text = f"printed to {counted(significant, 'significant digit')}" if np.mean(by_digits > by_decimals) >= 0.5 \
            else f"printed to {counted(decimals, 'decimal')}"
    return np.maximum(by_digits, by_decimals), text


def given_digits(digits: str | int) -> tuple[int | None, int | None, str]:
    """(significant digits, decimals, description) of a ``--digits`` value: N, .N or 'exact'."""
    text = str(digits).strip()
    if text == "exact":
        return None, None, "given as exact"
    match = re.fullmatch(r"(\.?)(\d+)", text)
    if not match or not (0 if match.group(1) else 1) <= int(match.group(2)) <= 40:
        raise ValueError(f"digits must be N (significant digits, 1 to 40), .N (decimals, 0 to 40) or 'exact', got "
                         f"{digits!r}")
    count = int(match.group(2))
    if match.group(1):
        return None, count, f"printed to {counted(count, 'decimal')} (given)"
    return count, None, f"printed to {counted(count, 'significant digit')} (given)"


def _finite(token: str) -> bool:
    return not re.search(r"nan|inf", token, re.I)


def _whole(token: str) -> bool:
    sign, whole, fraction, exponent = _PARTS.fullmatch(token).groups()
    return exponent is None and (fraction is None or fraction in ("", "0"))


def _significant(token: str) -> int:
    if not _finite(token):
        return 0
    sign, whole, fraction, exponent = _PARTS.fullmatch(token).groups()
    return len((whole + (fraction or "")).lstrip("0"))


def _decimals(token: str) -> int:
    sign, whole, fraction, exponent = _PARTS.fullmatch(token).groups()
    return len(fraction or "") - int(exponent or 0)

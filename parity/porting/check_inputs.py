"""What `parity check` is given: arrays or printouts (:class:`parity.porting.printed.Printed`), read as float arrays
with every axis present (size-1 axes a layout string leaves out put back, see :mod:`parity.porting.squeezed`),
each with the half-widths of its printing, and a sentence per thing read."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from parity.core import files
from parity.core.dtypes import np_dtype
from parity.porting import squeezed
from parity.porting.printed import Printed

LABELS: Final = ("input", "kernel", "output")


@dataclass(frozen=True, eq=False)
class Inputs:
    """x, w, y with every axis, ``rounding`` (their printing's half-widths, None when all are exact), the
    full layouts to state, and what was read, in words."""

    x: np.ndarray
    w: np.ndarray
    y: np.ndarray
    rounding: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    layout: str | None
    kernel_layout: str | None
    notes: tuple[str, ...]
    printing: str  # how the printed arrays were printed, one sentence, or ""


def prepare(arrays: tuple[Any, Any, Any], layout: str | None, kernel_layout: str | None, groups: Any,
            transposed: bool) -> Inputs:
    """Validate x, w, y (arrays or Printed) and put back the size-1 axes their layouts leave out."""
    values, roundings, printing, notes = [], [], [], []
    for label, array in zip(LABELS, arrays):
        rounding = None
        if isinstance(array, Printed):
            printing += [f"{_short(label)} was {array.digits}"] if array.rounding.any() else []
            notes.append(array.describe())
            rounding, array = array.rounding, array.array
        values.append(files.float_array(label, array))
        if values[-1].size == 0:
            raise ValueError(f"{label} must have at least one element on every axis, got shape {values[-1].shape}")
        roundings.append(rounding)
        notes += [""] * (len(values) - len(notes))
    if layout is None and len(values[0].shape) > 5:
        raise ValueError(f"input must have 3 to 5 dimensions (batch, channels, 1 to 3 spatial), got shape "
                         f"{values[0].shape}")
    shapes = tuple(v.shape for v in values)
    plan = squeezed.expand(shapes, layout, kernel_layout, groups if isinstance(groups, int) else 1, transposed)
    full = [np.expand_dims(v, axes) for v, axes in zip(values, plan.axes)]
    rounding = None if all(r is None or not r.any() for r in roundings) else tuple(
        np.zeros(v.shape) if r is None else np.expand_dims(r, axes) for r, v, axes in
        zip(roundings, full, plan.axes))
    squeeze = [n.removeprefix(f"{v.shape} ") if printed else n for n, v, printed in zip(plan.notes, values, notes)]
    read = tuple(f"{_short(label)}: " + "; ".join(filter(None, parts)) for label, *parts in
                 zip(LABELS, notes, squeeze) if any(parts))
    return Inputs(*full, rounding, plan.layout, plan.kernel_layout, read, "; ".join(printing))


def computed_in(x: Any, w: Any, y: Any) -> str | None:
    """The narrowest type narrower than Y's in which every element of x, w and Y is exact (a result computed
    in it and stored wider), or None: for printed arrays, and for integer x and w (their results are exact in
    every type wide enough, so nothing tells which type computed them). bfloat16 is tried before float16:
    bfloat16 values are float16 values too (within its range), not the other way round."""
    if any(isinstance(a, Printed) for a in (x, w, y)):
        return None
    arrays = [files.float_array(label, a) for label, a in zip(LABELS, (x, w, y))]
    if all(np.array_equal(a, np.round(a)) for a in arrays[:2]):
        return None
    for name in ("bfloat16", "float16", "float32"):
        narrow = np_dtype(name)
        if narrow.itemsize < arrays[2].dtype.itemsize and all(_exact_in(a, narrow) for a in arrays):
            return name
    return None


def y_only_in(x: Any, w: Any, y: Any) -> str | None:
    """The 16-bit type narrower than Y's in which every element of Y is exact while x or w is not (a call run
    in that type on inputs it rounded first, a model cast to it, stored wider), or None (also for printed
    arrays, and for a Y of integers, which every type holds)."""
    if any(isinstance(a, Printed) for a in (x, w, y)):
        return None
    arrays = [files.float_array(label, a) for label, a in zip(LABELS, (x, w, y))]
    if np.array_equal(arrays[2], np.round(arrays[2])):
        return None
    for name in ("bfloat16", "float16"):
        narrow = np_dtype(name)
        if narrow.itemsize < arrays[2].dtype.itemsize and _exact_in(arrays[2], narrow):
            return None if all(_exact_in(a, narrow) for a in arrays[:2]) else name
    return None


def _exact_in(a: np.ndarray, dtype: np.dtype) -> bool:
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.array_equal(a.astype(dtype).astype(a.dtype), a, equal_nan=True))


def _short(label: str) -> str:
    return {"input": "x", "kernel": "w", "output": "Y"}[label]


def load(path: str | Path, label: str, *, format: str | None = None, digits: str | None = None) -> np.ndarray | Printed:
    """A ``.npy`` file (read safely: no pickles, its header checked against the file and the memory budget),
    or a printed array in a text file (``-``: standard input); ``ValueError`` says why not."""
    from parity.porting import printed

    if str(path) != "-" and _is_npy(path):
        return files.load_float_npy(path, label)
    if str(path) != "-" and _starts_with(path, b"PK\x03\x04"):  # np.savez's zip archive
        raise ValueError(f"{label} {str(path)!r} must be a .npy file or a printed array, got a zip archive (.npz): "
                         "save the one array with np.save")
    return printed.read(str(path), label, format=format, digits=digits)


def _starts_with(path: str | Path, magic: bytes, unreadable: bool = False) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(len(magic)) == magic
    except OSError:
        return unreadable


def _is_npy(path: str | Path) -> bool:
    """Whether ``path`` is meant as a .npy file: its name says so, or it starts with numpy's magic."""
    if str(path).endswith(".npy") or (Path(path).exists() and not Path(path).is_file()):
        return True  # a .npy name, or a folder, device or pipe: the .npy loader names the problem
    return _starts_with(path, files.NPY_MAGIC, unreadable=True)  # unreadable: the .npy loader names the problem

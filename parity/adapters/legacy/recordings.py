"""Recorded cases: one backend's output for one case, stored as files and replayed by the ``recorded`` backend.

For frameworks that cannot run here (Julia Knet/NNlib, MATLAB, a device you don't have). A recording is
a directory holding ``spec.json`` and ``input.npy``, ``kernel.npy``, ``output.npy`` (plain .npy, read with
``allow_pickle=False``), the arrays in the layouts ``spec.json`` states, in its dtype. ``spec.json`` uses
the vocabulary of ``parity check`` (layout, kernel_layout, flip, padding, strides, dilations, groups,
transposed, output_padding, dtype) plus ``distribution`` and ``seed``, which with the arrays' shapes give
the canonical :class:`~parity.core.spec.ConvSpec`; ``backend`` names who computed the output. The inputs must be
parity's own (``parity.generate(spec)``), so that the recording replays as a case: :func:`record` writes
one from any installed backend; to record another framework, run it on ``input.npy`` and ``kernel.npy``
and overwrite ``output.npy``. Everything is validated on load; a bad file is a one-line ``ValueError``.

Recordings are read only when asked for: from the folder in ``$PARITY_RECORDED``, which ``parity run
--recorded DIR``, ``parity list --recorded DIR`` and pytest's ``--parity-recorded DIR`` set (so that worker
processes see it too). :func:`scan` loads every recording of a folder; one that cannot be read is an
:class:`Unreadable` with the reason, and the others are kept.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Final, Iterable

import numpy as np

from parity.core import convert
from parity.core import files
from parity.core import reading as rd
from parity.core.dtypes import canonical_name
from parity.core.inputs import generate
from parity.core.spec import ConvSpec

ENV: Final = "PARITY_RECORDED"
SPEC_BYTES: Final = 1 << 20  # a spec.json is a few hundred bytes; anything over this is not one
FORMAT: Final = "parity-recorded/1"
FILES: Final = ("input.npy", "kernel.npy", "output.npy")
KEYS: Final = ("format", "backend", "layout", "kernel_layout", "flip", "padding", "strides", "dilations", "groups",
               "transposed", "output_padding", "dtype", "distribution", "seed")


@dataclass(frozen=True, eq=False)
class Recording:
    """A loaded recording: the canonical spec and canonical arrays (kernel un-flipped, channels first)."""

    path: Path
    backend: str
    spec: ConvSpec
    x: np.ndarray
    w: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Unreadable:
    """A recording that cannot be loaded, and why (one line)."""

    path: Path
    reason: str


def case_id(path: Path) -> str:
    """The id of the case a recording folder makes."""
    return f"recorded-{path.name}"


def folder() -> Path | None:
    """The folder of recordings to replay: ``$PARITY_RECORDED``, or None when it is not set (recordings are
    never read implicitly); ``ValueError`` when it is set to anything but an existing folder."""
    text = os.environ.get(ENV)
    return None if text is None else files.check_folder(text, ENV)


def use(where: str | Path, flag: str) -> Path:
    """Replay the recordings in ``where`` in this process and in its worker processes."""
    path = files.check_folder(where, flag).resolve()
    os.environ[ENV] = str(path)
    return path


def output_folder() -> Path:
    """Where ``parity record`` writes by default: ``$PARITY_RECORDED`` or ``./recorded``."""
    return Path(os.environ.get(ENV) or "recorded")


def make_output_folder() -> list[Path]:
    """Make :func:`output_folder` (checked as a folder parity may write first), one level at a time; the
    folders it made, the deepest first (``x/../e`` with ``e`` there makes ``x`` only)."""
    folder = output_folder()
    files.check_output_folder(folder, ENV)
    made = []
    for level in [*reversed(folder.parents), folder]:
        if not level.exists():
            level.mkdir()
            made.append(level)
    return made[::-1]


def describe(spec: ConvSpec, backend: str, kernel_layout: str | None = None, flip: bool = False) -> dict[str, Any]:
    """``spec.json`` of a recording of ``spec`` by ``backend``; the kernel stored in ``kernel_layout``
    (default: OI... / ...IO after the data layout, IO... / ...OI transposed), reversed if ``flip``."""
    if spec.quantity != "output":
        raise ValueError(f"quantity must be output for a recording, got {spec.quantity!r}")
    layout = kernel_layout or convert.default_kernel_layout(spec.rank, spec.layout == "channels_last",
                                                            spec.transposed).name
    padding = spec.padding if isinstance(spec.padding, str) else convert.pads_text(spec.padding)
    return {"format": FORMAT, "backend": backend, "layout": convert.layout_name(spec.layout, spec.rank),
            "kernel_layout": convert.kernel_layout(layout, spec.rank, spec.transposed).name, "flip": flip,
            "padding": padding, "strides": list(spec.strides), "dilations": list(spec.dilations),
            "groups": spec.groups, "transposed": spec.transposed, "output_padding": list(spec.output_padding),
            "dtype": spec.dtype, "distribution": spec.distribution, "seed": spec.seed}


def record(spec: ConvSpec, backend: str, directory: str | Path, kernel_layout: str | None = None,
           flip: bool = False) -> Recording:
    """Run ``spec`` on ``backend`` and write the recording to ``directory``; returns it as loaded back."""
    from parity import adapters

    meta = describe(spec, backend, kernel_layout, flip)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValueError(f"{str(directory)!r} must not exist yet, got {'a folder with files' if directory.is_dir() else 'a file'}"
                         " there (a recording is never overwritten: its output may come from elsewhere; remove it "
                         "to record it again)")
    adapter = adapters.get(backend)
    reason = adapter.available() or adapter.supports(spec)
    if reason:
        raise ValueError(f"backend {backend} must be able to run the case to record it, got: {reason}")
    x, w = generate(spec)
    try:
        y = adapter.run(spec, x.copy(), w.copy())
    except Exception as error:  # a backend failing is reported like any bad input, in one line
        raise ValueError(f"backend {backend} must run the case, got {type(error).__name__}: "
                         f"{(str(error).splitlines() or [''])[0]}") from None
    if not isinstance(y, np.ndarray) or y.shape != spec.output_shape or y.dtype != x.dtype:
        got = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise ValueError(f"backend {backend} output must be {x.dtype} {spec.output_shape}, got {got}")
    reading = _reading(meta, spec.rank)
    kernel = convert.flip_axes(w, reading.flips)
    stored = (_stored_data(x, reading), convert.kernel_from_canonical(kernel, reading.kernel_layout, spec.groups),
              _stored_data(y, reading))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"{str(directory)!r} must be a folder parity can make, got {files.first_line(error)}") from None
    files.write_atomic(directory / "spec.json", _json_lines(meta))
    for name, array in zip(FILES, stored):
        np.save(directory / name, np.ascontiguousarray(array), allow_pickle=False)
    return load(directory)


def record_cases(cases: Iterable[tuple[str, ConvSpec]], backend: str, out: str | Path, kernel_layout: str | None = None,
                 flip: bool = False, said: Callable[[ValueError], str] = str) -> tuple[list[Recording], list[str]]:
    """Record each (case id, spec) into ``out/<case id>-<backend>`` (``parity record``); returns the recordings and,
    for each case not recorded (gradients, what the backend does not support), why not, as ``said`` words it."""
    from parity import adapters

    adapters.get(backend)  # an unknown backend is one error, not one per case
    done, skipped = [], []
    for case_id, spec in cases:
        try:
            done.append(record(spec, backend, Path(out) / f"{case_id}-{backend}", kernel_layout, flip))
        except ValueError as error:
            skipped.append(f"{case_id}: {said(error)}")
    return done, skipped


def _json_lines(meta: dict[str, Any]) -> str:
    """One key per line, values compact: spec.json stays readable and diffable."""
    return "{\n" + ",\n".join(f" {json.dumps(key)}: {json.dumps(value)}" for key, value in meta.items()) + "\n}\n"


def _stored_data(a: np.ndarray, reading: rd.Reading) -> np.ndarray:
    return convert.to_channels_last(a) if reading.layout == "channels_last" else a


def load(directory: str | Path) -> Recording:
    """Read and validate one recording (``ValueError`` naming the file and the rule it breaks)."""
    directory = Path(directory)
    meta = _meta(directory / "spec.json")
    x, w, y = (files.load_float_npy(directory / name, f"recording {name}") for name in FILES)
    dtype = canonical_name(meta["dtype"])
    for name, array in zip(FILES, (x, w, y)):
        if array.dtype.name != dtype:
            raise ValueError(f"{directory / name} must have dtype {dtype} (spec.json), got {array.dtype.name}")
        if array.ndim != len(meta["strides"]) + 2:
            raise ValueError(f"{directory / name} must have {len(meta['strides']) + 2} dimensions for "
                             f"{len(meta['strides'])} strides in spec.json, got shape {array.shape}")
    reading = _reading(meta, x.ndim - 2, directory / "spec.json")
    xc, wc, yc = rd.canonical(reading, x, w, y)
    try:
        spec = rd.make_spec(reading, xc, wc, yc, w.shape, y.shape)
        spec = replace(spec, distribution=meta["distribution"], seed=meta["seed"])
    except ValueError as error:
        raise ValueError(f"{directory}: {error}") from None
    return Recording(directory, str(meta["backend"]), spec, *(np.ascontiguousarray(a) for a in (xc, wc, yc)))


def _meta(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > SPEC_BYTES:
            raise OverflowError(f"{path.stat().st_size} bytes, over {SPEC_BYTES}")
        meta = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError, OverflowError) as error:
        raise ValueError(f"{path} must be a readable JSON file, got: {files.first_line(error)}") from None
    missing = [key for key in KEYS if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise ValueError(f"{path} must have the keys {', '.join(KEYS)}, got none for {', '.join(missing)}")
    if meta["format"] != FORMAT:
        raise ValueError(f"{path} must have format {FORMAT!r}, got {meta['format']!r}")
    for key, kind in (("flip", bool), ("transposed", bool), ("strides", list)):
        if not isinstance(meta[key], kind):
            raise ValueError(f"{path} must have a {kind.__name__} {key}, got {meta[key]!r}")
    return meta


def _reading(meta: dict[str, Any], rank: int, where: Path | None = None) -> rd.Reading:
    try:
        reading = rd.stated(rank, layout=meta["layout"], kernel_layout=meta["kernel_layout"],
                            padding=meta["padding"], strides=tuple(meta["strides"]),
                            dilations=tuple(meta["dilations"]), groups=meta["groups"],
                            transposed=meta["transposed"], output_padding=tuple(meta["output_padding"]))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where or 'spec.json'} must state valid conventions, got: {error}") from None
    return replace(reading, flips=tuple(range(rank)) if meta["flip"] else ())


def scan(where: str | Path) -> tuple[list[Recording], list[Unreadable]]:
    """Every recording in ``where`` (each subfolder not starting with a dot), in name order, and those that
    cannot be read. Each recording is reloaded only when one of its files changes."""
    where = Path(where)
    try:
        entries = sorted(p for p in where.iterdir() if not p.name.startswith(".") and not p.is_file())
    except OSError as error:
        raise ValueError(f"recordings folder {str(where)!r} must be readable, got: {files.first_line(error)}") from None
    good, bad = [], []
    for entry in entries:
        try:
            good.append(_load_cached(str(entry), _signature(entry)))
        except Exception as error:  # any bad recording is that recording's error; the others still load
            reason = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
            bad.append(Unreadable(entry, (reason.splitlines() or [type(error).__name__])[0][:500]))
    return good, bad


def load_all(where: str | Path) -> list[Recording]:
    """The readable recordings in ``where`` (see :func:`scan`)."""
    return scan(where)[0]


def _signature(entry: Path) -> tuple:
    if not entry.is_dir():
        raise ValueError(f"{entry} must be a folder holding spec.json and {', '.join(FILES)}, got "
                         f"{'a dangling link' if entry.is_symlink() else 'something else'}")
    return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(entry.iterdir()))


@lru_cache(maxsize=256)
def _load_cached(path: str, signature: tuple) -> Recording:
    return load(path)

"""Files parity reads and writes: output paths checked before any work, reports written atomically, and
``.npy`` files read safely (no pickles; the header's shape checked against the file and the memory budget
before anything is allocated). Every problem is a one-line ``ValueError`` naming the flag, value and rule.
"""
from __future__ import annotations

import json
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import Any, Final

import numpy as np

from parity.core.dtypes import DTYPES
from parity.core.limits import memory_budget

NPY_MAGIC: Final = b"\x93NUMPY"


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``: a reader
    (or an interrupted run) sees the old file or the new one, never half of one. A symbolic link is
    followed: its target is replaced."""
    path = Path(os.path.realpath(path))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data.encode() if isinstance(data, str) else data)
        os.chmod(temporary, 0o666 & ~umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


JSON_BYTES: Final = 1 << 30  # a JSON report or baseline past 1 GiB is not one parity wrote


def read_json(path: str | Path) -> Any:
    """The JSON document in the regular file ``path``; ``ValueError`` saying why not, in one line (a
    device, a pipe or a file over JSON_BYTES is refused before it is read: /dev/zero grew without end and
    a FIFO waited for a writer)."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise ValueError("it is not a regular file (a folder, device, pipe or socket)")
        if status.st_size > JSON_BYTES:
            raise ValueError(f"{status.st_size} bytes, over the {JSON_BYTES} a report can have")
        return json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError, MemoryError, UnicodeDecodeError) as error:
        raise ValueError(f"{type(error).__name__}: {first_line(error)}") from None


def json_float(value: Any) -> Any:
    """A non-finite float as its text ("inf", "nan"), as reports and baselines store it; anything else as is."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def umask() -> int:
    """The process's umask (for files made by mkstemp/mkdtemp, which ignore it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_writable(path: str | Path | None, flag: str) -> None:
    """``ValueError`` unless a file can be written at ``path`` (None: the flag was not given). Checked
    before the work, by creating and removing a temporary file in the target folder."""
    if path is None:
        return
    text = str(path)
    if not text.strip() or text.endswith(os.sep):  # realpath drops a trailing slash: 'new/' wrote a file 'new'
        raise ValueError(f"{flag} must be a file path, got {text!r}")
    where = Path(os.path.realpath(text))
    if where.is_dir():
        raise ValueError(f"{flag} must be a file path, got {text!r}: it is a folder")
    if where.exists() and not where.is_file():
        raise ValueError(f"{flag} must be a regular file path, got {text!r}: it is a device, pipe or socket")
    folder = where.parent
    if not folder.is_dir():
        raise ValueError(f"{flag} must be in an existing folder, got {text!r}: {str(folder)!r} is not a folder")
    _require_writable(folder, flag, f"must be in a writable folder, got {text!r}")


def check_distinct(outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None]) -> None:
    """``ValueError`` when two outputs, or an output and an input, are the same file (one would be lost)."""
    seen: dict[Path, str] = {}
    for flag, path in [*inputs.items(), *outputs.items()]:
        if path is None:
            continue
        where = Path(path).resolve()
        if where in seen and flag in outputs:
            raise ValueError(f"{flag} must name a file of its own, got {str(path)!r}, which is also {seen[where]}")
        seen.setdefault(where, flag)


def check_outside(outputs: dict[str, str | Path | None], folder: Path | None, what: str) -> None:
    """``ValueError`` when an output lies inside ``folder`` (``what`` names it), whose files it could replace."""
    if folder is None:
        return
    inside = folder.resolve()
    for flag, path in outputs.items():
        if path is not None and inside in Path(path).resolve().parents:
            raise ValueError(f"{flag} must be outside {what} {str(folder)!r} (a file of it would be lost), "
                             f"got {str(path)!r}")


def check_folder(path: str | Path, flag: str) -> Path:
    """``ValueError`` unless ``path`` is an existing folder; returns it."""
    text = str(path)
    if not text.strip():
        raise ValueError(f"{flag} must be a folder, got {text!r}")
    if not Path(text).is_dir():
        what = "it is a file" if Path(text).exists() else "it does not exist"
        raise ValueError(f"{flag} must be an existing folder, got {text!r}: {what}")
    return Path(text)


def check_output_folder(path: str | Path, flag: str) -> None:
    """``ValueError`` unless ``path`` is a writable folder or can be created as one (checked before the work)."""
    text = str(path)
    if not text.strip():
        raise ValueError(f"{flag} must be a folder path, got {text!r}")
    existing = Path(text)
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise ValueError(f"{flag} must be a folder path, got {text!r}: {str(existing)!r} is a dangling link")
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} must be a folder path, got {text!r}: {str(existing)!r} is a file")
    _require_writable(existing, flag, f"must be a writable folder, got {text!r}")


def _require_writable(folder: Path, flag: str, rule: str) -> None:
    """``ValueError`` ``<flag> <rule>: <why>`` unless a file can be created in ``folder``."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ValueError(f"{flag} {rule}: {error.strerror or error}") from None


def load_npy(path: str | Path, label: str, budget_bytes: float) -> np.ndarray:
    """The one array in a ``.npy`` file. The header is read first: an object dtype, a shape the file does
    not hold, or an array whose float64 copy exceeds ``budget_bytes`` is refused before any allocation."""
    path = Path(path)
    where = f"{label} {str(path)!r}"
    if path.is_dir():
        raise ValueError(f"{where} must be a .npy file, got a folder")
    if path.exists() and not path.is_file():
        raise ValueError(f"{where} must be a regular .npy file, got a device, pipe or socket")
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise ValueError(f"{where} must be a readable .npy file, got: {error.strerror or error}") from None
    with stream:
        shape, dtype, start = _header(stream, where)
        _check_size(where, shape, dtype, os.fstat(stream.fileno()).st_size - start, budget_bytes)
        stream.seek(0)
        try:
            return np.load(stream, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{where} must be a readable .npy file, got: {first_line(error)}") from None


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _check_size(where: str, shape: tuple[int, ...], dtype: np.dtype, data_bytes: int, budget_bytes: float) -> None:
    count = math.prod(shape)
    if count * dtype.itemsize > data_bytes:
        raise ValueError(f"{where} must hold the {count} elements its header declares (shape {shape}), got "
                         f"{data_bytes} bytes of data (truncated?)")
    if 8 * count > budget_bytes:
        raise ValueError(f"{where} must fit the memory budget (PARITY_MEMORY_GIB): its shape {shape} needs "
                         f"{8 * count / 2**30:.3g} GiB as float64, over {budget_bytes / 2**30:.3g} GiB")


def _header(stream, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    magic = stream.read(len(NPY_MAGIC))
    if magic != NPY_MAGIC:
        found = "a .npz archive (zip)" if magic[:2] == b"PK" else f"a file starting with {magic[:6]!r}"
        raise ValueError(f"{where} must be a .npy file (starting with {NPY_MAGIC!r}), got {found}")
    try:
        stream.seek(0)
        version = np.lib.format.read_magic(stream)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(stream)
    except (OSError, ValueError, EOFError, TypeError, SyntaxError) as error:
        raise ValueError(f"{where} must have a valid .npy header, got: {first_line(error)}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"{where} must have a header shape of sizes >= 0, got {shape}")
    if dtype.hasobject:
        raise ValueError(f"{where} must hold numbers, got dtype {dtype.str!r} (pickled objects are never loaded)")
    return tuple(int(n) for n in shape), dtype, stream.tell()


def float_array(label: str, array: Any) -> np.ndarray:
    """A float array of one of parity's dtypes; a 2-byte void array (how numpy saves bfloat16) is read
    as bfloat16. A torch tensor is read as it is, detached and on the CPU."""
    array = void_as_bfloat16(np.asarray(numpy_of(array, label)))
    if array.dtype.name not in DTYPES:
        raise ValueError(f"{label} must be a {', '.join(DTYPES)} array, got dtype {array.dtype.str!r}")
    return array


def void_as_bfloat16(array: np.ndarray) -> np.ndarray:
    """A 2-byte void array (what ``np.save`` writes for ml_dtypes' bfloat16) viewed as bfloat16; else ``array``."""
    if array.dtype.kind == "V" and array.dtype.itemsize == 2 and array.dtype.names is None:
        return array.view(DTYPES["bfloat16"])
    return array


def numpy_of(array: Any, label: str = "a tensor") -> Any:
    """A torch tensor as numpy reads it (numpy has no bfloat16: such a tensor goes through float32, exactly);
    anything else unchanged. Duck-typed: torch is never imported here."""
    if not type(array).__module__.startswith("torch") or not hasattr(array, "detach"):
        return array
    try:
        tensor = array.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            return tensor.float().numpy().astype(DTYPES["bfloat16"])
        return tensor.numpy()
    except (TypeError, RuntimeError, NotImplementedError) as error:  # sparse, meta, float8, ...: numpy reads none
        raise ValueError(f"{label} must be a dense torch tensor numpy can read, got {_tensor_name(array)}: "
                         f"{type(error).__name__}: {str(error)[:200]}") from None


def _tensor_name(tensor: Any) -> str:
    return f"{getattr(tensor, 'dtype', '?')} {getattr(tensor, 'layout', '')} on {getattr(tensor, 'device', '?')}"


def load_float_npy(path: str | Path, label: str) -> np.ndarray:
    """:func:`load_npy` within the memory budget (PARITY_MEMORY_GIB), as one of parity's float dtypes
    (:func:`float_array`), in native byte order."""
    array = float_array(f"{label} {str(path)!r}", load_npy(path, label, memory_budget() * 2**30))
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))

"""``--isolate``: each backend runs in its own worker process (the protocol of :mod:`parity.adapters.legacy.worker`).

A backend that hangs past the per-case timeout, kills its process, or answers garbage yields that case's
``error`` with the reason; its worker is restarted for the next case and every other result is kept.
"""
from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np

from parity.core.dtypes import DTYPES
from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import SCRIPTS, Worker

STARTUP = 60.0  # extra seconds for a fresh worker's first case (framework import)


@cache
def _worker(backend: str, timeout: float) -> Worker:
    # No -E: the child must see the same PYTHONPATH as this process to import the same adapters.
    return Worker(Path(sys.executable), SCRIPTS / "adapter_worker.py", timeout=timeout, startup=STARTUP, flags=("-s",))


def run(backend: str, spec: ConvSpec, operands: list[np.ndarray], timeout: float) -> np.ndarray:
    """``adapters.get(backend).run(spec, *operands)`` in the backend's worker; WorkerError on any failure."""
    bits = spec.dtype == "bfloat16"
    arrays = {name: a.view(np.uint16) if bits else a for name, a in zip(("x", "w", "dy"), operands)}
    dtype = np.dtype(np.uint16) if bits else DTYPES[spec.dtype]
    call = {"backend": backend, "spec": spec.as_dict(), "bits": bits}
    output = _worker(backend, timeout).call(call, arrays, spec.result_shape, dtype)
    return output.view(DTYPES["bfloat16"]) if bits else output

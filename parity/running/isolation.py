"""``--isolate``: each backend runs in its own worker process (the protocol of :mod:`parity.adapters.legacy.worker`).

A backend that hangs past the per-case timeout, kills its process, or answers garbage yields that case's
``error`` with the reason; its worker is restarted for the next case and every other result is kept.
"""
from __future__ import annotations

from functools import cache

import numpy as np

from parity.core.spec import ConvSpec
from parity.adapters.legacy.worker import Worker, adapter_worker, run_adapter

STARTUP = 60.0  # seconds a fresh worker has to load its backend (framework import), before any case


@cache
def _worker(backend: str, timeout: float) -> Worker:
    return adapter_worker(timeout, STARTUP, backend)


def run(backend: str, spec: ConvSpec, operands: list[np.ndarray], timeout: float) -> np.ndarray:
    """``adapters.get(backend).run(spec, *operands)`` in the backend's worker; WorkerError on any failure."""
    return run_adapter(_worker(backend, timeout), backend, spec, operands)

"""Backends whose framework must run in a worker process of its own: Keras fixes its backend when first
imported (``keras_jax``, ``keras_torch``), and PaddlePaddle 3.3.1 crashes its process (SIGSEGV) when imported after TensorFlow 2.21 (the other
order works). :class:`InWorker` runs an in-process adapter, named ``module:ATTRIBUTE``, in an adapter worker
under this interpreter (``workers/adapter_worker.py``, the one ``--isolate`` uses), reused across cases;
every declaration is the inner adapter's own (its module imports no framework)."""
from __future__ import annotations

import importlib
from functools import cache, cached_property

import numpy as np

from parity.adapters.base import Adapter, accumulation, known_deviation
from parity.adapters.legacy import worker
from parity.core.spec import ConvSpec

STARTUP = 60.0  # extra seconds for a worker's first case: importing the framework


class InWorker:
    """Backend ``name``: the adapter ``inner`` (``module:ATTRIBUTE``) run in its own worker process."""

    def __init__(self, name: str, inner: str, opt_in: str = "") -> None:
        self.name, self.inner, self.opt_in = name, inner, opt_in

    @cached_property
    def _adapter(self) -> Adapter:
        module, _, attribute = self.inner.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def available(self) -> str | None:
        return self._adapter.available()

    def supports(self, spec: ConvSpec) -> str | None:
        return self._adapter.supports(spec)

    def accumulation(self, spec: ConvSpec) -> str:
        return accumulation(self._adapter, spec)

    def known(self, spec: ConvSpec) -> str | None:
        return known_deviation(self._adapter, spec) or None

    def __getattr__(self, name: str):
        """Anything else the inner adapter offers (what it reports about the framework, in this process)."""
        if name.startswith("__") or name == "_adapter":
            raise AttributeError(name)
        return getattr(self._adapter, name)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        operands = [a for a in (x, w, dy) if a is not None]
        return worker.run_adapter(_worker(self.inner), self.inner, spec, operands)


@cache
def _worker(inner: str) -> worker.Worker:
    """One worker per inner adapter and process."""
    return worker.adapter_worker(worker.default_timeout(), STARTUP)

"""Keras 3 on JAX and on PyTorch (backends ``keras_jax``, ``keras_torch``), each in its own worker process.

Keras fixes its backend when it is first imported (``KERAS_BACKEND``), and the in-process ``keras``
adapter imports it on TensorFlow. So these backends run the same layers as that adapter (its ``_layer``,
built with ``use_bias=False`` and given the case's kernel by ``set_weights`` in Keras' layouts) in a worker
process of their own: the worker ``--isolate`` uses (``workers/adapter_worker.py`` under this interpreter, run by
:func:`parity.adapters.legacy.worker.adapter_worker`), asked to run :data:`JAX` or :data:`TORCH` below,
which set ``KERAS_BACKEND`` before their first ``import keras``.

The case's layout goes to the layer's ``data_format`` as it is: neither backend has TensorFlow's CPU
limits on channels-first data. Gradients: JAX through ``layer.stateless_call`` under ``jax.vjp``, jitted
as Keras' own JAX trainer does; PyTorch through ``torch.autograd.grad`` with respect to the input or the
kernel's ``torch.nn.Parameter``. Both run on the CPU (Keras would take a GPU where it sees one). JAX runs
with ``jax_enable_x64`` (without it, JAX turns float64 into float32, and Keras' float64 layers with it).
"""
from __future__ import annotations

import os
import sys
from functools import cache
from types import ModuleType

import numpy as np

from parity.adapters import keras as keras_tf
from parity.adapters.base import PROBE, missing_module
from parity.core.collector import paused
from parity.core.spec import ConvSpec



@cache
def _keras(backend: str) -> ModuleType:
    """Keras on ``backend``; only in a process that has not imported Keras yet (a worker)."""
    with paused():
        if "keras" not in sys.modules:
            os.environ["KERAS_BACKEND"] = backend
            # On the CPU: Keras takes the first GPU it sees (torch: KERAS_TORCH_DEVICE overrides it).
            os.environ["KERAS_TORCH_DEVICE"] = "cpu"
            if backend == "jax":
                import jax

                jax.config.update("jax_platforms", "cpu")
                jax.config.update("jax_enable_x64", True)
        import keras

    if keras.backend.backend() != backend:
        raise RuntimeError(f"Keras was imported on {keras.backend.backend()} in this process before the "
                           f"keras_{backend} backend could choose {backend}: it must run in its own worker")
    return keras


def available(backend: str) -> str | None:
    """Why Keras on ``backend`` cannot run here (pip extra ``keras-<backend>``), else None."""
    extra = f"keras-{backend}"
    return missing_module("keras", extra) or missing_module(backend, extra)


def supports(spec: ConvSpec) -> str | None:
    """What the Keras layer API refuses whatever the backend (as the ``keras`` adapter declares)."""
    return keras_tf._padding_reason(spec) or keras_tf._layer_reason(spec)


def accumulation(spec: ConvSpec) -> str:
    """16-bit cases: measured by the runner (``PROBE``): what the backend's CPU kernels sum in."""
    return PROBE if spec.dtype in ("float16", "bfloat16") else spec.dtype


class KerasInWorker:
    """The adapter the worker runs: Keras on ``backend`` in this process."""

    def __init__(self, backend: str) -> None:
        self.backend, self.name = backend, f"keras_{backend}"
        self.frameworks = ("keras", backend) + (("jaxlib",) if backend == "jax" else ())

    def settings(self) -> dict[str, object]:
        return {"keras_backend": self.backend}

    def available(self) -> str | None:
        return available(self.backend)

    def supports(self, spec: ConvSpec) -> str | None:
        return supports(spec)

    def accumulation(self, spec: ConvSpec) -> str:
        return accumulation(spec)

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        keras = _keras(self.backend)
        dims = keras_tf.dimensions(spec, spec.layout)
        layer = keras_tf._layer(spec)
        layer.build(dims.data_from_canonical(x).shape)
        layer.set_weights([dims.kernel_from_canonical(w, spec.groups)])
        data, cotangent = (None if a is None else keras.ops.convert_to_tensor(np.ascontiguousarray(
            dims.data_from_canonical(a))) for a in (x, dy))
        result = keras.ops.convert_to_numpy((_jax if self.backend == "jax" else _torch)(spec, layer, data, cotangent))
        return dims.result_to_canonical(result, spec.quantity)


def _jax(spec: ConvSpec, layer, data, cotangent):
    import jax

    def call(inputs, kernel):
        return layer.stateless_call([kernel], [], inputs)[0]

    kernel = layer.kernel.value
    if spec.quantity == "output":
        return jax.jit(call)(data, kernel)
    which = 0 if spec.quantity == "grad_input" else 1
    return jax.jit(lambda a, b, c: jax.vjp(call, a, b)[1](c)[which])(data, kernel, cotangent)


def _torch(spec: ConvSpec, layer, data, cotangent):
    import torch

    if spec.quantity == "output":
        with torch.no_grad():
            return layer(data)
    target = data.requires_grad_() if spec.quantity == "grad_input" else layer.kernel.value
    (grad,) = torch.autograd.grad(layer(data), target, grad_outputs=cotangent)
    return grad


JAX = KerasInWorker("jax")
TORCH = KerasInWorker("torch")

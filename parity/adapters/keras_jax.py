"""Keras 3 on JAX, in its own worker process: see :mod:`parity.adapters._keras_backends`."""
from parity.adapters._keras_backends import KerasWorkerAdapter

ADAPTER = KerasWorkerAdapter("jax")

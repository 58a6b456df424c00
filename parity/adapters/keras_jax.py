"""Keras 3 on JAX, in its own worker process: the layers of :mod:`parity.adapters._keras_backends`."""
from parity.adapters._in_worker import InWorker

ADAPTER = InWorker("keras_jax", "parity.adapters._keras_backends:JAX", opt_in=(
    "builds and jit-compiles a Keras layer for every case in its worker (about 0.5 to 1 s a case: the "
    "default tier took 20 min with keras_jax and keras_torch on the 2-core machine)"))

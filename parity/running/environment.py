"""What produced a run: parity, Python, the OS, the CPU and its numerics-relevant flags, thread settings, BLAS,
and the version and numerics switches of each framework a run used. Every report carries it, so that two
runs can be compared with confidence (and a baseline drift can name what changed).

Nothing here imports a framework that the run did not use: ``describe(backends)`` reads only the frameworks
of those backends (which the run has imported already).
"""
from __future__ import annotations

import os
import platform
import warnings
from importlib import metadata
from typing import Any, Callable, Final, Iterable

from parity.core.collector import paused

# CPU flags that change what kernels frameworks pick, and so their rounding.
NUMERIC_FLAGS: Final = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni",
                        "amx_tile", "amx_bf16", "amx_fp16")
THREAD_VARIABLES: Final = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                           "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS", "OPENBLAS_CORETYPE", "XLA_FLAGS")


def describe(backends: Iterable[str] = ()) -> dict[str, Any]:
    """The environment of a run that used ``backends`` (JSON-ready)."""
    return {"parity": _version("parity-conv"), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "machine": platform.machine(), "cpu": cpu(),
            "threads": threads(), "numpy": numpy_build(),
            "frameworks": {name: _framework(name) for name in sorted(set(backends))}}


def cpu() -> dict[str, Any]:
    """Model name and the numerics-relevant flags present (Linux: /proc/cpuinfo)."""
    model, flags = platform.processor() or "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return {"model": model, "flags": [flag for flag in NUMERIC_FLAGS if flag in flags], "cores": os.cpu_count()}


def threads() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"usable_cores": usable, **{name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}}


def numpy_build() -> dict[str, Any]:
    import numpy as np

    blas: dict[str, Any] = {}
    try:
        config = np.show_config(mode="dicts")
        blas = {key: config["Build Dependencies"]["blas"].get(key) for key in ("name", "version")}
    except Exception:  # older numpy: no dict form; the version alone still says a lot
        pass
    return {"version": np.__version__, "blas": blas}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _framework(backend: str) -> dict[str, Any]:
    reader = _READERS.get(backend)
    if reader is None:
        return {"backend": backend}
    try:
        # the first import of the framework is often this one; a framework's warnings about itself (PyTensor's
        # "could not link to a BLAS installation" on reading blas__ldflags) are what the report records
        with paused(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return reader()
    except Exception as error:  # a report must not fail on a framework's introspection
        return {"error": f"{type(error).__name__}: {error}"}


def _torch() -> dict[str, Any]:
    import torch

    return {"version": str(torch.__version__), "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def _tensorflow() -> dict[str, Any]:
    import tensorflow as tf

    return {"version": tf.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 builds since 2.9)"),
            "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def _jax() -> dict[str, Any]:
    import jax

    return {"version": jax.__version__, "backend": jax.default_backend(),
            "default_matmul_precision": str(jax.config.jax_default_matmul_precision)}


def _onnxruntime() -> dict[str, Any]:
    import onnxruntime

    return {"version": onnxruntime.__version__, "onnx": _version("onnx"),
            "graph_optimization": "ORT_ENABLE_ALL (the default; the adapter sets none)"}


def _keras() -> dict[str, Any]:
    import keras

    return {"version": keras.__version__, "backend": keras.backend.backend(), "tensorflow": _version("tensorflow-cpu")
            or _version("tensorflow")}


def _pytensor() -> dict[str, Any]:
    import pytensor

    return {"version": pytensor.__version__, "blas_ldflags": pytensor.config.blas__ldflags}


def _legacy(name: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        from parity.adapters.legacy import envs

        environment = envs.environment(name)
        return {"packages": list(environment.packages), "python": environment.python,
                "built": envs.missing(name) is None}
    return read


_READERS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    "numpy": lambda: {"version": _version("numpy")}, "torch": _torch, "tensorflow": _tensorflow, "jax": _jax,
    "onnxruntime": _onnxruntime, "keras": _keras, "pytensor": _pytensor,
    "tf1": _legacy("tf1"), "tflearn": _legacy("tf1"), "theano": _legacy("theano"),
}


def headline(environment: dict[str, Any]) -> str:
    """One line for a terminal header: versions and the CPU flags that matter."""
    frameworks = ", ".join(f"{name} {info.get('version', '')}".strip() for name, info in environment["frameworks"].items())
    cpu_info = environment["cpu"]
    return (f"parity {environment['parity']}, Python {environment['python']}, {environment['os']}; "
            f"{cpu_info['model'] or environment['machine']} ({' '.join(cpu_info['flags']) or 'no AVX-512/AMX'}); "
            f"{frameworks}")

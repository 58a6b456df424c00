"""What produced a run: parity, Python, the OS, the CPU and its numerics-relevant flags, thread settings, BLAS,
and the version and numerics switches of each framework a run used. Every report carries it, so that two
runs can be compared with confidence (and a baseline drift can name what changed).

Nothing here imports a framework that the run did not use: ``describe(backends)`` reads only the frameworks
of those backends (which the run has imported already).
"""
from __future__ import annotations


import os
import platform
import re
import site
import sys
import warnings
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Final, Iterable

from parity.adapters._probes import import_tensorflow, quiet_import
from parity.core import files
from parity.core.collector import paused

# CPU flags that change what kernels frameworks pick, and so their rounding.
NUMERIC_FLAGS: Final = ("avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni",
                        "amx_tile", "amx_bf16", "amx_fp16")
THREAD_VARIABLES: Final = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                           "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS", "OPENBLAS_CORETYPE", "XLA_FLAGS")


def describe(backends: Iterable[str] = (), isolate: float | None = None) -> dict[str, Any]:
    """The environment of a run that used ``backends`` (JSON-ready); ``isolate``: the per-case timeout of a
    run whose backends ran in worker processes (reproducers isolate too: a backend that hangs or aborts)."""
    return {"parity": _version("parity-conv"), "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "machine": platform.machine(), "cpu": cpu(),
            "threads": threads(), "numpy": numpy_build(), **_recordings(),
            **({"isolate": isolate} if isolate else {}),
            "frameworks": {name: _framework(name) for name in sorted(set(backends))}}


def _recordings() -> dict[str, str]:
    """The folder of recordings the run replayed (its ``recorded-`` cases and the ``recorded`` backend), if
    any: reproducers name it again."""
    from parity.adapters.legacy import recordings

    try:
        where = recordings.folder()
    except ValueError:  # a bad $PARITY_RECORDED is the run's error to report, not the environment's
        return {}
    return {"recordings": str(where.resolve())} if where else {}


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
    """What ``backend`` ran on: the versions of its distributions, its adapter's settings, and its framework's
    numerics switches (or the legacy environment's packages)."""
    from parity import adapters

    try:
        # the first import of the framework is often this one; a framework's warnings about itself (PyTensor's
        # "could not link to a BLAS installation" on reading blas__ldflags) are what the report records
        with paused(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adapter = adapters.get(backend)
            found = {"versions": _versions(backend, getattr(adapter, "frameworks", None)),
                     "settings": _settings(adapter), "source": source(backend), **_READERS.get(backend, dict)()}
    except Exception as error:  # a report must not fail on a framework's introspection
        return {"error": f"{type(error).__name__}: {error}"}
    return {key: value for key, value in found.items() if value not in ({}, None)}


def _settings(adapter: object) -> dict[str, Any]:
    """The adapter's ``settings()`` as plain JSON (a numpy or torch scalar becomes its Python value, anything
    else JSON cannot hold its text), or ``{"error": ...}`` saying what went wrong: the reports must be written
    whatever an adapter returns."""
    settings = getattr(adapter, "settings", None)
    if settings is None:
        return {}
    try:
        found = settings()
    except Exception as error:
        return {"error": f"settings() raised {type(error).__name__}: {error}"}
    if not isinstance(found, dict):
        return {"error": f"settings() must return a dict, got {type(found).__name__}"}
    return _plain(found)


def _plain(value: Any) -> Any:
    """``value`` as JSON types: dict keys as text, a scalar with ``item()`` as its Python value, a non-finite
    float as "inf" / "nan" (as reports store them), anything else as its text."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if not isinstance(value, (bool, int, float, str, type(None))) and callable(getattr(value, "item", None)):
        try:
            value = value.item()
        except Exception:
            return str(value)
    return files.json_float(value) if isinstance(value, (bool, int, float, str, type(None))) else str(value)


def source(backend: str) -> str | None:
    """For a ``module:ATTRIBUTE`` backend imported from outside the installed packages (a one-off adapter found
    through PYTHONPATH or the working directory): the folder to put on PYTHONPATH to import it again; else None."""
    module = sys.modules.get(backend.partition(":")[0]) if ":" in backend else None
    origin = getattr(module, "__file__", None)
    if origin is None:
        return None
    depth = backend.count(".", 0, backend.index(":")) + origin.endswith("__init__.py")
    root = Path(origin).resolve().parents[depth]
    installed = site.getsitepackages() + [site.getusersitepackages()]
    return None if any(root == Path(p).resolve() for p in installed) else str(root)


def _versions(backend: str, modules: tuple[str, ...] | None) -> dict[str, str | None]:
    """Distribution -> version of the distributions providing ``modules`` (read from their metadata: nothing
    is imported); without ``modules``, those of the package the adapter comes from (an entry point, or the
    module of ``module:ATTRIBUTE``)."""
    from parity import adapters

    if modules is not None and (isinstance(modules, str) or not all(isinstance(m, str) for m in modules)):
        raise ValueError(f"frameworks must be a tuple of module names, got {modules!r}")  # ("numpy") is a str
    if modules is None:
        point = adapters.plugins().get(backend)
        if point is not None and point.dist is not None:
            return {point.dist.name: point.dist.version}
        modules = (backend.partition(":")[0].split(".")[0],) if ":" in backend else ()
    return {_canonical(name): _version(name) for module in modules for name in _distributions().get(module, ())}


def _canonical(distribution: str) -> str:
    """A distribution's name as pip spells it (PEP 503: ``tensorflow_cpu`` -> ``tensorflow-cpu``)."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


@cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _torch() -> dict[str, Any]:
    import torch

    return {"threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32}


def _tensorflow() -> dict[str, Any]:
    tf = import_tensorflow()  # its oneDNN notice, where this is the first import

    return {"onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 builds since 2.9)"),
            "tf32": tf.config.experimental.tensor_float_32_execution_enabled(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}


def _jax() -> dict[str, Any]:
    import jax

    return {"backend": jax.default_backend(),
            "default_matmul_precision": str(jax.config.jax_default_matmul_precision)}


def _keras() -> dict[str, Any]:
    keras = quiet_import("keras")

    return {"backend": keras.backend.backend()}


def _pytensor() -> dict[str, Any]:
    import pytensor

    return {"blas_ldflags": pytensor.config.blas__ldflags}


def _legacy(name: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        from parity.adapters.legacy import envs

        environment = envs.environment(name)
        return {"packages": list(environment.packages), "python": environment.python,
                "built": envs.missing(name) is None}
    return read


# Numerics switches read from the framework itself (imported by the run already).
_READERS: Final[dict[str, Callable[[], dict[str, Any]]]] = {
    **dict.fromkeys(("torch", "torch_compile", "torch_cuda", "torch_cuda_tf32"), _torch),
    **dict.fromkeys(("tensorflow", "tensorflow_xla"), _tensorflow),
    **dict.fromkeys(("jax", "jax_gpu", "jax_gpu_default"), _jax), "keras": _keras, "pytensor": _pytensor,
    "tf1": _legacy("tf1"), "tflearn": _legacy("tf1"), "theano": _legacy("theano"),
}


def headline(environment: dict[str, Any]) -> str:
    """One line for a terminal header: versions and the CPU flags that matter (fields a report lacks are left
    out)."""
    frameworks = ", ".join(_versioned(name, info) for name, info in environment.get("frameworks", {}).items())
    cpu_info = environment.get("cpu", {})
    return (f"parity {environment.get('parity')}, Python {environment.get('python')}, {environment.get('os')}; "
            f"{cpu_info.get('model') or environment.get('machine')} "
            f"({' '.join(map(str, cpu_info.get('flags', []))) or 'no AVX-512/AMX'}); {frameworks}")


def _versioned(backend: str, info: Any) -> str:
    """``torch 2.13.0`` where the backend is named after its distribution, else ``mine (scipy 1.17.1)``: the
    version is the distribution's, not the backend's."""
    versions = info.get("versions", {}) if isinstance(info, dict) else {}
    distribution, version = next(iter(versions.items()), ("", None))
    if not version:
        return backend
    plain = _canonical(distribution).startswith(_canonical(backend))  # tensorflow on tensorflow-cpu
    return f"{backend} {version}" if plain else f"{backend} ({distribution} {version})"

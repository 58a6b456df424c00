"""GPU support shared by the CUDA backends: whether a device is visible, the framework's numerics switches
for one call, and the determinism check for gradients. (Modules whose name starts with an underscore are
helpers, not backends.)"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from types import ModuleType
from typing import Callable, Iterator

import numpy as np


def cuda_missing(framework: str) -> str | None:
    """None if ``framework`` ("torch" or "jax") sees a CUDA device, else why not. On Linux a machine without
    the NVIDIA driver is told apart without importing the framework."""
    if sys.platform.startswith("linux") and not os.path.exists("/dev/nvidiactl"):
        return "no NVIDIA GPU on this machine (/dev/nvidiactl is missing)"
    if framework == "torch":
        import torch

        if not torch.cuda.is_available():
            return f"no CUDA device visible to PyTorch {torch.__version__} (torch.cuda.is_available() is False)"
        return None
    import jax

    try:
        jax.devices("gpu")
    except RuntimeError as error:
        return f"no CUDA device visible to JAX {jax.__version__}: {str(error).splitlines()[0]}"
    return None


@contextmanager
def cuda_switches(torch: ModuleType, tf32: bool | None, deterministic: bool) -> Iterator[None]:
    """cuDNN/cuBLAS TF32 and cuDNN determinism for the duration of one call (None: leave TF32 as it is)."""
    matmul = torch.backends.cuda.matmul
    saved = matmul.allow_tf32
    allow = torch.backends.cudnn.allow_tf32 if tf32 is None else tf32
    try:
        if tf32 is not None:
            matmul.allow_tf32 = tf32
        with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=deterministic, allow_tf32=allow):
            yield
    finally:
        matmul.allow_tf32 = saved


def spread(first: np.ndarray, second: np.ndarray) -> tuple[int, int]:
    """(elements whose bits differ, the largest ULP distance) between two runs of one computation."""
    from parity.verdict.ulp import ulp_distance

    differ = first.view(np.uint8).reshape(first.size, -1) != second.view(np.uint8).reshape(second.size, -1)
    count = int(differ.any(axis=1).sum()) if first.size else 0
    return count, int(ulp_distance(first, second).max(initial=0)) if count else 0


def require_identical(run: Callable[[], np.ndarray]) -> np.ndarray:
    """``run()`` twice; ``RuntimeError`` with the spread unless the two results are bit-identical."""
    first, second = run(), run()
    count, ulps = spread(first, second)
    if count:
        raise RuntimeError(f"not deterministic with deterministic algorithms on: two runs differ in {count} of "
                           f"{first.size} elements, by up to {ulps} ULP")
    return first

"""GPU backends (torch_cuda, torch_cuda_tf32, jax_gpu, jax_gpu_default): on a machine without CUDA they are
unavailable with the reason and never run; the determinism and switch logic is checked with fakes; on a
machine with a CUDA device the last tests run the real thing."""
from __future__ import annotations

import contextlib
import re
from types import SimpleNamespace

import numpy as np
import pytest

import parity
from parity import adapters
from parity.adapters import _device as device
from parity.running.registry import Case
from parity.running.runner import CaseRun

GPU = ("torch_cuda", "torch_cuda_tf32", "jax_gpu", "jax_gpu_default")


def _cuda_present() -> bool:
    return adapters.get("torch_cuda").available() is None if adapters.get("torch").available() is None else False


@pytest.mark.parametrize("name", GPU)
def test_gpu_backends_are_listed_and_unavailable_without_cuda(name):
    assert name in adapters.names()
    if _cuda_present():
        pytest.skip("this machine has a CUDA device")
    reason = adapters.get(name).available()
    assert reason and ("GPU" in reason or "CUDA" in reason or "not installed" in reason)
    assert name not in adapters.installed()


def test_require_identical_returns_a_deterministic_result_and_names_the_spread():
    same = np.array([1.0, -0.0, 2.5], np.float32)
    assert device.require_identical(lambda: same.copy()) is not None
    outputs = iter([np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, np.nextafter(np.float32(2), 3), 3.0],
                                                                      np.float32)])
    with pytest.raises(RuntimeError, match=r"differ in 1 of 3 elements, by up to 1 ULP"):
        device.require_identical(lambda: next(outputs))


def test_spread_counts_bit_differences_even_where_values_are_equal():
    assert device.spread(np.array([0.0, 1.0]), np.array([-0.0, 1.0])) == (1, 0)
    assert device.spread(np.array([1.0], np.float16), np.array([1.0], np.float16)) == (0, 0)


def _fake_torch():
    seen = {}

    @contextlib.contextmanager
    def flags(**kwargs):
        seen.update(kwargs)
        yield

    backends = SimpleNamespace(cuda=SimpleNamespace(matmul=SimpleNamespace(allow_tf32=True)),
                               cudnn=SimpleNamespace(allow_tf32=True, flags=flags))
    return SimpleNamespace(backends=backends), seen


@pytest.mark.parametrize("tf32, deterministic", [(False, True), (None, False), (True, False)])
def test_cuda_switches_set_tf32_and_determinism_for_one_call_only(tf32, deterministic):
    torch, seen = _fake_torch()
    with device.cuda_switches(torch, tf32, deterministic):
        assert torch.backends.cuda.matmul.allow_tf32 is (True if tf32 is None else tf32)
    assert seen == {"enabled": True, "benchmark": False, "deterministic": deterministic,
                    "allow_tf32": True if tf32 is None else tf32}
    assert torch.backends.cuda.matmul.allow_tf32 is True  # restored


def test_device_check_without_the_driver_imports_no_framework(monkeypatch):
    monkeypatch.setattr(device.os.path, "exists", lambda path: False)
    monkeypatch.setattr(device.sys, "platform", "linux")
    assert device.cuda_missing("jax") == "no NVIDIA GPU on this machine (/dev/nvidiactl is missing)"


def _canaries_f32() -> list[Case]:
    """The default tier's float32 canary cases: integer data whose float32 sums are exact, so that any
    rounding of the inputs or transform of the data shows."""
    return [c for c in parity.collect("default") if c.spec.dtype == "float32" and c.spec.distribution == "canary"]


def _kernels(backend: str, run: CaseRun) -> list[str]:
    """The names of the CUDA kernels one call of ``backend`` runs on the case (torch's profiler reads them
    through CUPTI, whichever library launched them: JAX's too), after a warm-up call (JIT, autotuning)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    adapter, operands = adapters.get(backend), [a for a in run.inputs if a is not None]
    adapter.run(run.case.spec, *operands)
    with profile(activities=[ProfilerActivity.CUDA]) as profiled:
        adapter.run(run.case.spec, *operands)
        torch.cuda.synchronize()
    return [event.key for event in profiled.key_averages()]


_TRANSFORMED = re.compile(r"fft|winograd", re.IGNORECASE)  # algorithms that do not sum the products as they are
_gpu = pytest.mark.skipif(not _cuda_present(), reason="no CUDA device visible to PyTorch")


def _usable(backend: str) -> None:
    """Skip unless ``backend`` runs here (torch may see the GPU while JAX is a CPU build)."""
    reason = adapters.get(backend).available()
    if reason:
        pytest.skip(reason)


@_gpu
@pytest.mark.parametrize("backend", ["torch_cuda", "jax_gpu"])
def test_on_a_gpu_the_strict_backends_fail_only_where_cudnn_transforms_the_data(backend):
    """TF32 off, the strict backends are exact on the float32 canaries except where cuDNN computes the conv by
    FFT or Winograd, whose rounding follows the whole signal's size, not each sum's: measured on an H200
    (cuDNN 9.19: fft2d_r2c_16x16 on the NCHW 3x3 layer of 512 channels). Which cases those are depends on the
    GPU, cuDNN and XLA, so every failure must show such a kernel, and something must pass."""
    _usable(backend)
    statuses = []
    for case in _canaries_f32():
        run = CaseRun(case)
        result = run.against_reference(backend)
        statuses.append(result.status)
        if result.status == "fail":
            names = _kernels(backend, run)
            assert any(_TRANSFORMED.search(name) for name in names), (case.id, result.reason, names)
    assert "pass" in statuses


@_gpu
@pytest.mark.parametrize("backend", ["torch_cuda_tf32", "jax_gpu_default"])
def test_on_a_gpu_tf32_kernels_are_fingerprinted(backend):
    """With the frameworks' defaults, a float32 canary case that a TF32 kernel computed (its name says tf32)
    without FFT or Winograd fails with one of the TF32 fingerprints; on a GPU with TF32 (compute capability
    8.0 and up) there is at least one (9 of 13 on the H200). An older GPU runs no such kernel."""
    import torch

    _usable(backend)
    checked = 0
    for case in _canaries_f32():
        run = CaseRun(case)
        result = run.against_reference(backend)
        if result.status != "fail":
            continue
        names = _kernels(backend, run)
        if any("tf32" in name for name in names) and not any(_TRANSFORMED.search(name) for name in names):
            assert (result.fingerprint or "").startswith("TF32 inputs"), (case.id, result.fingerprint, names)
            checked += 1
    assert checked or torch.cuda.get_device_capability() < (8, 0)

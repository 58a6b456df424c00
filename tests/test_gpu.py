"""GPU backends (torch_cuda, torch_cuda_tf32, jax_gpu, jax_gpu_default): on a machine without CUDA they are
unavailable with the reason and never run; the determinism and switch logic is checked with fakes; on a
machine with a CUDA device the last tests run the real thing."""
from __future__ import annotations

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest

from parity import adapters
from parity.adapters import _device as device
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.core.spec import ConvSpec

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


def _canary_f32() -> Case:
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=256, out_channels=64, padding="SAME", distribution="canary")
    return Case(spec.slug(), spec)


@pytest.mark.skipif(not _cuda_present(), reason="no CUDA device visible to PyTorch")
def test_on_a_gpu_tf32_is_fingerprinted_and_the_strict_backend_passes():
    run = CaseRun(_canary_f32())
    assert run.against_reference("torch_cuda").status == "pass"
    tf32 = run.against_reference("torch_cuda_tf32")
    if tf32.fingerprint != "correctly rounded":  # pre-Ampere GPUs have no TF32
        assert (tf32.status, tf32.fingerprint) == ("fail", "TF32 inputs")

"""Backend-specific paths of the torch and TensorFlow adapters (skipped where the framework is absent)."""
import numpy as np
import pytest

import parity
from parity import adapters
from parity.core.spec import ConvSpec


def test_missing_framework_is_a_skip_with_reason(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    for name in ("torch", "tensorflow"):
        reason = adapters.get(name).available()
        assert reason and name in reason and "pip install" in reason


@pytest.mark.parametrize("spec, expected", [
    (ConvSpec(spatial=(8, 8), kernel=4, padding="SAME"), "same"),  # native, even kernel: extra at the end
    (ConvSpec(spatial=(8, 8), kernel=3, padding="VALID", strides=2), (0, 0)),
    (ConvSpec(spatial=(8,), kernel=3, padding="FULL"), (2,)),
    (ConvSpec(spatial=(9, 9), kernel=4, padding="SAME", strides=2), None),  # (1, 2): needs F.pad
    (ConvSpec(spatial=(8,), kernel=3, padding="CAUSAL"), None),
], ids=["same-s1", "valid-s2", "full", "same-s2-asym", "causal"])
def test_torch_native_padding(spec, expected):
    from parity.adapters.torch import native_padding

    assert native_padding(spec) == expected


@pytest.mark.parametrize("backend", ["torch", "tensorflow"])
@pytest.mark.parametrize("padding", ["SAME", "SAME_LOWER", "FULL", ((2, 1), (0, 3))])
def test_asymmetric_padding_matches_reference(backend, padding):
    pytest.importorskip(backend)
    spec = ConvSpec(spatial=(224, 224), kernel=7, in_channels=3, out_channels=4, strides=2, padding=padding,
                    layout="NHWC")
    x, w = parity.generate(spec)
    y = adapters.get(backend).run(spec, x, w)
    assert y.shape == spec.output_shape
    assert parity.compare(y, parity.exact(spec, x, w), spec.dtype).passed


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("strides", [1, 2])
def test_tensorflow_depthwise_routes(rank, strides):
    pytest.importorskip("tensorflow")
    from parity.adapters.tensorflow import uses_depthwise_op

    spec = ConvSpec(spatial=(9,) * rank, kernel=3, in_channels=3, out_channels=6, groups=3, strides=strides,
                    padding="SAME", layout="channels_last")
    # depthwise_conv2d takes equal strides over its two axes only; rank 1 runs as (1, s).
    assert uses_depthwise_op(spec) == (rank == 2 or strides == 1)
    x, w = parity.generate(spec)
    assert parity.compare(adapters.get("tensorflow").run(spec, x, w), parity.exact(spec, x, w), spec.dtype).passed


def test_torch_bfloat16_round_trip_is_exact():
    pytest.importorskip("torch")
    spec = ConvSpec(spatial=(6, 6), kernel=1, in_channels=1, out_channels=1, dtype="bfloat16", distribution="int")
    x, w = parity.generate(spec)
    y = adapters.get("torch").run(spec, x, w)
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y.astype(np.float64), x.astype(np.float64) * float(w.ravel()[0]))

"""Fingerprints of the arithmetic behind a result, and the canary probe that learns a backend's accumulation."""
from __future__ import annotations

import numpy as np
import pytest

import parity
from parity.core.spec import ConvSpec
from parity.reference.conv import reference
from parity.running.accumulation import probe_images
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.verdict.fingerprint import contradicts, fingerprint, round_to_bits

NUMPY = parity.adapters.get("numpy")


def _canary(dtype, channels=64):
    return ConvSpec(spatial=(7, 7), kernel=3, in_channels=channels, out_channels=8, padding="SAME", dtype=dtype,
                    distribution="canary")


def test_random_data_has_no_fingerprint():
    spec = ConvSpec(spatial=(7, 7), kernel=3, in_channels=4, out_channels=8, dtype="float32")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    assert fingerprint(spec, ref, ref.value.astype(np.float32), [x, w]) is None


def test_a_float64_case_computed_from_float32_inputs_is_named():
    spec = _canary("float64")
    x, w = parity.generate(spec)
    rounded = [round_to_bits(a.astype(np.float64), 24) for a in (x, w)]
    y = reference(spec, *rounded).value
    assert fingerprint(spec, reference(spec, x, w), y, [x, w]) == "float32 inputs"


def test_float16_rounding_of_a_float32_case_is_not_identified():
    spec = _canary("float32")
    x, w = parity.generate(spec)
    rounded = [round_to_bits(a.astype(np.float64), 11) for a in (x, w)]
    y = round_to_bits(reference(spec, *rounded).value, 11).astype(np.float32)
    assert fingerprint(spec, reference(spec, x, w), y, [x, w]) == "not identified"


def test_a_wrong_result_is_not_identified():
    spec = _canary("float32")
    x, w = parity.generate(spec)
    y = reference(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1])).value.astype(np.float32)
    assert fingerprint(spec, reference(spec, x, w), y, [x, w]) == "not identified"


def test_which_fingerprints_contradict_a_declared_accumulation():
    assert not contradicts("float16-taps accumulation", "float16-taps")
    assert not contradicts("correctly rounded", "float32")
    assert contradicts("float16 accumulation", "float32") and contradicts("TF32 inputs", "float32")


@pytest.mark.parametrize("spec, images", [
    (ConvSpec(spatial=(6, 6), kernel=3, in_channels=8, out_channels=4, dtype="float16"), 8),
    (ConvSpec(spatial=(16, 16), kernel=3, in_channels=8, out_channels=4, dtype="float16"), 8),
    (ConvSpec(spatial=(10, 10), kernel=10, dtype="float16"), 40),
    (ConvSpec(spatial=(5,), kernel=3, dtype="float16"), 86),
    (ConvSpec(spatial=(2, 2), kernel=2, dtype="float16", quantity="grad_weight"), 8),
])
def test_the_probe_batch_holds_enough_images(spec, images):
    assert probe_images(spec) == images


class _Canary:
    """PROBE; flipped kernel on the case; on the canary (batch > 1): ``fault``."""

    def __init__(self, fault):
        self.name, self.fault = fault, fault

    def available(self):
        return None

    def supports(self, spec):
        return None

    def accumulation(self, spec):
        return parity.adapters.base.PROBE

    def run(self, spec, x, w, dy=None):
        if self.fault == "inplace":  # float16 sums, then reuses its input buffer
            y = _sixteen(x, w)
            x[...] = 0
            return y
        if spec.batch == 1:
            return NUMPY.run(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1]))
        if self.fault == "raise":
            raise RuntimeError("out of memory")
        if self.fault == "shape":
            return NUMPY.run(spec, x, w)[..., :2]
        return NUMPY.run(spec, x, w)


def _sixteen(x, w):
    total = np.zeros((x.shape[0], w.shape[0], *x.shape[2:]), x.dtype)
    for c in range(x.shape[1]):
        total = (total + np.einsum("nhw,o->nohw", x[:, c].astype(np.float32), w[:, c, 0, 0].astype(np.float32))
                 .astype(x.dtype)).astype(x.dtype)
    return total


@pytest.mark.parametrize("fault", ["raise", "shape"])
def test_a_canary_that_raises_or_misshapes_leaves_the_declared_default(install_backends, fault):
    install_backends({fault: _Canary(fault)})
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=8, out_channels=4, dtype="float16", distribution="sparse")
    result = CaseRun(Case(spec.slug(), spec)).against_reference(fault)
    assert (result.status, result.accumulation) == ("fail", "float32 (probed)")


def test_a_backend_that_overwrites_its_inputs_is_still_probed_right(install_backends):
    install_backends({"inplace": _Canary("inplace")})
    spec = ConvSpec(spatial=(5, 5), kernel=1, in_channels=512, out_channels=4, dtype="float16")
    result = CaseRun(Case(spec.slug(), spec)).against_reference("inplace")
    assert result.accumulation == "float16 (probed)"


def test_an_accumulation_bound_that_a_wrong_result_fits_identifies_nothing():
    """bfloat16 accumulation over 576 terms allows an error of 8.5x the sum of |products| (helper-35: a flipped
    kernel and all zeros were labelled 'bfloat16 accumulation')."""
    spec = _canary("bfloat16")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    flipped = reference(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1])).value.astype(x.dtype)
    for wrong in (flipped, np.zeros_like(flipped)):
        assert fingerprint(spec, ref, wrong, [x, w]) == "not identified"


class _Zeros(_Canary):
    def run(self, spec, x, w, dy=None):
        return np.zeros(spec.result_shape, x.dtype)


def test_a_probe_never_widens_the_bound_to_admit_an_all_zero_result(install_backends):
    install_backends({"zeros": _Zeros("zeros")})
    spec = ConvSpec(spatial=(14, 14), kernel=3, in_channels=64, out_channels=8, padding="SAME", dtype="bfloat16")
    result = CaseRun(Case(spec.slug(), spec)).against_reference("zeros")
    assert (result.status, result.accumulation) == ("fail", "float32 (probed)")


def _one(dtype, xs, ws, output):
    """The fingerprint of ``output`` on a 1x1 conv of one position over ``len(xs)`` channels of integers."""
    spec = ConvSpec(spatial=(1,), kernel=1, in_channels=len(xs), out_channels=1, dtype=dtype, distribution="int")
    x = np.array(xs, np.float64).reshape(spec.input_shape).astype(spec.dtype)
    w = np.array(ws, np.float64).reshape(spec.kernel_shape).astype(spec.dtype)
    return fingerprint(spec, reference(spec, x, w), np.full((1, 1, 1), output, spec.dtype), [x, w])


@pytest.mark.parametrize("dtype, xs, output, label", [
    ("float32", [4097], 4096, "TF32 inputs"),  # bfloat16 rounds 4097 to 4096 too: TF32 is tried first
    ("float64", [2 ** 25 + 5], 2 ** 25 + 4, "float32 inputs"),  # 24 bits (23 would give 2**25 + 8)
    ("float64", [257], 256, "bfloat16 inputs"),
    ("float32", [2 ** 24, 1, 1], 2 ** 24, "not identified"),  # float32 sums are no accumulation label of float32
])
def test_each_input_rounding_is_named_by_its_own_width(dtype, xs, output, label):
    """Cases from mutation testing (helper-37): each entry of the input-rounding table could be reordered,
    narrowed or dropped with every test passing."""
    assert _one(dtype, xs, [1] * len(xs), output) == label

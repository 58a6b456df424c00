"""Discriminating power: bounds stay finite and honest, integer data is exact at any length, a check that
cannot fail is reported as insensitive, and fingerprints name the arithmetic (expectations computed here,
independently of the code under test)."""
from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import conv_oracle

import parity
from parity.adapters.base import PROBE
from parity.running.accumulation import declared, probe_images
from parity.verdict.comparison import FAILURE_PROBABILITY, compare, error_bound, gamma
from parity.verdict.fingerprint import fingerprint, round_to_bits
from parity.core.inputs import integer_plan
from parity.reference.conv import reference
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.core.spec import ConvSpec

NUMPY = parity.adapters.get("numpy")
P = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def _spec(channels: int, dtype: str, distribution: str = "normal", **fields) -> ConvSpec:
    return ConvSpec(spatial=(7, 7), kernel=3, in_channels=channels, out_channels=8, padding="SAME", dtype=dtype,
                    distribution=distribution, **fields)


@pytest.mark.parametrize("n, u", [(36, 2.0 ** -11), (256, 2.0 ** -8), (2304, 2.0 ** -8), (4608, 2.0 ** -11),
                                  (10 ** 7, 2.0 ** -24)])
def test_gamma_is_finite_and_the_smaller_of_worst_case_and_probabilistic(n, u):
    worst = float((1 + Fraction(u)) ** n - 1) if n < 10 ** 5 else math.expm1(n * math.log1p(u))
    lam = math.sqrt(2 * math.log(2 * n / FAILURE_PROBABILITY)) / (1 - u)
    probabilistic = math.exp(lam * math.sqrt(n) * u + n * u * u / (1 - u)) - 1
    assert 2 * n * math.exp(-(lam * (1 - u)) ** 2 / 2) == pytest.approx(FAILURE_PROBABILITY)
    assert math.isfinite(gamma(n, u))
    assert gamma(n, u) == pytest.approx(min(worst, probabilistic), rel=1e-12)


def test_bfloat16_bound_at_resnet_length_is_finite_and_catches_a_flip():
    """At n = 2304 (256 channels x 3x3) n u = 9 in bfloat16: the old gamma_n was infinite."""
    spec = _spec(256, "bfloat16")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    assert np.isfinite(error_bound(ref, "bfloat16", "bfloat16")).all()
    flipped = reference(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1])).value.astype(x.dtype)
    assert compare(flipped, ref, "bfloat16", accumulation="float32").status == "fail"


@pytest.mark.parametrize("dtype", list(P))
@pytest.mark.parametrize("channels", [4, 512])
def test_sparse_integers_are_exact_in_the_dtype_at_any_length(dtype, channels):
    spec = _spec(channels, dtype, "sparse")
    x, w = parity.generate(spec)
    for a in (x, w):
        assert np.array_equal(a.astype(np.float64), np.round(a.astype(np.float64)))
    ref = reference(spec, x, w)
    assert ref.integer_inputs and np.abs(ref.value).max() > 0
    assert (ref.scale <= 2.0 ** P[dtype]).mean() > 0.999  # every partial sum exact in the dtype itself
    assert (error_bound(ref, dtype, dtype) == 0.5 * parity.core.dtypes.ulp(ref.value, dtype)).mean() > 0.999


@pytest.mark.parametrize("dtype, bits", [("float32", 12), ("float64", 25)])
def test_canary_inputs_need_more_bits_than_tf32_and_bfloat16(dtype, bits):
    spec = _spec(256, dtype, "canary")
    x, w = (a.astype(np.float64) for a in parity.generate(spec))
    nonzero = x[x != 0]
    assert (np.abs(nonzero) >= 2 ** (bits - 1)).all() and (np.abs(nonzero) < 2 ** bits).all()
    assert (round_to_bits(nonzero, 11) != nonzero).all() and (round_to_bits(nonzero, 8) != nonzero).all()
    assert reference(spec, x, w).scale.max() <= 2.0 ** P[dtype]  # sums stay exact in the dtype


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("channels", [4, 64, 512])
def test_16bit_canary_sums_pass_the_16bit_integers_but_stay_finite(dtype, channels):
    spec = _spec(channels, dtype, "canary")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    assert (x.astype(np.float64) > 0).all() and (w.astype(np.float64) > 0).all()
    assert np.median(ref.value) > 4 * 2 ** P[dtype]  # float16 accumulation must round on the way
    assert ref.value.max() < 65504 and ref.scale.max() <= 2.0 ** 24
    assert integer_plan(spec).positive


def _sixteen_bit_sum(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A 1x1 conv accumulated term by term in the inputs' 16-bit type."""
    total = np.zeros((x.shape[0], w.shape[0], *x.shape[2:]), x.dtype)
    for c in range(x.shape[1]):
        total = (total + np.einsum("nhw,o->nohw", x[:, c].astype(np.float32), w[:, c, 0, 0].astype(np.float32))
                 .astype(x.dtype)).astype(x.dtype)
    return total


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fingerprint_names_16bit_accumulation_and_correct_rounding(dtype):
    spec = ConvSpec(spatial=(5, 5), kernel=1, in_channels=512, out_channels=4, dtype=dtype, distribution="canary")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    assert fingerprint(spec, ref, ref.value.astype(x.dtype), [x, w]) == "correctly rounded"
    short = _sixteen_bit_sum(x, w)
    assert fingerprint(spec, ref, short, [x, w]) == f"{dtype} accumulation"
    assert compare(short, ref, dtype, accumulation="float32").status == "fail"


@pytest.mark.parametrize("bits, label", [(11, "TF32 inputs"), (8, "bfloat16 inputs")])
def test_fingerprint_names_rounded_inputs(bits, label):
    spec = _spec(64, "float32", "canary")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    rounded = [round_to_bits(a.astype(np.float64), bits) for a in (x, w)]
    y = reference(spec, *rounded).value.astype(np.float32)
    assert fingerprint(spec, ref, y, [x, w]) == label
    assert compare(y, ref, "float32").status == "fail"


@pytest.mark.parametrize("rounding, expected", [("even", [2048, 2052, -2048, 2047, 0.5]),
                                                ("away", [2050, 2052, -2050, 2047, 0.5]),
                                                ("zero", [2048, 2050, -2048, 2047, 0.5])])
def test_round_to_bits_rounds_ties_and_truncates_as_asked(rounding, expected):
    """11 significant bits: 2049 and -2049 are ties, 2051 a tie whose even neighbour is above."""
    got = round_to_bits(np.array([2049.0, 2051.0, -2049.0, 2047.0, 0.5]), 11, rounding)
    assert got.tolist() == expected


@pytest.mark.parametrize("rounding, bits", [("nearest", 11), ("even", 53), ("away", 0)])
def test_round_to_bits_refuses_what_it_cannot_do(rounding, bits):
    with pytest.raises(ValueError, match=f"rounding of even, away or zero and 1 to 52 bits, got '{rounding}' and {bits}"):
        round_to_bits(np.array([1.0]), bits, rounding)


@pytest.mark.parametrize("rounding, label", [("away", "TF32 inputs, ties away"), ("zero", "TF32 inputs, truncated")])
def test_fingerprint_names_tf32_inputs_rounded_the_other_ways(rounding, label):
    """A GPU kernel may convert float32 data to TF32 by PTX's cvt.rna (ties away) or let the tensor cores drop
    the low bits: each is its own label, and the canary data tells the three roundings apart."""
    spec = _spec(64, "float32", "canary")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    wide = [a.astype(np.float64) for a in (x, w)]
    rounded = [round_to_bits(a, 11, rounding) for a in wide]
    assert any(not np.array_equal(r, round_to_bits(a, 11)) for r, a in zip(rounded, wide))
    y = reference(spec, *rounded).value.astype(np.float32)
    assert fingerprint(spec, ref, y, [x, w]) == label
    assert compare(y, ref, "float32").status == "fail"


def test_fingerprint_names_bfloat16_arithmetic_behind_a_float16_result_and_the_probe_keeps_float32(install_backends):
    """OpenVINO 2026.4 on a CPU with bf16 but no fp16 arithmetic: a float16 conv gets bf16 inputs and a bf16
    output. That is no 16-bit accumulation: the probe must not widen the bound for it."""
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=64, out_channels=4, dtype="float16", distribution="canary")
    x, w = parity.generate(spec)
    ref = reference(spec, x, w)
    exact = reference(spec, *(round_to_bits(a.astype(np.float64), 8) for a in (x, w))).value
    y = round_to_bits(exact, 8).astype(np.float16)
    assert fingerprint(spec, ref, y, [x, w]) == "bfloat16 inputs and output"

    class Bf16Kernels(_Declares):
        def accumulation(self, spec):
            return PROBE

        def run(self, spec, x, w, dy=None):
            rounded = (round_to_bits(a.astype(np.float64), 8) for a in (x, w))
            return round_to_bits(reference(spec, *rounded).value, 8).astype(spec.dtype)

    backend = install_backends({"bf16": Bf16Kernels("probe")})["bf16"]
    assert declared("bf16", backend, replace(spec, distribution="normal"), None) == ("float32", True)


def test_round_to_bits_ties_to_even():
    values = np.array([2049.0, 2051.0, 2050.0, -2049.0, 1.5, 0.0])
    np.testing.assert_array_equal(round_to_bits(values, 11), [2048.0, 2052.0, 2050.0, -2048.0, 1.5, 0.0])


class _Declares:
    """numpy's result, declaring a given accumulation type."""

    def __init__(self, accumulation: str) -> None:
        self.name, self.summed_in = f"declares-{accumulation}", accumulation

    def available(self):
        return None

    def supports(self, spec):
        return None

    def accumulation(self, spec):
        return self.summed_in

    def run(self, spec, x, w, dy=None):
        return NUMPY.run(spec, x, w)


def test_a_bound_that_admits_a_flipped_kernel_is_insensitive(install_backends):
    """Declaring float16 accumulation at n = 4608 on normal data widens the bound past a flipped kernel:
    the comparison could not have failed, so it is not a pass."""
    install_backends({"wide": _Declares("float16"), "narrow": _Declares("float32")})
    spec = _spec(512, "float16")
    run = CaseRun(Case(spec.slug(), spec))
    wide, narrow = run.against_reference("wide"), run.against_reference("narrow")
    assert (wide.status, narrow.status) == ("insensitive", "pass")
    assert "kernel flipped" in wide.reason or "padding shifted" in wide.reason
    assert wide.accumulation == "float16" and narrow.accumulation == "float32"


class _CopiesLastChannel(_Declares):
    """numpy's result with its last output channel a copy of the one before, declaring bfloat16 sums."""

    def run(self, spec, x, w, dy=None):
        y = NUMPY.run(spec, x, w)
        y[:, -1] = y[:, -2]  # the spec's layout is channels-first below
        return y


def test_a_bound_that_rejects_every_mutant_by_a_little_passes_only_a_result_far_closer_to_the_truth(install_backends):
    """bfloat16 sums declared over 256 terms: the bound rejects a flipped kernel by 1.2x only, so a result with
    one output channel copied (1/128 of the output wrong) fits it; it is insensitive, the correct one passes
    (helper-22's WaveNet layer)."""
    install_backends({"copies": _CopiesLastChannel("bfloat16"), "right": _Declares("bfloat16")})
    spec = ConvSpec(spatial=(64,), kernel=2, dilations=8, padding="CAUSAL", in_channels=128, out_channels=128,
                    dtype="bfloat16", layout="NCW")
    run = CaseRun(Case(spec.slug(), spec))
    copies, right = run.against_reference("copies"), run.against_reference("right")
    assert (copies.status, copies.bound_ratio <= 1, right.status) == ("insensitive", True, "pass"), copies.reason
    assert copies.reason.startswith("insensitive: this bound rejects a reference with the ") and \
        "and the result is not 10 times closer to what it is compared with" in copies.reason


def test_integer_cases_stay_sensitive_under_16bit_accumulation(install_backends):
    install_backends({"wide": _Declares("float16")})
    spec = _spec(512, "float16", "sparse")
    assert CaseRun(Case(spec.slug(), spec)).against_reference("wide").status == "pass"


class _Probed:
    """Declares PROBE; sums channels in the 16-bit type (``short``), flips the kernel (``flipped``), adds the
    kernel taps one by one in float16, products exact (``tapwise``, from the independent loops of conv_oracle),
    or is numpy (``none``)."""

    def __init__(self, fault: str) -> None:
        self.name, self.fault = f"probed-{fault}", fault

    def available(self):
        return None

    def supports(self, spec):
        return None

    def accumulation(self, spec):
        return parity.adapters.base.PROBE

    def run(self, spec, x, w, dy=None):
        if self.fault == "short":
            return _sixteen_bit_sum(x, w)
        if self.fault == "tapwise":
            return _tap_by_tap(spec, x, w)
        if self.fault == "none":
            return NUMPY.run(spec, x, w)
        return NUMPY.run(spec, x, np.ascontiguousarray(w[:, :, ::-1, ::-1]))


def test_probe_declares_what_the_canary_shows_and_never_excuses_a_wrong_result(install_backends):
    install_backends({"short": _Probed("short"), "flipped": _Probed("flipped")})
    spec = ConvSpec(spatial=(5, 5), kernel=1, in_channels=512, out_channels=4, dtype="float16")
    run = CaseRun(Case(spec.slug(), spec))
    assert run.against_reference("short").accumulation == "float16 (probed)"
    three = ConvSpec(spatial=(6, 6), kernel=3, in_channels=8, out_channels=4, dtype="float16", distribution="sparse")
    flipped = CaseRun(Case(three.slug(), three)).against_reference("flipped")
    assert flipped.accumulation == "float32 (probed)" and flipped.status == "fail"


def _tap_by_tap(spec: ConvSpec, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = np.zeros(spec.output_shape, np.float16)
    for tap in np.ndindex(*spec.kernel):
        one = np.zeros(w.shape)
        one[(..., *tap)] = w[(..., *tap)]
        term = conv_oracle.forward(x, one, spec.strides, spec.pads, spec.dilations)
        total = (total.astype(np.float64) + term).astype(np.float16)
    return total


def test_probe_finds_float16_taps_on_a_two_tap_case_with_one_result_per_image(install_backends):
    """Two taps rounded one by one differ from one rounding on about 1 in 5 results: eight canary images of
    one result each showed nothing for keras 3.15 on this geometry; the canary now has 256."""
    backend = install_backends({"tapwise": _Probed("tapwise")})["tapwise"]
    spec = ConvSpec(spatial=(1, 1, 3), kernel=(1, 1, 2), dilations=(1, 1, 2), padding="VALID", dtype="float16")
    assert probe_images(spec) == 256
    assert declared("tapwise", backend, spec, None) == ("float16-taps", True)


def test_a_passing_result_whose_fingerprint_names_16_bit_sums_is_judged_under_the_probe(install_backends,
                                                                                       monkeypatch):
    """A comparison that passes under the stated float32 is still redone under the probed accumulation where
    the fingerprint names 16-bit sums, so the declaration shown never contradicts the fingerprint. The
    fingerprint is forced here (a real one needs a near-tie); the probe itself runs and finds float32."""
    from parity.running import runner

    install_backends({"plain": _Probed("none")})
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=8, out_channels=4, dtype="float16", distribution="int")
    assert CaseRun(Case(spec.slug(), spec)).against_reference("plain").accumulation == "float32"
    monkeypatch.setattr(runner, "fingerprint", lambda *_: "float16-taps accumulation")
    result = CaseRun(Case(spec.slug(), spec)).against_reference("plain")
    assert result.status == "pass" and result.accumulation == "float32 (probed)"


def test_a_probing_backend_counts_repeated_products_only_under_its_probed_accumulation(install_backends, monkeypatch):
    """Its stated comparison fails and is judged again under the probe: counting there would be paid twice
    (42 MiB of peak memory on a DCGAN float16 layer) for a verdict the probe decides."""
    from parity.reference import repeats

    install_backends({"short": _Probed("short")})
    counted = []
    monkeypatch.setattr(repeats.Repeats, "_count", lambda self, index: counted.append(index[0].size) or
                        np.full(index[0].size, 1.0))
    spec = ConvSpec(spatial=(5, 5), kernel=1, in_channels=512, out_channels=4, dtype="float16")
    result = CaseRun(Case(spec.slug(), spec)).against_reference("short")
    assert result.accumulation == "float16 (probed)" and counted == []

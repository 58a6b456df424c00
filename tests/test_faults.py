"""Deliberately broken backends must be caught, each with the right status and a reason that names the fault.

Every broken adapter wraps the real numpy adapter; correct values come from ``parity.reference.conv``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from parity import adapters
from parity.core import convert
from parity.verdict.comparison import compare
from parity.core.dtypes import unit_roundoff
from parity.core.inputs import generate
from parity.reference.conv import reference
from parity.running.registry import Case, collect
from parity.running.runner import CaseRun, run_case
from parity.core.spec import ConvSpec

NUMPY = adapters.get("numpy")
# The broken adapters below wrap forward outputs; transposed and gradient cases have their own tests.
DEFAULT = [case for case in collect("default") if case.spec.op == "conv" and case.spec.quantity == "output"]


class Wrapped:
    """An adapter computing ``fault(spec, x, w)``; records how often ``run`` is called."""

    def __init__(self, name, fault, unavailable=None):
        self.name, self.fault, self.unavailable, self.calls = name, fault, unavailable, 0

    def available(self):
        return self.unavailable

    def supports(self, spec):
        return None

    def run(self, spec, x, w):
        self.calls += 1
        return self.fault(spec, x, w)


def _poke(value):
    def fault(spec, x, w):
        y = NUMPY.run(spec, x, w)
        y.flat[y.size // 2] = value
        return y
    return fault


def _raise(spec, x, w):
    raise ZeroDivisionError("the backend divided by zero")


def _swapped_same(spec, x, w):
    """SAME with the odd padding element on the wrong side: (ceil, floor) instead of (floor, ceil)."""
    return NUMPY.run(dataclasses.replace(spec, padding=tuple((hi, lo) for lo, hi in spec.pads)), x, w)


def _torch_symmetric(spec, x, w):
    """PyTorch-style symmetric padding (k-1)*d//2 on both sides wherever the case says SAME."""
    if spec.padding != "SAME":
        return NUMPY.run(spec, x, w)
    half = tuple(((k - 1) * d // 2,) * 2 for k, d in zip(spec.kernel, spec.dilations))
    return NUMPY.run(dataclasses.replace(spec, padding=half), x, w)


FAULTS = {
    "flipless": lambda spec, x, w: NUMPY.run(spec, x, convert.flip(w)),  # true convolution
    "swapped_same": _swapped_same,
    "torch_symmetric": _torch_symmetric,
    "raising": _raise,
    "wrong_dtype": lambda spec, x, w: NUMPY.run(spec, x, w).astype(
        np.float32 if spec.dtype == "float64" else np.float64),
    "nan": _poke(np.nan),
    "absurd": _poke(-5.3e37),
    "listy": lambda spec, x, w: NUMPY.run(spec, x, w).tolist(),
}


@pytest.fixture
def backends(install_backends):
    """The real numpy adapter plus every broken one, reachable through parity.adapters.get/names."""
    return install_backends({"numpy": NUMPY, **{name: Wrapped(name, fault) for name, fault in FAULTS.items()},
                             "missing": Wrapped("missing", _raise, unavailable="missing is not installed (pip install it)")})


def kind_of(run: CaseRun, backend: str) -> str:
    """The comparator's kind for a backend's output against the reference."""
    return compare(run.outcome(backend).output, run.reference, run.case.spec.dtype).kind


def case_of(**fields) -> Case:
    spec = ConvSpec(**fields)
    return Case(spec.slug(), spec)


def first(predicate) -> Case:
    return next(case for case in DEFAULT if predicate(case.spec))


# --- (a) forgotten kernel flip --------------------------------------------------------------------------------
def asymmetric_cases(distribution: str) -> list[Case]:
    """Cases with a kernel that differs from its flip and a bound tight enough to see a flip.

    With random data the worst-case bound is gamma_n * sum|x w|; once n*u nears 1 (bfloat16, n=108:
    gamma = 0.73) it admits almost any value, a flip included. Integer cases have a 0 bound.
    """
    chosen = []
    for case in DEFAULT:
        _, w = generate(case.spec)
        informative = case.spec.accumulation_length * unit_roundoff(case.spec.dtype) <= 1 / 8
        if case.spec.distribution == distribution and not np.array_equal(w, convert.flip(w)) and (
                informative or distribution == "int"):
            chosen.append(case)
    return chosen


@pytest.mark.parametrize("distribution", ["normal", "int"])
def test_forgotten_flip_fails_every_asymmetric_case(backends, distribution):
    cases = asymmetric_cases(distribution)
    assert len(cases) > 50
    for case in cases:
        run = CaseRun(case)
        assert run.against_reference("numpy").status == "pass", case.id
        result = run.against_reference("flipless")
        assert (result.status, kind_of(run, "flipless")) == ("fail", "bound"), (case.id, result)
        assert "the bound" in result.reason and result.bound_ratio > 1


def test_forgotten_flip_passes_symmetric_kernels(backends):
    """The harness flags the flip, not everything: a 1-tap kernel is its own flip."""
    case = first(lambda s: s.kernel == (1,) * s.rank and s.distribution == "normal")
    assert CaseRun(case).against_reference("flipless").status == "pass"


# --- (b) symmetric instead of TF SAME padding ----------------------------------------------------------------
def same_stride2_even_kernel_odd_padding() -> list[Case]:
    return [case for case in DEFAULT
            if case.spec.padding == "SAME" and max(case.spec.strides) == 2 and any(k % 2 == 0 for k in case.spec.kernel)
            and any(lo != hi for lo, hi in case.spec.pads)]


def test_swapped_same_padding_fails_same_stride2_even_kernel_cases(backends):
    cases = same_stride2_even_kernel_odd_padding()
    assert len(cases) >= 24  # the arithmetic sweep alone has 72
    for case in cases:
        run = CaseRun(case)
        result = run.against_reference("swapped_same")
        assert (result.status, kind_of(run, "swapped_same")) == ("fail", "bound"), (case.id, result)


def test_torch_symmetric_padding_gives_the_wrong_shape(backends):
    case = case_of(spatial=(15,), kernel=2, in_channels=6, out_channels=5, strides=2, padding="SAME")
    assert case.id in {c.id for c in DEFAULT}
    run = CaseRun(case)
    result = run.against_reference("torch_symmetric")
    assert (result.status, kind_of(run, "torch_symmetric")) == ("fail", "shape")
    assert "shape mismatch" in result.reason and "(1, 5, 7)" in result.reason and "(1, 5, 8)" in result.reason


def test_torch_symmetric_padding_is_caught_on_every_same_stride2_even_kernel_case(backends):
    for case in same_stride2_even_kernel_odd_padding():
        result = CaseRun(case).against_reference("torch_symmetric")
        assert result.status == "fail", case.id


def test_torch_symmetric_padding_is_right_for_odd_kernels_at_stride_1(backends):
    case = first(lambda s: s.padding == "SAME" and s.strides == (1,) * s.rank and all(k % 2 for k in s.kernel))
    assert CaseRun(case).against_reference("torch_symmetric").status == "pass"


# --- (c)-(h) broken outputs ----------------------------------------------------------------------------------
F32 = case_of(spatial=(9, 8), kernel=3, in_channels=4, out_channels=3, batch=2, padding="SAME", dtype="float32")


def test_raising_backend_is_an_error_and_others_survive(backends):
    results = run_case(F32, ["numpy", "raising", "missing"])
    by_pair = {(r.backend, r.against): r for r in results}
    assert set(by_pair) == {("numpy", "reference"), ("raising", "reference"), ("missing", "reference"),
                            ("numpy", "raising"), ("numpy", "missing"), ("raising", "missing")}
    error = by_pair["raising", "reference"]
    assert error.status == "error"
    assert error.reason == "ZeroDivisionError: the backend divided by zero"
    assert by_pair["numpy", "reference"].status == "pass"
    assert by_pair["numpy", "reference"].bound_ratio is not None
    pair = by_pair["numpy", "raising"]
    assert pair.status == "skip" and "raising" in pair.reason and "ZeroDivisionError" in pair.reason


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_wrong_dtype_fails_with_kind_dtype(backends, dtype):
    run = CaseRun(dataclasses.replace(F32, spec=dataclasses.replace(F32.spec, dtype=dtype)))
    result = run.against_reference("wrong_dtype")
    assert (result.status, kind_of(run, "wrong_dtype")) == ("fail", "dtype")
    assert "dtype mismatch" in result.reason and dtype in result.reason
    assert run.between("numpy", "wrong_dtype").status == "fail"


def test_nan_in_one_element_fails_naming_nan(backends):
    run = CaseRun(F32)
    result = run.against_reference("nan")
    assert (result.status, kind_of(run, "nan")) == ("fail", "nonfinite")
    assert "NaN" in result.reason and "1 element" in result.reason
    between = run.between("numpy", "nan")
    assert between.status == "fail" and "NaN" in between.reason


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_absurd_value_fails_as_absurd(backends, dtype):
    run = CaseRun(dataclasses.replace(F32, spec=dataclasses.replace(F32.spec, dtype=dtype)))
    result = run.against_reference("absurd")
    assert (result.status, kind_of(run, "absurd")) == ("fail", "bound")
    assert "absurd" in result.reason and "got -5.3" in result.reason and "e+37" in result.reason
    y, ref = run.outcome("absurd").output, run.reference.value
    assert np.isclose(result.max_abs, np.abs(y.astype(np.float64) - ref).max())


def test_list_output_is_an_error(backends):
    result = CaseRun(F32).against_reference("listy")
    assert result.status == "error"
    assert "numpy array" in result.reason and "list" in result.reason


def test_unavailable_backend_is_skipped_without_running(backends):
    results = run_case(F32, ["missing", "numpy"])
    assert [(r.backend, r.against, r.status) for r in results] == [
        ("missing", "reference", "skip"), ("numpy", "reference", "pass"), ("missing", "numpy", "skip")]
    assert results[0].reason == "missing is not installed (pip install it)"
    assert backends["missing"].calls == 0


def test_backend_gets_copies_of_the_inputs(backends):
    """A backend scribbling on its inputs cannot corrupt the reference or another backend."""
    def scribble(spec, x, w):
        x[...] = 0
        w[...] = 0
        return NUMPY.run(spec, x, w)

    backends["scribbler"] = Wrapped("scribbler", scribble)
    run = CaseRun(F32)
    assert run.against_reference("scribbler").status == "fail"
    assert run.against_reference("numpy").status == "pass"
    x, w = generate(F32.spec)
    np.testing.assert_array_equal(run.inputs[0], x)
    np.testing.assert_array_equal(run.inputs[1], w)


# --- (i) integer-valued cases are exact ----------------------------------------------------------------------
def test_numpy_is_exact_on_every_int_case(backends):
    int_cases = [case for case in DEFAULT if case.spec.distribution == "int"]
    assert len(int_cases) >= 90
    for case in int_cases:
        run = CaseRun(case)
        result = run.against_reference("numpy")
        assert result.status == "pass" and result.max_ulp == 0 and result.max_abs == 0, (case.id, result)
        exact = reference(case.spec, *generate(case.spec)).value
        np.testing.assert_array_equal(run.outcome("numpy").output.astype(np.float64), exact, err_msg=case.id)

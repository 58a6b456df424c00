"""The pytest plugin's session rules (parity.plugin and parity.plugin.session), each pinned by a small pytester
run with its expectation written out: results counted once, the nothing-compared line, the saved baseline's
fields, the summary's tables, case-major order, a refusal that raises, inertness and the environment under
xdist, the parametrized count, pairs only where both backends run, and parity_verify's rules."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from plugin_sources import PICKY_AND_TWIN, RAISING

pytest_plugins = ["pytester"]

REGRESSION = (Path(__file__).parent / "test_regression.py").read_text()
NUMPY = ("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends", "numpy")
F32 = "conv1d-nwc-valid-s1-d1-g1-k3-n2c3x11-o5-f32-normal"  # with F16: the smoke cases "conv1d-nwc-valid" selects
F16 = "conv1d-nwc-valid-s1-d1-g1-k3-n2c3x11-o5-f16-int"
CONV3D = "conv3d-ndhwc-valid-s1-d1-g1-k3x3x3-n1c3x5x6x7-o5-f32-normal"

REFERENCE_ONLY = """
def test_backend_agrees(parity_case, parity_backend, parity_session, parity_verify):
    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))
"""


@pytest.fixture(autouse=True)
def _no_recordings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expected counts are the smoke tier's own: recordings in the user's $PARITY_RECORDED would join it."""
    monkeypatch.delenv("PARITY_RECORDED", raising=False)


def _json(pytester: pytest.Pytester, name: str) -> dict:
    return json.loads((pytester.path / name).read_text())


def _results(document: dict) -> list[tuple[str, str, str, str]]:
    return sorted((r["case"], r["backend"], r["against"], r["status"]) for r in document["results"])


def test_two_tests_recording_one_comparison_count_it_once(pytester: pytest.Pytester) -> None:
    """Two tests may record the same comparison (case, backend, against, figures): it is one result."""
    pytester.makepyfile(test_twice=REFERENCE_ONLY + REFERENCE_ONLY.replace("test_backend_agrees", "test_again"))
    result = pytester.runpytest_subprocess(*NUMPY, "-k", F32, "--parity-json", "out.json")
    result.assert_outcomes(passed=2)
    assert _results(_json(pytester, "out.json")) == [(F32, "numpy", "reference", "pass")]


@pytest.mark.parametrize("keyword, selected", [("conv1d-nwc-valid", "2 parity tests"), (F32, "1 parity test")])
def test_the_nothing_compared_line_counts_selected_tests_and_comparisons(pytester: pytest.Pytester, keyword: str,
                                                                         selected: str) -> None:
    """A session whose parity tests recorded nothing fails, naming the selected tests, then the comparisons."""
    pytester.makepyfile(test_quiet="def test_quiet(parity_case, parity_backend):\n    pass\n")
    result = pytester.runpytest_subprocess(*NUMPY, "-k", keyword)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert f"parity: a session must compare at least one output, got {selected} selected and 0 comparisons, " \
           "all skipped or insensitive" in result.outlines


def test_a_saved_baseline_names_its_tier_and_backends_and_is_whole(pytester: pytest.Pytester) -> None:
    """--parity-save-baseline stores the tier and the backends (a later run without --parity-backends adds the
    baseline's missing ones); a session that finished is not marked partial."""
    pytester.makepyfile(test_regression=REGRESSION)
    result = pytester.runpytest_subprocess(*NUMPY, "-k", F32, "--parity-save-baseline", "b.json")
    assert result.ret == pytest.ExitCode.OK
    saved = _json(pytester, "b.json")
    assert (saved["tier"], saved["backends"], "partial" in saved) == ("smoke", ["numpy"], False)
    assert list(saved["comparisons"]) == [f"{F32} | numpy vs reference"]


def test_the_summary_prints_the_fingerprint_table_and_the_environment(pytester: pytest.Pytester) -> None:
    """After the per-pair table: the fingerprint table (the f16 integer case is correctly rounded) and the
    environment's headline."""
    pytester.makepyfile(test_regression=REGRESSION)
    result = pytester.runpytest_subprocess(*NUMPY, "-k", "conv1d-nwc-valid")
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r"backend +quantity +dtype +declared +fingerprint +cases$",
                                  r"numpy +conv +float16 +float32 +correctly rounded +1$",
                                  r"environment: parity .*, Python .*numpy \d"])


def test_items_run_case_major(pytester: pytest.Pytester) -> None:
    """Every test's item of a case runs before the next case (in the tier's order), so a case runs once."""
    pytester.makepyfile(test_order=REFERENCE_ONLY + REFERENCE_ONLY.replace("test_backend_agrees", "test_again"))
    result = pytester.runpytest_subprocess(*NUMPY, "-k", "conv1d-nwc-valid", "--collect-only", "-q")
    assert [line for line in result.outlines if line.startswith("test_order.py::")] == [
        f"test_order.py::test_backend_agrees[{F32}-numpy]", f"test_order.py::test_again[{F32}-numpy]",
        f"test_order.py::test_backend_agrees[{F16}-numpy]", f"test_order.py::test_again[{F16}-numpy]"]


def test_a_supports_that_raises_is_the_items_error_not_a_declared_limit(pytester: pytest.Pytester) -> None:
    """A refusal that cannot be asked (supports() raises) leaves the item collected: it fails with the error."""
    pytester.makepyfile(test_regression=REFERENCE_ONLY)
    pytester.makeconftest(RAISING)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke",
                                           "--parity-backends", "raising", "-k", F32)
    result.assert_outcomes(failed=1)
    assert "declared unsupported (not collected) in the whole tier smoke (the selection ran 1 of its 12 parity " \
           "tests; combinations never collected cannot be selected): 0 case x backend combinations" in result.outlines


# Run in each xdist worker as it exits: which of parity's case modules it imported.
SEES_THE_WORKER = """
import os, sys

def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(f"cases imported: {any(m.startswith('parity.cases') for m in sys.modules)}\\n")
"""


def test_a_worker_that_ran_no_parity_test_hands_back_nothing(pytester: pytest.Pytester,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Inert under xdist too: a worker that collected no parity item collects no case at its session's end."""
    monkeypatch.setenv("SEEN", str(pytester.path / "seen.txt"))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    pytester.makeconftest(SEES_THE_WORKER)
    result = pytester.runpytest_subprocess(*NUMPY, "-n", "1")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "seen.txt").read_text() == "cases imported: False\n"


THREADS = REFERENCE_ONLY + """

def test_threads():
    import os
    assert [os.environ.get(v) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")] == \\
        ["3", "1", "1"]
"""


def _threads_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """One xdist worker, with OMP_NUM_THREADS=3 set by the user and no other thread variable."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    for variable in ("MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makepyfile(test_regression=THREADS)
    return pytester.runpytest_subprocess(*NUMPY, "-k", f"{F32} or threads", "-n", "1", "--parity-json", "out.json")


PREALLOCATION = REFERENCE_ONLY + """

def test_preallocation():
    import os
    assert os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "unset") == os.environ["EXPECTED"]
"""


@pytest.mark.parametrize("users, options, expected", [
    (None, (*NUMPY, "-n", "1"), "false"),  # a worker that runs parity: JAX allocates on demand
    ("true", (*NUMPY, "-n", "1"), "true"),  # the user's value stays
    (None, (*NUMPY, "-n", "0"), "unset"),  # no xdist: one process, JAX as configured
    (None, ("-p", "no:cacheprovider", "-n", "1"), "unset"),  # a worker of a suite that does not use parity
])
def test_an_xdist_worker_lets_jax_share_the_gpu_unless_the_user_chose(pytester: pytest.Pytester,
                                                                     monkeypatch: pytest.MonkeyPatch, users,
                                                                     options, expected) -> None:
    """Each parity worker's JAX allocates GPU memory on demand (preallocating 75 % each, workers aborted),
    unless the user chose; nothing changes outside parity's xdist workers."""
    if users is None:
        monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    else:
        monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", users)
    monkeypatch.setenv("EXPECTED", expected)
    parity_used = "--parity-backends" in options
    pytester.makepyfile(test_regression=PREALLOCATION if parity_used else PREALLOCATION.replace(REFERENCE_ONLY, ""))
    outcome = pytester.runpytest_subprocess(*options, "-k", f"{F32} or preallocation")
    outcome.assert_outcomes(passed=2 if parity_used else 1)


def test_an_xdist_worker_keeps_the_users_thread_variables(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker sets the thread variables the user left unset to 1, and keeps those the user set."""
    _threads_run(pytester, monkeypatch).assert_outcomes(passed=2)


def test_the_json_environment_under_xdist_is_a_workers(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The controller imports no framework: the report's environment is the one a worker describes (its
    thread variables, not the controller's)."""
    _threads_run(pytester, monkeypatch)
    threads = _json(pytester, "out.json")["environment"]["threads"]
    assert {name: threads.get(name) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")} == \
        {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def test_a_reference_only_test_counts_its_items_as_parametrized(pytester: pytest.Pytester) -> None:
    """A test asking for parity_case and parity_backend alone counts its items too: -k narrowing them makes the
    declared counts the tier's."""
    pytester.makepyfile(test_regression=REFERENCE_ONLY)
    result = pytester.runpytest_subprocess(*NUMPY, "-k", F32, "--parity-json", "out.json")
    result.assert_outcomes(passed=1)
    document = _json(pytester, "out.json")
    assert document["parity_tests"] == {"selected": 1, "parametrized": 12}  # the smoke tier's 12 cases, on numpy
    assert document["declared_unsupported_scope"] == "tier"


def test_a_reference_only_test_does_not_collect_a_declared_limit(pytester: pytest.Pytester) -> None:
    """A combination its backend declares unsupported is not an item of a parity_case/parity_backend test."""
    pytester.makepyfile(test_regression=REFERENCE_ONLY)
    pytester.makeconftest(PICKY_AND_TWIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends",
                                           "numpy,picky", "-k", CONV3D, "--collect-only", "-q")
    assert [line for line in result.outlines if "::" in line] == [
        f"test_regression.py::test_backend_agrees[{CONV3D}-numpy]"]


def test_a_pair_is_formed_only_where_both_backends_run(pytester: pytest.Pytester) -> None:
    """A backend that declares a case unsupported is in no pair of it: twin pairs with numpy, not with picky."""
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(PICKY_AND_TWIN)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends",
                                           "numpy,picky,twin", "-k", CONV3D, "--parity-json", "out.json")
    result.assert_outcomes(passed=2)
    assert _results(_json(pytester, "out.json")) == [(CONV3D, "numpy", "reference", "pass"),
                                                   (CONV3D, "numpy", "twin", "pass"),
                                                   (CONV3D, "twin", "reference", "pass")]


def test_the_environment_is_a_junit_property_once_per_process(pytester: pytest.Pytester) -> None:
    """JUnit XML says what ran the suite once per process, and each comparison once."""
    pytester.makepyfile(test_regression=REGRESSION)
    result = pytester.runpytest_subprocess(*NUMPY, "-k", "conv1d-nwc-valid", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=2)
    names = [p.get("name") for p in ET.parse(pytester.path / "junit.xml").iter("property")]
    assert sorted(names) == ["parity", "parity", "parity_environment"]


def test_an_error_result_fails_its_test(pytester: pytest.Pytester) -> None:
    """parity_verify fails the test on an ``error`` result as on a ``fail``, showing it."""
    pytester.makepyfile(test_one="""
from parity.running.result import Result

def test_error(parity_verify):
    parity_verify(Result("c", None, "b", "reference", "error", "ValueError: boom"),
                  Result("c", None, "a", "b", "pass", "", 0.0, 0.0, 0, 0.5))
""")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*c: b vs reference: error: ValueError: boom"])

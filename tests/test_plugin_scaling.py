"""The plugin's use in other projects: inert unless asked for, declared limits counted instead of collected,
insensitive comparisons skipped with their reason, and baselines (pytest --parity-baseline)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from parity.running.registry import collect
from plugin_sources import PICKY
from rounding_adapter import SOURCE

pytest_plugins = ["pytester"]

REGRESSION = (Path(__file__).parent / "test_regression.py").read_text()
SMOKE = collect("smoke")

INERT = '''
import os, sys

def test_nothing_of_parity_happened():
    assert "OMP_NUM_THREADS" not in os.environ or os.environ.get("KEEP") == "1"
    assert not [m for m in sys.modules if m.startswith("parity.adapters.") or m.startswith("parity.cases")]
    assert "numpy" not in sys.modules  # importing the plugin costs nothing: parity's names load on first use
'''


def test_a_project_that_does_not_use_parity_is_untouched(pytester, monkeypatch):
    pytester.makepyfile(test_plain=INERT)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=1)


BLAS_THREADS = REGRESSION + '''

def test_blas_pool():
    from threadpoolctl import threadpool_info
    assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} == {1}
'''


def test_an_xdist_worker_limits_the_blas_pool_numpy_started_before_the_plugin_ran(pytester, monkeypatch):
    """parity imports numpy, so OpenBLAS had started its pool (one thread per core) before the plugin set
    OPENBLAS_NUM_THREADS: each worker's pool spun against the other worker (-n 2: 26.9 s, 23.0 s limited)."""
    pytester.makepyfile(test_regression=BLAS_THREADS)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--parity-tier", "smoke",
                                           "--parity-backends", "numpy", "-k", "blas_pool")
    result.assert_outcomes(passed=1)


def test_declared_limits_are_counted_not_collected(pytester):
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(PICKY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke",
                                           "--parity-backends", "numpy,picky")
    three_d = sum(case.spec.rank == 3 for case in SMOKE)
    # numpy: every case; picky: all but 3-D (its items carry its pairs with numpy).
    result.assert_outcomes(passed=2 * len(SMOKE) - three_d)
    result.stdout.fnmatch_lines([f"declared unsupported (not collected): {three_d} case x backend combinations",
                                 f"*{three_d}  picky: picky: no 3-D convolution"])


def test_declared_counts_under_a_narrower_selection_say_they_are_the_tiers(pytester):
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(PICKY)
    three_d = sum(case.spec.rank == 3 for case in SMOKE)
    case = next(c for c in SMOKE if c.spec.rank == 2)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "-k", case.id,
                                           "--parity-backends", "numpy,picky", "--parity-json", "out.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"declared unsupported (not collected) in the whole tier smoke (the selection ran 2 "
                                 f"of its {2 * len(SMOKE) - three_d} parity tests; *): {three_d} case x backend *"])
    assert json.loads((pytester.path / "out.json").read_text())["declared_unsupported_scope"] == "tier"
    whole = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke",
                                          "--parity-backends", "numpy,picky", "--parity-json", "all.json")
    assert json.loads((pytester.path / "all.json").read_text())["declared_unsupported_scope"] == "selection"
    assert "in the whole tier" not in whole.stdout.str()


PAIRS_ONLY = REGRESSION + """

def test_pairs_only(parity_case, parity_pairs):
    pass
"""


@pytest.mark.parametrize("workers", ["0", "2"])
def test_the_placeholder_of_a_pairs_test_with_one_backend_counts_as_parametrized(pytester, workers):
    """A pairs-only test with one backend is one skipped placeholder item: deselecting another item must
    still read as a narrower selection (it was counted as selected, not as parametrized). Under xdist every
    worker collects the whole suite: the counts are one worker's, not their sum (helper-37)."""
    pytester.makepyfile(test_regression=PAIRS_ONLY)
    case = SMOKE[0]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends",
                                           "numpy", "-k", f"not {case.id}", "--parity-json", "out.json", "-n", workers)
    document = json.loads((pytester.path / "out.json").read_text())
    assert document["declared_unsupported_scope"] == "tier", result.stdout.str()
    assert document["parity_tests"] == {"selected": len(SMOKE), "parametrized": len(SMOKE) + 1}


# numpy with the kernel flipped on every spatial axis
FLIPPED = PICKY + '''
class Flipped:
    name = "flipped"
    def available(self):
        return None
    def supports(self, spec):
        return None
    def run(self, spec, x, w, dy=None):
        return _get("numpy").run(spec, x, w[(slice(None),) * 2 + (slice(None, None, -1),) * spec.rank].copy())

_picky_get = adapters.get
adapters.get = lambda name: Flipped() if name == "flipped" else _picky_get(name)
adapters.names = lambda: sorted([*_names(), "picky", "flipped"])
'''


def test_items_grow_like_the_backends_and_name_each_failing_pair(pytester):
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(FLIPPED)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--collect-only", "-q",
                                           "--parity-backends", "numpy,picky,flipped")
    three_d = sum(case.spec.rank == 3 for case in SMOKE)
    # per case, one item per backend that runs it (picky: not 3-D), carrying its pairs with the earlier ones
    assert result.stdout.str().count("::test_backend_agrees[") == 3 * len(SMOKE) - three_d
    case = next(c for c in SMOKE if c.spec.rank == 2 and c.spec.kernel_shape[2] > 1)
    ran = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "-k", case.id,
                                        "--parity-backends", "numpy,picky,flipped")
    ran.assert_outcomes(passed=2, failed=1)  # numpy and picky (with picky-vs-numpy) pass; flipped's item fails
    text = ran.stdout.str()
    assert f"{case.id}: flipped vs reference: fail" in text
    assert f"{case.id}: numpy vs flipped: fail" in text and f"{case.id}: picky vs flipped: fail" in text
    assert f"{case.id}: numpy vs picky" not in text


def test_a_known_deviation_from_the_reference_is_an_xfail_even_where_a_pair_passes(pytester):
    pytester.makepyfile(test_one='''
from parity.running.result import Result

def test_known(parity_verify):
    parity_verify(Result("c", None, "b", "reference", "known", "known: b rounds its taps", 0.0, 0.0, 9, 3.0),
                  Result("c", None, "a", "b", "pass", "", 0.0, 0.0, 0, 0.5),
                  Result("c", None, "z", "b", "known", "known: b rounds its taps; 2x", 0.0, 0.0, 9, 2.0))
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rx")
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*XFAIL*- known: b rounds its taps (and 1 known pair comparison(s))"])


def test_a_failing_pair_fails_an_item_whose_own_comparison_is_known(pytester):
    pytester.makepyfile(test_one='''
from parity.running.result import Result

def test_known_and_failing(parity_verify):
    parity_verify(Result("c", None, "b", "reference", "known", "known: b rounds its taps", 0.0, 0.0, 9, 3.0),
                  Result("c", None, "a", "b", "fail", "error 40x the bound", 1.0, 1.0, 99, 40.0))
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*c: a vs b: fail: error 40x the bound*",
                                 "*reproduce: parity run --tier default --backends a,b -k c"])


def test_an_insensitive_comparison_is_a_skip_with_its_reason(pytester):
    pytester.makepyfile(test_one='''
from parity.running.result import Result

def test_insensitive(parity_verify):
    parity_verify(Result("c", None, "b", "reference", "insensitive", "insensitive: a reference with the kernel "
                         "flipped passes this bound too", 0.0, 0.0, 0, 0.5))
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*insensitive: a reference with the kernel flipped passes this bound too*"])


# mine: numpy, rounding float32 inputs to TF32 when TF32=1; registered under a plain name
ROUNDING = SOURCE + '''
_get, _names = adapters.get, adapters.names
adapters.get = lambda name: MINE if name == "mine" else _get(name)
adapters.names = lambda: sorted([*_names(), "mine"])
'''


def test_pytest_baseline_passes_unchanged_and_fails_on_a_fingerprint_drift(pytester, monkeypatch):
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(ROUNDING)
    common = ("-p", "no:cacheprovider", "--parity-backends", "mine", "-k", "realistic and c64 and f32")
    saved = pytester.path / "base.json"
    first = pytester.runpytest_subprocess(*common, f"--parity-save-baseline={saved}")
    assert first.ret == 0 and json.loads(saved.read_text())["comparisons"]
    same = pytester.runpytest_subprocess(*common, f"--parity-baseline={saved}")
    assert same.ret == 0
    same.stdout.fnmatch_lines(["baseline: 0 drift(s)*"])
    monkeypatch.setenv("TF32", "1")
    drifted = pytester.runpytest_subprocess(*common, f"--parity-baseline={saved}")
    assert drifted.ret == pytest.ExitCode.TESTS_FAILED
    drifted.stdout.fnmatch_lines(["DRIFT realistic-resnet-3x3-c64-*canary | mine vs reference: status pass -> fail; "
                                  "fingerprint correctly rounded -> TF32 inputs; *"])


def test_pytest_baseline_fails_when_a_backend_no_longer_runs_its_passing_comparisons(pytester, monkeypatch):
    """A backend that is gone (or now declares a case unsupported) collects no items: its comparisons must
    drift to skips with the reason, under xdist too, not vanish (they did, exit 0)."""
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(ROUNDING)
    common = ("-p", "no:cacheprovider", "--parity-backends", "numpy,mine", "-k", "realistic and c64 and f32")
    saved = pytester.path / "base.json"
    assert pytester.runpytest_subprocess(*common, f"--parity-save-baseline={saved}").ret == 0
    monkeypatch.setenv("MINE_GONE", "mine is not installed here")
    gone = pytester.runpytest_subprocess(*common, "-n", "2", f"--parity-baseline={saved}",
                                         f"--parity-json={pytester.path / 'run.json'}")
    assert gone.ret == pytest.ExitCode.TESTS_FAILED
    gone.stdout.fnmatch_lines(["DRIFT realistic-resnet-3x3-c64-*canary | mine vs reference: status pass -> skip",
                               "DRIFT realistic-resnet-3x3-c64-*canary | numpy vs mine: status pass -> skip"])
    assert "0 vanished" in gone.stdout.str()
    stored = json.loads((pytester.path / "run.json").read_text())["results"]
    assert {"mine is not installed here", "mine has no output (skip: mine is not installed here)"} <= \
        {r["reason"] for r in stored if "mine" in (r["backend"], r["against"])}
    # narrower: one case selected, and numpy (mine's pair in the baseline) left out for torch; then a
    # collection that runs nothing
    case = next(r["case"] for r in stored if r["case"].endswith("-canary"))
    narrow = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-backends", "torch,mine", "-k", case,
                                           f"--parity-baseline={saved}")
    drifts = [line for line in narrow.stdout.lines if line.startswith("DRIFT ")]
    assert drifts == [f"DRIFT {case} | mine vs reference: status pass -> skip"], narrow.stdout.str()[-3000:]
    for nothing_runs in ("--collect-only", "--setup-plan"):
        listed = pytester.runpytest_subprocess(*common, nothing_runs, f"--parity-baseline={saved}")
        assert listed.ret == 0 and "DRIFT" not in listed.stdout.str(), nothing_runs
    # a module that makes no pairs: only its own kind of comparison drifts
    pytester.makepyfile(test_regression=REFERENCE_ONLY)
    alone = pytester.runpytest_subprocess(*common, f"--parity-baseline={saved}")
    drifts = [line for line in alone.stdout.lines if line.startswith("DRIFT ")]
    assert drifts and all(line.endswith("| mine vs reference: status pass -> skip") for line in drifts), drifts


REFERENCE_ONLY = """
def test_backend_agrees(parity_case, parity_backend, parity_session, parity_verify):
    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))
"""


def test_the_plugin_registers_xdist_group_for_runs_without_xdist(pytester):
    pytester.makepyfile(test_regression=REGRESSION)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "--strict-markers",
                                           "--parity-backends", "numpy", "--parity-tier", "smoke", "-k", "conv1d")
    assert result.ret == 0, result.stdout.str()[-2000:]


def test_bench_finds_the_regression_suite_of_a_source_checkout():
    """``parity bench`` times this very suite with -n 0 and -n 2; after the package moved into folders it
    looked for it under parity/ and silently skipped the figure."""
    from parity.running import bench_suite

    assert bench_suite.SUITE == Path(__file__).resolve().parent / "test_regression.py"


def test_a_session_whose_backends_run_nothing_skips_with_their_reasons_and_fails(pytester, monkeypatch):
    """The only backend unavailable: the skip read pytest's 'got empty parameter set for (parity_case, ...)'."""
    pytester.makepyfile(test_regression=REGRESSION)
    pytester.makeconftest(ROUNDING)
    monkeypatch.setenv("MINE_GONE", "mine is not installed here")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs", "--parity-backends", "mine",
                                           "--parity-tier", "smoke")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["parity: a session must compare at least one output*",
                                 "SKIPPED * no backend runs any case of the tier: mine: mine is not installed here"])

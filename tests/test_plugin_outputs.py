"""Runs that could not fail, and files that could be lost: the pytest plugin checks its outputs before any test
runs; a pytest session, `parity run` or `parity fuzz` that compared nothing fails; a backend that cannot run is
named."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from parity.cli.main import main

pytest_plugins = ["pytester"]

REGRESSION = (Path(__file__).parent / "test_regression.py").read_text()
SMOKE_ARGS = ("-p", "no:cacheprovider", "--parity-tier", "smoke", "-k", "conv1d")
# A backend that refuses every case at run time, and one that is not available.
REFUSING = '''
import numpy as np

from parity.adapters.base import Refused


class Refusing:
    name = "refusing"

    def available(self):
        return None

    def supports(self, spec):
        return None

    def run(self, spec, x, w):
        raise Refused("this build refuses everything")


class Unavailable(Refusing):
    def available(self):
        return "its library is not installed"


class Zeros(Refusing):
    def run(self, spec, x, w):
        return np.zeros(spec.result_shape, x.dtype)


REFUSING, UNAVAILABLE, ZEROS = Refusing(), Unavailable(), Zeros()
'''


@pytest.fixture
def suite(pytester, monkeypatch):
    pytester.makepyfile(test_regression=REGRESSION, mine=REFUSING)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return pytester


@pytest.mark.parametrize("target, rule", [("fifo", "must be a regular file path"), ("folder", "it is a folder"),
                                          ("missing/r.json", "must be in an existing folder")])
def test_an_output_that_cannot_be_written_is_a_usage_error_before_any_test(suite, target, rule):
    (suite.path / "folder").mkdir()
    os.mkfifo(suite.path / "fifo")
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--parity-json", target)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert any(line.startswith("ERROR: parity: --parity-json ") and rule in line for line in result.errlines)
    assert (suite.path / "fifo").exists() and not (suite.path / "fifo").is_file()


def test_the_saved_baseline_may_not_be_the_baseline_compared_with(suite):
    suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--parity-save-baseline", "b.json")
    before = (suite.path / "b.json").read_bytes()
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--parity-baseline", "b.json",
                                        "--parity-save-baseline", "b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--parity-save-baseline must name a file of its own, got 'b.json', which is also --parity-baseline" in \
        result.stderr.str()
    assert (suite.path / "b.json").read_bytes() == before


@pytest.mark.parametrize("backend, workers", [("mine:REFUSING", "0"), ("mine:REFUSING", "2"), ("mine:UNAVAILABLE", "0")])
def test_a_session_that_compared_nothing_fails(suite, backend, workers):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends", backend,
                                        "-n", workers)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["parity: a session must compare at least one output, got * parity test* selected "
                                 "and * comparison*, all skipped or insensitive"])


def test_deselected_parity_tests_do_not_fail_the_session(suite):
    suite.makepyfile(test_other="def test_other():\n    pass\n")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends",
                                        "mine:REFUSING", "-k", "test_other")
    assert result.ret == pytest.ExitCode.OK


@pytest.fixture
def mine(tmp_path, monkeypatch):
    """The adapters above importable as ``mine`` in this process (not through pytester, whose sys.modules
    snapshot would drop parity's case modules imported during the test)."""
    (tmp_path / "mine.py").write_text(REFUSING)
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize("backends", ["mine:REFUSING", "numpy,mine:REFUSING"])
def test_a_fuzz_run_where_a_backend_compared_nothing_exits_2(mine, capsys, backends):
    assert main(["fuzz", "--examples", "3", "--backends", backends]) == 2
    assert capsys.readouterr().err == ("parity: error: a fuzz run must compare at least one output of every "
                                       "backend, got none that could have failed in 3 specs from mine:REFUSING: "
                                       "this build refuses everything\n")


def test_a_baseline_of_another_tier_is_a_usage_error(suite):
    (suite.path / "b.json").write_text('{"format": "parity-baseline/1", "tier": "default", "comparisons": {}}')
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--parity-baseline", "b.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--parity-baseline must be saved from the run's tier 'smoke', got a baseline of the 'default' tier" in \
        result.stderr.str()


def test_parity_run_names_a_backend_that_cannot_run_here(mine, capsys):
    assert main(["run", "--tier", "smoke", "-k", "conv1d-nwc", "--backends", "numpy,mine:UNAVAILABLE"]) == 0
    assert capsys.readouterr().err == ("parity: note: mine:UNAVAILABLE cannot run here and compares nothing: its "
                                       "library is not installed\n")


def test_collect_only_is_not_a_session_that_compared_nothing(suite):
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK


def test_a_session_stopped_by_x_saves_a_partial_baseline(suite):
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy,mine:ZEROS", "-x",
                                        "--parity-save-baseline", "b.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    saved = json.loads((suite.path / "b.json").read_text())
    assert saved["partial"] is True and len(saved["comparisons"]) < 8  # stopped at the first failing item


def test_a_timeout_without_isolation_is_a_usage_error(suite):
    """--parity-timeout bounds an isolated backend's case; alone it did nothing, and the session exited 0."""
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--parity-backends", "numpy", "--parity-timeout", "5")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: parity: --parity-timeout must come with --parity-isolate (it bounds an isolated backend's case), " \
           "got --parity-timeout 5 alone" in result.stderr.str()


def test_fuzz_save_appends_the_minimal_failing_spec_to_the_regression_cases(mine, capsys, tmp_path, monkeypatch):
    from parity.cases import regressions

    monkeypatch.setattr(regressions, "SAVED", tmp_path / "regressions.json")  # it looked under parity/running/
    assert main(["fuzz", "--examples", "3", "--backends", "mine:ZEROS", "--save"]) == 1
    saved = list(regressions.regressions())
    assert len(saved) == 1 and f"saved to {regressions.SAVED} as {saved[0].slug()}" in capsys.readouterr().out
    assert main(["fuzz", "--examples", "3", "--backends", "mine:ZEROS", "--save"]) == 1
    assert "already in" in capsys.readouterr().out and len(list(regressions.regressions())) == 1

"""Baselines: saved figures, drift detection with its documented tolerances, environment differences."""
from __future__ import annotations

import json

import pytest

from parity.report import baseline
from parity.running.result import Result
from parity.core.spec import ConvSpec
from rounding_adapter import SOURCE

SPEC = ConvSpec(spatial=(4, 4), kernel=3)


def _result(case="c1", status="pass", ratio=0.1, ulp=3, fingerprint=None, backend="torch"):
    return Result(case, SPEC, backend, "reference", status, "", 0.0, 0.0, ulp, ratio, None, "float32", fingerprint)


def _roundtrip(tmp_path, results, env=None):
    path = tmp_path / "base.json"
    path.write_text(json.dumps(baseline.snapshot(results, env or {"cpu": {"flags": ["avx2"]}}, {"tier": "default"})))
    return baseline.load(path)


def test_unchanged_run_has_no_drift(tmp_path):
    results = [_result(), _result("c2", ratio=float("inf"), status="fail")]
    verdict = baseline.compare(_roundtrip(tmp_path, results), results)
    assert (verdict.drifts, verdict.changes, verdict.new, verdict.vanished) == ([], [], [], [])


@pytest.mark.parametrize("after, what", [
    (_result(status="fail"), "status pass -> fail"), (_result(status="error"), "status pass -> error"),
    (_result(status="skip"), "status pass -> skip"), (_result(status="insensitive"), "status pass -> insensitive"),
    (_result(ratio=0.1 * 4 + 0.06), "bound_ratio 0.1 -> 0.46"),
])
def test_drifts_are_named(tmp_path, after, what):
    verdict = baseline.compare(_roundtrip(tmp_path, [_result()]), [after])
    assert [d.what.split(" (")[0] for d in verdict.drifts] == [what]


def test_tolerances_keep_small_moves_quiet(tmp_path):
    saved = _roundtrip(tmp_path, [_result(ratio=0.1, ulp=3)])
    assert not baseline.compare(saved, [_result(ratio=0.1 * 4 + 0.04, ulp=300)]).drifts  # ULP ignored on random data


def test_integer_cases_drift_on_ulp_and_fingerprint(tmp_path):
    saved = _roundtrip(tmp_path, [_result(ulp=0, ratio=0.0, fingerprint="correctly rounded")])
    ulp = baseline.compare(saved, [_result(ulp=2, ratio=0.0, fingerprint="correctly rounded")])
    assert [d.what for d in ulp.drifts] == ["max_ulp 0 -> 2 on an integer case"]
    assert not baseline.compare(saved, [_result(ulp=1, ratio=0.0, fingerprint="correctly rounded")]).drifts
    changed = baseline.compare(saved, [_result(ulp=0, ratio=0.0, fingerprint="TF32 inputs")])
    assert [d.what for d in changed.drifts] == ["fingerprint correctly rounded -> TF32 inputs"]


def test_new_and_vanished_are_listed_not_failed(tmp_path):
    verdict = baseline.compare(_roundtrip(tmp_path, [_result("old")]), [_result("new")])
    assert verdict.drifts == [] and verdict.new == ["new | torch vs reference"]
    assert verdict.vanished == ["old | torch vs reference"]


def test_a_failure_that_passes_now_is_a_change_not_a_drift(tmp_path):
    verdict = baseline.compare(_roundtrip(tmp_path, [_result(status="fail")]), [_result()])
    assert verdict.drifts == [] and [c.what for c in verdict.changes] == ["fail -> pass"]


def test_report_lists_drifts_first_and_environment_differences(tmp_path):
    saved = _roundtrip(tmp_path, [_result()], env={"frameworks": {"torch": {"version": "2.12"}}})
    verdict = baseline.compare(saved, [_result(status="fail")])
    lines = baseline.format_verdict(verdict, saved["environment"], {"frameworks": {"torch": {"version": "2.13"}}})
    assert lines[1].startswith("DRIFT c1 | torch vs reference: status pass -> fail")
    assert "    frameworks.torch.version: '2.12' -> '2.13'" in lines


@pytest.mark.parametrize("content", ["not json", "[]", '{"format": "other"}'])
def test_a_bad_baseline_file_is_one_line_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="baseline .*bad.json.* must be"):
        baseline.load(path)


def test_parity_run_baseline_exits_1_naming_the_drift_and_the_fingerprint_change(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "mine.py").write_text(SOURCE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("TF32", None)
    saved = tmp_path / "base.json"
    command = [sys.executable, "-m", "parity.cli", "run", "--backends", "mine:MINE", "-k", "realistic and c64 and f32"]
    first = subprocess.run([*command, "--save-baseline", str(saved)], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    same = subprocess.run([*command, "--baseline", str(saved)], capture_output=True, text=True, env=env)
    assert same.returncode == 0 and "baseline: 0 drift(s)" in same.stdout, same.stdout[-2000:]
    drifted = subprocess.run([*command, "--baseline", str(saved)], capture_output=True, text=True,
                             env={**env, "TF32": "1"})
    assert drifted.returncode == 1
    assert "DRIFT realistic-resnet-3x3-c64-" in drifted.stdout and "status pass -> fail" in drifted.stdout
    assert "after  status fail, max_ulp" in drifted.stdout and "fingerprint TF32 inputs" in drifted.stdout


def test_integer_cases_allow_twice_the_saved_ulp_plus_one(tmp_path):
    saved = _roundtrip(tmp_path, [_result(ulp=3, ratio=0.0, fingerprint="correctly rounded")])
    assert not baseline.compare(saved, [_result(ulp=7, ratio=0.0, fingerprint="correctly rounded")]).drifts
    grown = baseline.compare(saved, [_result(ulp=8, ratio=0.0, fingerprint="correctly rounded")])
    assert [d.what for d in grown.drifts] == ["max_ulp 3 -> 8 on an integer case"]


def test_a_fingerprint_that_appears_where_there_was_none_is_no_drift(tmp_path):
    saved = _roundtrip(tmp_path, [_result(status="error", ratio=None, ulp=None)])
    verdict = baseline.compare(saved, [_result(ulp=0, ratio=0.0, fingerprint="correctly rounded")])
    assert verdict.drifts == [] and [c.what for c in verdict.changes] == ["error -> pass"]


def test_a_failure_that_now_errors_without_figures_is_a_change(tmp_path):
    verdict = baseline.compare(_roundtrip(tmp_path, [_result(status="fail", ratio=5.0)]),
                               [_result(status="error", ratio=None, ulp=None)])
    assert verdict.drifts == [] and [c.what for c in verdict.changes] == ["fail -> error"]


def test_infinite_and_nan_ratios_are_saved_as_strict_json():
    doc = baseline.snapshot([_result(status="fail", ratio=float("inf")),
                             _result("c2", status="fail", ratio=float("nan"))], {}, {})
    json.dumps(doc, allow_nan=False)
    assert [doc["comparisons"][k]["bound_ratio"] for k in sorted(doc["comparisons"])] == ["inf", "nan"]


def test_environment_changes_name_only_what_differs():
    before = {"cpu": {"flags": ["avx2"]}, "threads": {"n": 2}}
    after = {"cpu": {"flags": ["avx2"]}, "threads": {"n": 4}}
    assert baseline.environment_changes(before, after) == [("threads.n", 2, 4)]


def test_a_drift_shows_its_figures_before_and_after(tmp_path):
    verdict = baseline.compare(_roundtrip(tmp_path, [_result()]), [_result(status="fail")])
    lines = baseline.format_verdict(verdict, {}, {})
    assert lines[2] == "    before status pass, max_ulp 3, bound_ratio 0.1, fingerprint None, accumulation float32"
    assert lines[3] == "    after  status fail, max_ulp 3, bound_ratio 0.1, fingerprint None, accumulation float32"


def test_a_baseline_of_another_tier_is_refused_before_the_run(tmp_path, capsys):
    from parity.cli.main import main

    path = tmp_path / "base.json"
    path.write_text(json.dumps(baseline.snapshot([_result()], {}, {"tier": "default"})))
    assert main(["run", "--tier", "smoke", "--backends", "numpy", "-k", "conv1d", "--baseline", str(path)]) == 2
    assert capsys.readouterr().err == ("parity: error: --baseline must be saved from the run's tier 'smoke', got a "
                                       "baseline of the 'default' tier\n")
    baseline.check_comparable(baseline.load(path), "default", "--baseline")  # the same tier, or none known, is fine
    baseline.check_comparable({"tier": None}, "smoke", "--baseline")


def _pair(case="c1", backend="torch", against="numpy", status="pass", ratio=0.1):
    return Result(case, SPEC, backend, against, status, "", 0.0, 0.0, 3, ratio, None, "float32", None)


def test_a_pair_is_one_comparison_whichever_backend_came_first(tmp_path):
    saved = _roundtrip(tmp_path, [_pair(backend="torch", against="numpy")])
    swapped = baseline.compare(saved, [_pair(backend="numpy", against="torch", ratio=0.9)])
    assert [d.what for d in swapped.drifts] == ["bound_ratio 0.1 -> 0.9 (over 4x + 0.05)"]
    assert swapped.new == [] and swapped.vanished == []
    assert not baseline.compare(saved, [_pair(backend="numpy", against="torch")]).drifts


def test_a_drift_names_every_way_it_drifted(tmp_path):
    saved = _roundtrip(tmp_path, [_result(ulp=0, ratio=0.0, fingerprint="correctly rounded")])
    verdict = baseline.compare(saved, [_result(status="fail", ulp=9, ratio=2.0, fingerprint="TF32 inputs")])
    assert [d.what for d in verdict.drifts] == [
        "status pass -> fail; fingerprint correctly rounded -> TF32 inputs; bound_ratio 0 -> 2 (over 4x + 0.05); "
        "max_ulp 0 -> 9 on an integer case"]


@pytest.mark.parametrize("figures, message", [
    ({"status": "pass", "max_ulp": 0, "fingerprint": None, "accumulation": None},
     'comparisons["c | a vs reference"] must be an object of status, max_ulp, bound_ratio, fingerprint, '
     'accumulation, got no bound_ratio'),
    ({"status": "pass", "max_ulp": 0, "bound_ratio": 5.0, "fingerprint": None, "accumulation": None},
     'comparisons["c | a vs reference"].bound_ratio of a pass must be at most 1, got 5.0'),
    ({"status": "pass", "max_ulp": -1, "bound_ratio": 0, "fingerprint": None, "accumulation": None},
     'comparisons["c | a vs reference"].max_ulp must be an integer from 0 to 2**64 - 1 or null, got -1'),
    ({"status": "pass", "max_ulp": 0, "bound_ratio": 0, "fingerprint": 5, "accumulation": None},
     'comparisons["c | a vs reference"].fingerprint must be a string or null, got 5'),
    ({"status": "pass", "max_ulp": 0, "bound_ratio": 1, "fingerprint": None, "accumulation": None}, None),
])
def test_a_baseline_comparison_breaking_a_rule_is_refused_naming_it(tmp_path, figures, message):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": "parity-baseline/1", "comparisons": {"c | a vs reference": figures}}))
    if message is None:  # a pass exactly at its bound is a pass
        assert baseline.load(path)["comparisons"]["c | a vs reference"] == figures
        return
    with pytest.raises(ValueError) as caught:
        baseline.load(path)
    assert str(caught.value) == f"baseline {str(path)!r} {message}"


def test_a_run_without_backends_adds_the_baselines_backends_not_installed_here():
    saved = {"backends": ["numpy", "torch", "mlx", "mine:ADAPTER"]}
    assert baseline.with_saved_backends(saved, ["numpy", "tensorflow"], ["numpy", "torch", "tensorflow", "mlx"]) == \
        ["numpy", "tensorflow", "torch", "mlx"]


def test_parity_run_without_backends_runs_the_baselines_missing_backend_as_a_drift(tmp_path, monkeypatch, capsys):
    """A framework uninstalled since the baseline: a run of the installed backends lost its comparisons as
    'vanished' and exited 0; they are skips with the reason now, a drift."""
    from types import SimpleNamespace

    from parity import adapters
    from parity.cli.main import main

    numpy = adapters.get("numpy")
    mine = SimpleNamespace(name="mine", available=lambda: None, supports=numpy.supports, run=numpy.run)
    get, names = adapters.get, adapters.names
    monkeypatch.setattr(adapters, "get", lambda name: mine if name == "mine" else get(name))
    monkeypatch.setattr(adapters, "names", lambda: [*names(), "mine"])
    monkeypatch.setattr(adapters, "installed", lambda: ["numpy"])
    saved, command = tmp_path / "b.json", ["run", "--tier", "smoke", "-k", "conv1d"]
    assert main([*command, "--backends", "numpy,mine", "--save-baseline", str(saved)]) == 0
    monkeypatch.setattr(mine, "available", lambda: "mine is not installed here")
    capsys.readouterr()
    assert main([*command, "--baseline", str(saved)]) == 1
    out = capsys.readouterr().out
    assert " | mine vs reference: status pass -> skip" in out and " | numpy vs mine: status pass -> skip" in out
    assert " 0 vanished" in out


def test_a_baseline_saved_with_another_keyword_says_so(tmp_path, capsys):
    from parity.cli.main import main

    saved, command = tmp_path / "b.json", ["run", "--tier", "smoke", "--backends", "numpy"]
    assert main([*command, "-k", "conv1d", "--save-baseline", str(saved)]) == 0
    capsys.readouterr()
    assert main([*command, "-k", "conv1d and f32", "--baseline", str(saved)]) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("baseline: 0 drift(s)"))
    assert lines[start + 1] == ("note: the baseline was saved with -k 'conv1d', this run with -k 'conv1d and f32': "
                                "what only one of them selects is new or vanished, not compared")


@pytest.mark.parametrize("field, value, rule", [("tier", 5, "a tier name or null"), ("partial", "no", "true or false")])
def test_a_baseline_field_of_the_wrong_type_is_refused(tmp_path, field, value, rule):
    """(mutation testing, helper-37: both checks could be deleted unnoticed)"""
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": "parity-baseline/1", "comparisons": {}, field: value}))
    with pytest.raises(ValueError, match=f"{field} must be {rule}, got {json.dumps(value)}$"):
        baseline.load(path)


def test_a_baseline_naming_a_backend_twice_is_refused(tmp_path):
    """It ran that backend twice, with a pair of it against itself (helper-33's review)."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"format": "parity-baseline/1", "backends": ["numpy", "tf1", "tf1"], "comparisons": {}}))
    with pytest.raises(ValueError, match=r"backends must be a list of distinct backend names, got "):
        baseline.load(path)


def test_a_fingerprint_that_disappears_is_a_drift_unless_the_status_drift_says_so(tmp_path):
    saved = _roundtrip(tmp_path, [_result(status="known", ulp=5, ratio=2.0, fingerprint="TF32 inputs")])
    errored = baseline.compare(saved, [_result(status="error", ulp=None, ratio=None)])
    assert [d.what for d in errored.drifts] == ["fingerprint TF32 inputs -> None (known -> error)"]
    passed = _roundtrip(tmp_path, [_result(ulp=0, ratio=0.0, fingerprint="correctly rounded")])
    skipped = baseline.compare(passed, [_result(status="skip", ulp=None, ratio=None)])
    assert [d.what for d in skipped.drifts] == ["status pass -> skip"]

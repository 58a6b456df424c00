"""A stored JSON report: the reader's rules, and what ``parity report`` prints and writes from one."""
from __future__ import annotations

import json

import pytest

from parity.cli.main import main
from parity.core import files
from parity.core.spec import ConvSpec
from parity.report import baseline, stored
from parity.running.result import Result

SPEC = ConvSpec(spatial=(4, 4), kernel=3)
ENV = {"cpu": {"flags": ["avx2"]}, "threads": {}, "numpy": {}, "frameworks": {"torch": {"version": "2.13"}}}


def _result(case="c1", status="pass", ratio=0.1, ulp=3, fingerprint=None, backend="torch"):
    return Result(case, SPEC, backend, "reference", status, "", 0.0, 0.0, ulp, ratio, None, "float32", fingerprint)


def _document(result=(), **meta):
    entry = {"case": "c", "spec": SPEC.as_dict(), "backend": "b", "against": "reference", "status": "pass",
             **dict(result)}
    return {"format": "parity-report/1", **meta, "results": [entry]}


def _without_against():
    document = _document()
    del document["results"][0]["against"]
    return document


@pytest.mark.parametrize("document, message", [
    (_document(backends=[5]), "backends must be a list of distinct backend names, got [5]"),
    (_document(backends=["b", "b"]), 'backends must be a list of distinct backend names, got ["b", "b"]'),
    (_document(backends=["a"]), "results must compare backends it lists (a) with the reference or with each other, "
                                "got b vs reference (c)"),
    (_document({"against": "b"}, backends=["b"]), "results must compare backends it lists (b) with the reference or "
                                                  "with each other, got b vs b (c)"),
    (_document({"against": "x"}, backends=["b"]), "results must compare backends it lists (b) with the reference or "
                                                  "with each other, got b vs x (c)"),
    (_document(tier=5), "tier must be one of smoke, default, full or null, got 5"),
    (_document(tier="bogus"), 'tier must be one of smoke, default, full or null, got "bogus"'),
    (_document({"status": "pass", "bound_ratio": 7, "max_abs": 1, "max_rel": 1, "max_ulp": 1}),
     "bound_ratio of a pass must be at most 1, got 7"),
    (_document({"status": "pass", "bound_ratio": 1.0000001, "max_abs": 1, "max_rel": 1, "max_ulp": 1}),
     "bound_ratio of a pass must be at most 1, got 1.0000001"),
    (_document({"bound_ratio": "0.5"}), 'bound_ratio must be a number from 0 to 1.8e308, "inf", "nan" or null, got "0.5"'),
    (_document({"max_abs": -1}), 'max_abs must be a number from 0 to 1.8e308, "inf", "nan" or null, got -1'),
    (_document({"bound_ratio": 10 ** 400}), 'bound_ratio must be a number from 0 to 1.8e308, "inf", "nan" or null, '
                                            f'got {str(10 ** 400)[:80]}'),
    (_document({"max_ulp": 2 ** 64}), f"max_ulp must be an integer from 0 to 2**64 - 1 or null, got {2 ** 64}"),
    (_document({"max_rel": True}), 'max_rel must be a number from 0 to 1.8e308, "inf", "nan" or null, got true'),
    (_document(partial="yes"), 'partial must be true or false, got "yes"'),
    (_document(environment={"cpu": "x"}), "environment must be an object whose cpu, threads, numpy and frameworks "
                                          'are objects, got {"cpu": "x"}'),
    (_document(environment={"cpu": {"flags": 5}}), "environment.cpu.flags must be a list of flag names, got 5"),
    (_document(environment={"frameworks": {"torch": {"versions": "x"}}}),
     'environment.frameworks.torch.versions must be an object of version strings, got "x"'),
    (_document(environment={"frameworks": {"torch": 5}}), "environment.frameworks.torch must be an object, got 5"),
    (_document(environment={"isolate": 0}), "environment.isolate must be a timeout in seconds > 0, got 0"),
    (_document({"status": "skip", "max_abs": 0.5}), "max_abs of a skip must be null (it compared nothing), got 0.5"),
    (_document({"status": "pass", "max_abs": "inf", "bound_ratio": 0.5}), 'max_abs of a pass must be finite, got "inf"'),
    (_document({"case": 5}), "case must be a string, got 5"),
    (_document({"fingerprint": 5}), "fingerprint must be a string or null, got 5"),
    (_document({"max_ulp": True}), "max_ulp must be an integer from 0 to 2**64 - 1 or null, got true"),
    (_document({"status": "fail", "error_map": "AAAA"}), "error_map must be a base64 PNG given with max_abs"),
    (_document({"spec": None, "fingerprint": "correctly rounded"}),
     "spec must be given with figures or a fingerprint, got null"),
    # rules that could be deleted with every test still passing (mutation testing, helper-37)
    (_document({"status": "fail", "max_abs": "-inf"}), 'max_abs must be a number from 0 to 1.8e308, "inf", "nan" or '
                                                       'null, got "-inf"'),
    (_without_against(), "a result's fields must be accumulation, against, backend, bound_ratio, case, error_map, "
                         "fingerprint, max_abs, max_rel, max_ulp, reason, spec, status, worst_index, got no against"),
    (_document({"reason": 5}), "reason must be a string, got 5"),
    (_document({"accumulation": 5}), "accumulation must be a string or null, got 5"),
    (_document({"status": "fail", "bound_ratio": 2.0, "max_abs": 1.0, "max_rel": 1.0}),
     "max_abs, max_rel and max_ulp must be given with bound_ratio, got null"),
    (_document({"status": "fail", "error_map": "<>"}), "error_map must be a base64 PNG given with max_abs, got '<>'"),
    (_document(parity_tests={"selected": -1}), 'parity_tests must be an object of counts "selected" and '
                                               '"parametrized"'),
    (_document(declared_unsupported=[{"backend": "b", "reason": "r", "cases": -1}]),
     'declared_unsupported must be a list of {"backend": name, "reason": text, "cases": count}'),
    (_document(declared_unsupported=[{"backend": "b", "reason": "r", "cases": 1, "x": 1}]),
     'declared_unsupported must be a list of {"backend": name, "reason": text, "cases": count}'),
    (_document(declared_unsupported_scope=None), 'declared_unsupported_scope must be "tier" or "selection", got null'),
])
def test_the_reader_names_the_broken_rule(tmp_path, document, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError) as raised:
        stored.read_json(path)
    assert message in str(raised.value)


def test_the_json_report_lists_fingerprints_and_whether_they_contradict_the_declaration():
    document = json.loads(stored.json_text([_result(ratio=2.0, fingerprint="TF32 inputs")], {}))
    assert document["fingerprints"] == [{"backend": "torch", "quantity": "conv", "dtype": "float32",
                                         "declared": "float32", "fingerprint": "TF32 inputs", "cases": 1,
                                         "contradicts": True}]


def _report_file(tmp_path, results, **meta):
    path = tmp_path / "run.json"
    backends = sorted({r.backend for r in results})
    path.write_text(stored.json_text(results, {"tier": "smoke", "backends": backends, "environment": ENV, **meta}))
    return path


def _saved_baseline(tmp_path, results, env=ENV):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(baseline.snapshot(results, env, {})))
    return path


def test_a_fingerprint_drift_alone_exits_1(tmp_path, capsys):
    report = _report_file(tmp_path, [_result(ulp=0, ratio=0.0, fingerprint="TF32 inputs")])
    base = _saved_baseline(tmp_path, [_result(ulp=0, ratio=0.0, fingerprint="correctly rounded")])
    assert main(["report", str(report), "--baseline", str(base)]) == 1
    assert "DRIFT c1 | torch vs reference: fingerprint correctly rounded -> TF32 inputs" in capsys.readouterr().out


def test_the_environment_change_reads_from_baseline_to_report(tmp_path, capsys):
    report = _report_file(tmp_path, [_result()])
    base = _saved_baseline(tmp_path, [_result()], {**ENV, "frameworks": {"torch": {"version": "2.12"}}})
    assert main(["report", str(report), "--baseline", str(base)]) == 0
    assert "    frameworks.torch.version: '2.12' -> '2.13'" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("n, shown, more", [(20, 20, None), (21, 20, "... and 1 more (see --json)")])
def test_twenty_failures_are_printed_and_the_rest_counted(tmp_path, capsys, n, shown, more):
    report = _report_file(tmp_path, [_result(f"c{i:02}", status="fail", ratio=2.0) for i in range(n)])
    assert main(["report", str(report)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert sum(line.startswith("FAIL c") for line in out) == shown
    assert (more in out) if more else not any(line.startswith("... and") for line in out)


@pytest.mark.parametrize("full", [False, True])
def test_the_table_shows_thirty_rows_unless_full(tmp_path, capsys, full):
    names = {f"b{i:02}" for i in range(31)}
    report = _report_file(tmp_path, [_result(backend=name) for name in sorted(names)])
    assert main(["report", str(report), *(["--full"] if full else [])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert sum(line[:3] in names for line in out) == (31 if full else 30)
    assert ("... 1 more rows, none failing (--full shows every row)" in out) is (not full)


def test_an_interrupted_run_says_so_on_its_last_line(tmp_path, capsys):
    assert main(["report", str(_report_file(tmp_path, [_result()], partial=True))]) == 1  # it passes nothing
    out, err = capsys.readouterr()
    assert out.splitlines()[-1].endswith(" (partial: the run was interrupted)") and "holds a partial run" in err


def test_a_keyword_narrows_the_run_s_keyword_and_the_baseline_records_both(tmp_path):
    report = _report_file(tmp_path, [_result("conv1d-a"), _result("conv1d-b")], keyword="conv1d")
    base = tmp_path / "b.json"
    assert main(["report", str(report), "-k", "a", "--save-baseline", str(base)]) == 0
    assert json.loads(base.read_text())["keyword"] == "(conv1d) and (a)"


def test_save_baseline_may_not_overwrite_the_baseline_it_compares_with(tmp_path, capsys):
    report = _report_file(tmp_path, [_result()])
    base = _saved_baseline(tmp_path, [_result()])
    before = base.read_bytes()
    assert main(["report", str(report), "--baseline", str(base), "--save-baseline", str(base)]) == 2
    assert capsys.readouterr().err == (f"parity: error: --save-baseline must name a file of its own, got "
                                       f"{str(base)!r}, which is also --baseline\n")
    assert base.read_bytes() == before


def test_a_full_disk_is_one_line(tmp_path, capsys, monkeypatch):
    def full(path, text):
        raise OSError(28, "No space left on device")

    report = _report_file(tmp_path, [_result()])
    monkeypatch.setattr(files, "write_atomic", full)
    assert main(["report", str(report), "--html", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err == (f"parity: error: --html must be writable, got {str(tmp_path / 'r.html')!r}: "
                                       f"No space left on device\n")


def test_the_html_report_draws_unreadable_recordings_too(tmp_path):
    unreadable = Result("rec", None, "torch", "reference", "error", "recording unreadable")
    report = _report_file(tmp_path, [_result(), unreadable])
    assert main(["report", str(report), "--html", str(tmp_path / "r.html")]) == 1
    page = (tmp_path / "r.html").read_text()
    assert "backends <b>torch</b>: 2 comparisons, 1 pass, 0 fail, 0 skip, 1 error" in page
    assert "<h3>rec</h3>" in page and "recording unreadable" in page


def test_a_result_given_twice_is_one_result_and_two_verdicts_are_refused(tmp_path):
    document = _document()
    document["results"].append(dict(document["results"][0]))
    (tmp_path / "r.json").write_text(json.dumps(document))
    assert len(stored.read_json(tmp_path / "r.json")[0]) == 1
    document["results"][1]["status"] = "fail"
    (tmp_path / "r.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"results\[1\] must agree with results\[0\], the same comparison "
                                         r"\(c \| b \| reference\), got .*: they differ"):
        stored.read_json(tmp_path / "r.json")


def test_fingerprint_rows_that_are_not_the_results_are_refused(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(stored.json_text([_result(status="fail", ratio=2.0, fingerprint="TF32 inputs")], {}))
    document = json.loads(path.read_text())
    stored.read_json(path)
    document["fingerprints"][0]["cases"] = 5
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="fingerprints must be the rows of its results' fingerprints"):
        stored.read_json(path)


def test_the_report_of_a_one_off_adapter_keeps_the_run_s_pythonpath(tmp_path):
    import os
    import subprocess
    import sys

    from rounding_adapter import SOURCE

    (tmp_path / "adapters").mkdir()
    (tmp_path / "adapters" / "mine.py").write_text(SOURCE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "adapters"), "TF32": "1"}  # TF32 inputs: failures
    run = [sys.executable, "-m", "parity.cli", "run", "--backends", "mine:MINE", "-k", "realistic and c64 and f32",
           "--json", str(tmp_path / "run.json"), "--html", str(tmp_path / "run.html")]
    assert subprocess.run(run, capture_output=True, text=True, env=env).returncode == 1
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF32")}
    report = [sys.executable, "-m", "parity.cli", "report", str(tmp_path / "run.json"), "--html",
              str(tmp_path / "again.html")]
    assert subprocess.run(report, capture_output=True, text=True, env=clean, cwd=tmp_path).returncode == 1
    assert (tmp_path / "again.html").read_bytes() == (tmp_path / "run.html").read_bytes()
    assert f"reproduce: PYTHONPATH={tmp_path / 'adapters'} parity run" in (tmp_path / "run.html").read_text()


def test_an_interrupted_run_s_baseline_is_marked_and_refused(tmp_path, capsys):
    report = _report_file(tmp_path, [_result()], partial=True)
    base = tmp_path / "partial.json"
    assert main(["report", str(report), "--save-baseline", str(base)]) == 1
    assert json.loads(base.read_text())["partial"] is True
    capsys.readouterr()
    assert main(["report", str(_report_file(tmp_path, [_result()])), "--baseline", str(base)]) == 2
    assert capsys.readouterr().err == ("parity: error: --baseline must be saved from a run that finished, got the "
                                       "baseline of an interrupted run (1 comparisons)\n")


def test_a_pass_exactly_at_its_bound_is_read(tmp_path):
    document = _document({"status": "pass", "bound_ratio": 1, "max_abs": 1, "max_rel": 1, "max_ulp": 1})
    (tmp_path / "r.json").write_text(json.dumps(document))
    assert stored.read_json(tmp_path / "r.json")[0][0].bound_ratio == 1.0


def test_a_shape_mismatch_shows_inf_ulp_in_every_table_and_keeps_the_integer_in_the_json(tmp_path, capsys):
    shape = Result("c1", SPEC, "torch", "reference", "fail", "shape mismatch", float("nan"), float("nan"),
                   2 ** 64 - 1, float("inf"))
    report = _report_file(tmp_path, [shape])
    assert main(["report", str(report), "--matrix", "dtype", "--html", str(tmp_path / "r.html")]) == 1
    out = capsys.readouterr().out
    assert " inf " in out.splitlines()[2] and "| torch vs reference | inf / inf |" in out
    assert str(2 ** 64 - 1) not in out and str(2 ** 64 - 1) not in (tmp_path / "r.html").read_text()
    assert json.loads(report.read_text())["results"][0]["max_ulp"] == 2 ** 64 - 1


def test_skips_are_counted_by_backend_and_reason(tmp_path, capsys):
    skipped = [_result(f"c{i}", status="skip", ratio=None, ulp=None) for i in range(3)]
    skipped = [Result(r.case, r.spec, "tensorflow", "reference", "skip", "TF: 'NCW is not supported'") for r in skipped]
    report = _report_file(tmp_path, [_result(), *skipped, Result("c9", SPEC, "tensorflow", "torch", "skip", "pair")])
    assert main(["report", str(report)]) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index("skipped against the reference, by backend and reason (3):")
    assert out[start + 1] == "       3  tensorflow: TF: 'NCW is not supported'" and out[start + 2].startswith("4 cases x 2")


def test_a_check_report_is_named_as_not_a_run_report(tmp_path):
    """It said 'results must be a list of results, got null' (helper-36)."""
    path = tmp_path / "check.json"
    path.write_text('{"matches": true, "dtype": "float32"}')
    with pytest.raises(ValueError, match=r"got .*: an object with neither format nor results \(a parity check or "
                                         r"layers report\?\)$"):
        stored.read_json(path)


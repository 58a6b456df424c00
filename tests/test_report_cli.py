"""``parity report``: the reports of a saved JSON report, identical to the run's own, without running anything."""
from __future__ import annotations

import json
from html import escape as html_escape
import subprocess
import sys

import pytest

from parity.cli.main import main
from parity.core.spec import ConvSpec
from parity.report import text
from parity.report.text import worse
from parity.running.result import Result

FRAMEWORKS = ("torch", "tensorflow", "jax", "keras", "onnxruntime", "pytensor")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A run of numpy and torch with every report written: (folder, its printed table)."""
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("run")
    done = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--tier", "smoke", "-k", "conv1d",
                           "--backends", "numpy,torch", "--json", str(folder / "run.json"), "--html",
                           str(folder / "run.html"), "--save-baseline", str(folder / "run.base"), "--matrix", "dtype"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, done.stdout


def _report(capsys, *args) -> tuple[int, str, str]:
    code = main(["report", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_writes_what_the_run_wrote(saved, capsys):
    folder, printed = saved
    code, out, _ = _report(capsys, folder / "run.json", "--html", folder / "again.html", "--save-baseline",
                           folder / "again.base", "--matrix", "dtype")
    assert code == 0
    assert (folder / "again.html").read_bytes() == (folder / "run.html").read_bytes()
    assert (folder / "again.base").read_bytes() == (folder / "run.base").read_bytes()
    assert out.splitlines()[:-1] == printed.splitlines()[:-1]  # the last line: time of the run, file of the report
    assert out.splitlines()[-1] == f"4 cases x 2 backends, 12 comparisons, read from {folder / 'run.json'}"


def test_report_imports_no_framework(saved):
    folder, _ = saved
    code = (f"import sys; from parity.cli.main import main; main(['report', {str(folder / 'run.json')!r}]); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FRAMEWORKS!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def _edited(folder, name, edit) -> str:
    document = json.loads((folder / "run.json").read_text())
    edit(document)
    path = folder / name
    path.write_text(json.dumps(document))
    return str(path)


def _fail_first(document):
    first = next(r for r in document["results"] if r["status"] == "pass")
    first.update(status="fail", reason="error 3x the bound", bound_ratio=3.0)


def test_a_stored_failure_exits_1_and_drifts_from_the_baseline(saved, capsys):
    folder, _ = saved
    failing = _edited(folder, "failing.json", _fail_first)
    code, out, _ = _report(capsys, failing, "--baseline", folder / "run.base")
    assert code == 1
    assert any(line.startswith("FAIL conv1d-") and line.endswith(": error 3x the bound") for line in out.splitlines())
    assert "baseline: 1 drift(s), 0 other change(s), 0 new and 0 vanished comparison(s)" in out
    assert sum(line.startswith("DRIFT ") and "status pass -> fail" in line for line in out.splitlines()) == 1
    drift = next(line for line in out.splitlines() if line.startswith("DRIFT "))
    _report(capsys, failing, "--baseline", folder / "run.base", "--html", folder / "failing.html")
    page = (folder / "failing.html").read_text()
    assert "<h2>Baseline</h2><pre>baseline: 1 drift(s), 0 other change(s)" in page and html_escape(drift) in page


def test_a_report_from_before_the_format_key_is_read(saved, capsys):
    folder, _ = saved
    older = _edited(folder, "older.json", lambda d: d.pop("format"))
    assert _report(capsys, older)[0] == 0


def _result(case, backend, against, dtype, ulp, ratio, status="pass"):
    return Result(case, ConvSpec(spatial=(5,), kernel=3, dtype=dtype), backend, against, status, "", 1.0, 1.0,
                  ulp, ratio)


def test_matrix_shows_the_worst_figures_per_pair_and_value():
    results = [_result("a", "numpy", "reference", "float32", 7, 0.25), _result("b", "numpy", "reference", "float32", 9, 0.125),
               _result("c", "numpy", "reference", "float16", 1, 1.0), _result("d", "torch", "numpy", "float64", 3, 0.5),
               Result("e", ConvSpec(spatial=(5,), kernel=3), "torch", "reference", "skip", "refused")]
    assert text.format_matrix(results, "dtype").splitlines() == [
        "| pair (max_ulp / bound_ratio) | float16 | float32 | float64 |",
        "| --- | --- | --- | --- |",
        "| numpy vs reference | 1 / 1.00 | 9 / 0.25 | - |",
        "| torch vs numpy | - | - | 3 / 0.50 |"]


def test_run_and_report_print_the_matrix(saved, capsys):
    folder, printed = saved
    assert "| pair (max_ulp / bound_ratio) | float16 | float32 |" in printed.splitlines()
    code, out, _ = _report(capsys, folder / "run.json", "--matrix", "layout")
    assert code == 0
    assert "| pair (max_ulp / bound_ratio) | channels_last |" in out.splitlines()
    assert sum(line.startswith("| numpy vs torch | ") for line in out.splitlines()) == 1


@pytest.mark.parametrize("content, message", [
    (None, "REPORT must be a readable JSON report (parity run --json, pytest --parity-json), got '{path}': "
           "FileNotFoundError"),
    ("not json", "REPORT must be a readable JSON report (parity run --json, pytest --parity-json), got '{path}': "
                 "JSONDecodeError"),
    ("[]", "REPORT must be a JSON report of format parity-report/1 (parity run --json, pytest --parity-json), "
           "got '{path}': a JSON list"),
    ('{"format": "parity-baseline/1"}', "REPORT must be a JSON report of format parity-report/1 (parity run "
                                        "--json, pytest --parity-json), got '{path}': format 'parity-baseline/1'"),
    ('{"results": 3}', "REPORT results must be a list of results, got 3, in '{path}'"),
    ('{"results": [{"case": "c"}]}', "REPORT results[0] must be a result as parity writes it, got '{path}': "
                                     "ValueError: a result's fields must be "),
    ('{"results": [{"case": "c", "spec": null, "backend": "b", "against": "reference", "status": "bogus"}]}',
     "REPORT results[0] must be a result as parity writes it, got '{path}': ValueError: status must be one of "
     "pass, fail, skip, error, insensitive, known, got 'bogus'"),
    ('{"results": [{"case": "c", "spec": null, "backend": "b", "against": "reference", "status": "pass", '
     '"max_ulp": "7"}]}', "REPORT results[0] must be a result as parity writes it, got '{path}': ValueError: "
                          "max_ulp must be an integer from 0 to 2**64 - 1 or null, got \"7\""),
])
def test_bad_reports_are_one_line_naming_the_rule(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    code, out, err = _report(capsys, path)
    assert (code, out) == (2, "")
    assert err.startswith("parity: error: " + message.format(path=path)) and err.count("\n") == 1


def _first_compared(document):
    return next(r for r in document["results"] if r["bound_ratio"] is not None)


_BROKEN = {  # edit of a real report -> the one-line error it must give
    "spec null with figures": (lambda d: _first_compared(d).update(spec=None), "spec must be given with figures "
                               "or a fingerprint, got null"),
    "max_abs null with a ratio": (lambda d: _first_compared(d).update(max_abs=None), "max_abs, max_rel and "
                                  "max_ulp must be given with bound_ratio, got null"),
    "markup as error_map": (lambda d: _first_compared(d).update(status="fail", error_map="x'><script>alert(1)</script>"),
                            "error_map must be a base64 PNG given with max_abs, got \"x'><script>"),
    "environment a string": (lambda d: d.update(environment="x"), "environment must be an object whose cpu, "
                             "threads, numpy and frameworks are objects, got \"x\""),
    "framework a string": (lambda d: d["environment"]["frameworks"].update(numpy="1.0"),
                           "environment.frameworks.numpy must be an object, got \"1.0\""),
    "backends a string": (lambda d: d.update(backends="numpy"), "backends must be a list of distinct backend names, got "
                          "\"numpy\""),
    "keyword a number": (lambda d: d.update(keyword=5), "keyword must be a string or null, got 5"),
}


@pytest.mark.parametrize("name", _BROKEN)
def test_a_report_whose_fields_do_not_fit_is_one_line_not_a_crash(saved, capsys, name):
    folder, _ = saved
    edit, message = _BROKEN[name]
    path = _edited(folder, "broken.json", edit)
    code, out, err = _report(capsys, path, "--html", folder / "broken.html")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert message in err
    assert not (folder / "broken.html").exists()


def test_json_nested_too_deep_for_the_parser_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    code, _, err = _report(capsys, path)
    assert code == 2 and err.startswith(f"parity: error: REPORT must be a readable JSON report (parity run --json, "
                                        f"pytest --parity-json), got '{path}': RecursionError")


def test_a_report_that_compared_nothing_exits_2_as_its_run_did(saved, capsys):
    folder, _ = saved
    skipped = _edited(folder, "skipped.json", lambda d: [d.pop("fingerprints", None), *(
        r.update(status="skip", reason="refused", bound_ratio=None, max_abs=None, max_rel=None, max_ulp=None)
        for r in d["results"])])
    code, _, err = _report(capsys, skipped)
    assert (code, err) == (2, "parity: error: a run must compare at least one output, got all 12 comparisons "
                              "skipped or insensitive (none could have failed): refused (12x)\n")
    empty = _edited(folder, "empty.json", lambda d: d.update(results=[], fingerprints=[]))
    assert _report(capsys, empty)[::2] == (2, "parity: error: a run must compare at least one output, got no "
                                              "comparison\n")


def test_narrowing_to_backends_narrows_the_environment(saved, capsys):
    folder, _ = saved
    _report(capsys, folder / "run.json", "--backends", "numpy", "--save-baseline", folder / "numpy.base")
    document = json.loads((folder / "numpy.base").read_text())
    assert document["backends"] == ["numpy"] and list(document["environment"]["frameworks"]) == ["numpy"]


def test_matrix_keeps_nan_orders_numbers_and_says_when_it_has_nothing():
    assert [worse(0.5, float("nan")), worse(float("nan"), 0.5)] == pytest.approx([float("nan")] * 2, nan_ok=True)
    groups = [Result(f"c{g}", ConvSpec(spatial=(5,), kernel=3, in_channels=g, out_channels=g, groups=g), "numpy",
                     "reference", "pass", "", 1.0, 1.0, 1, 0.5) for g in (10, 2, 1)]
    assert text.format_matrix(groups, "groups").splitlines()[0] == "| pair (max_ulp / bound_ratio) | 1 | 2 | 10 |"
    skipped = [Result("c", ConvSpec(spatial=(5,), kernel=3), "numpy", "reference", "skip", "refused")]
    assert text.format_matrix(skipped, "dtype") == "--matrix dtype: no comparison with figures"


def test_an_output_may_not_overwrite_the_report(saved, capsys):
    folder, _ = saved
    before = (folder / "run.json").read_bytes()
    code, _, err = _report(capsys, folder / "run.json", "--html", folder / "run.json")
    assert code == 2
    assert err == f"parity: error: --html must name a file of its own, got '{folder / 'run.json'}', which is also REPORT\n"
    assert (folder / "run.json").read_bytes() == before


def test_a_report_narrows_to_cases_and_backends(saved, capsys):
    folder, _ = saved
    case = json.loads((folder / "run.json").read_text())["results"][0]["case"]
    code, out, _ = _report(capsys, folder / "run.json", "-k", case)
    assert (code, out.splitlines()[-1]) == (0, f"1 cases x 2 backends, 3 comparisons, read from {folder / 'run.json'}")
    code, out, _ = _report(capsys, folder / "run.json", "--backends", "numpy", "--html", folder / "numpy.html")
    assert (code, out.splitlines()[-1]) == (0, f"4 cases x 1 backends, 4 comparisons, read from {folder / 'run.json'}")
    assert not any(line.startswith("torch") for line in out.splitlines())
    assert "backends <b>numpy</b>: 4 comparisons" in (folder / "numpy.html").read_text()


@pytest.mark.parametrize("args, message", [
    (["--backends", "numpy,jax"], "--backends must name backends of the report (numpy, torch), got 'numpy,jax'"),
    (["-k", "conv3d"], "-k 'conv3d' must match at least one case of the report, got none"),
])
def test_a_selection_the_report_has_nothing_of_is_an_input_error(saved, capsys, args, message):
    folder, _ = saved
    assert _report(capsys, folder / "run.json", *args) == (2, "", f"parity: error: {message}\n")

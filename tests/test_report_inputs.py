"""What `parity report` and `--baseline` read from elsewhere: a malformed baseline, a non-regular file, a result
with impossible fields, a partial run and a NaN ratio are each one line (or one verdict), never a crash, a hang
or two reports disagreeing (helper-23)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from parity.cli.main import main
from parity.core.spec import ConvSpec
from parity.report import html, text
from parity.running.result import Result


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A numpy run of the smoke tier's conv1d cases: its JSON report and baseline."""
    folder = tmp_path_factory.mktemp("run")
    done = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--tier", "smoke", "-k", "conv1d", "--backends",
                           "numpy", "--json", str(folder / "run.json"), "--save-baseline", str(folder / "run.base")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def _edited(folder, source, name, edit) -> str:
    document = json.loads((folder / source).read_text())
    edit(document)
    (folder / name).write_text(json.dumps(document))
    return str(folder / name)


def _first(document, **changes):
    key = next(iter(document["comparisons"]))
    document["comparisons"][key].update(changes)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(comparisons=[]), "comparisons must be an object of comparisons, got []"),
    (lambda d: d.pop("comparisons"), "comparisons must be an object of comparisons, got null"),
    (lambda d: d.update(environment="x"), 'environment must be an object, got "x"'),
    (lambda d: d["comparisons"].update(x="pass"), 'comparisons["x"] must be an object of status, '),
    (lambda d: _first(d, status="weird"), ".status must be one of pass, fail"),
    (lambda d: _first(d, bound_ratio="0.1"), '.bound_ratio must be a number from 0 to 1.8e308, "inf", "nan" or null, got "0.1"'),
    (lambda d: _first(d, max_ulp=-1), ".max_ulp must be an integer from 0 to 2**64 - 1 or null, got -1"),
])
def test_a_malformed_baseline_is_refused_before_the_run(saved, capsys, edit, message):
    bad = _edited(saved, "run.base", "bad.base", edit)
    for argv in (["report", str(saved / "run.json"), "--baseline", bad],
                 ["run", "--tier", "smoke", "-k", "conv1d", "--backends", "numpy", "--baseline", bad]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith(f"parity: error: baseline {bad!r} ") and message in err, err
        assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_report_or_baseline_that_is_not_a_regular_file_is_refused_unread(saved, tmp_path, capsys, special):
    path = special
    if special == "fifo":  # opening it would wait for a writer that never comes
        path = str(tmp_path / "fifo")
        os.mkfifo(path)
    assert main(["report", path]) == 2
    assert "it is not a regular file" in capsys.readouterr().err
    assert main(["report", str(saved / "run.json"), "--baseline", path]) == 2
    assert "it is not a regular file" in capsys.readouterr().err


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.update(zzz=1), "a result's fields must be "),
    (lambda r: r.update(spec="x"), 'spec must be an object or null, got "x"'),
    (lambda r: r.update(max_ulp=-1), "max_ulp must be an integer from 0 to 2**64 - 1 or null, got -1"),
    (lambda r: r.pop("status"), "got no status"),
])
def test_a_result_with_impossible_fields_is_named(saved, capsys, edit, message):
    bad = _edited(saved, "run.json", "bad.json", lambda d: edit(d["results"][0]))
    assert main(["report", bad]) == 2
    err = capsys.readouterr().err
    assert "results[0] must be a result as parity writes it" in err and message in err, err
    assert "__init__" not in err and "AttributeError" not in err


def test_a_null_result_is_named(saved, capsys):
    bad = _edited(saved, "run.json", "null.json", lambda d: d["results"].__setitem__(0, None))
    assert main(["report", bad]) == 2
    assert "a result must be an object, got null" in capsys.readouterr().err


def test_the_report_of_an_interrupted_run_passes_nothing(saved, capsys):
    partial = _edited(saved, "run.json", "partial.json", lambda d: d.update(partial=True))
    assert main(["report", str(saved / "run.json")]) == 0
    capsys.readouterr()
    assert main(["report", partial, "--baseline", str(saved / "run.base")]) == 1
    assert "holds a partial run (interrupted)" in capsys.readouterr().err


def test_a_nan_ratio_is_the_worst_in_the_table_and_in_the_html():
    spec = ConvSpec(spatial=(4,), kernel=1)
    results = [Result("a", spec, "x", "reference", "fail", "r", 1.0, 1.0, 3, float("nan")),
               Result("b", spec, "x", "reference", "fail", "r", 1.0, 1.0, 3, 0.156)]
    for ordered in (results, results[::-1]):
        row = text.summarize(ordered)[0]
        assert (str(row.bound_ratio), row.worst_case) == ("nan", "a")
        assert "ratio nan" in html.render(ordered, {"backends": ["x"]})


def test_the_report_of_a_pytest_session_shows_its_declared_counts_and_checks_them(tmp_path, capsys):
    from parity.report.stored import json_text

    spec = ConvSpec(spatial=(4,), kernel=1)
    meta = {"tier": "smoke", "backends": ["x"], "declared_unsupported": [{"backend": "x", "reason": "no 3-D", "cases": 4}],
            "declared_unsupported_scope": "tier", "parity_tests": {"selected": 2, "parametrized": 9}}
    path = tmp_path / "p.json"
    path.write_text(json_text([Result("a", spec, "x", "reference", "pass", "", 0.0, 0.0, 0, 0.0)], meta))
    assert main(["report", str(path), "--html", str(tmp_path / "p.html")]) == 0
    line = ("declared unsupported (not collected) in the whole tier smoke (the selection ran 2 of its 9 parity tests; "
            "combinations never collected cannot be selected): 4 case x backend combinations")
    assert line in capsys.readouterr().out and line in (tmp_path / "p.html").read_text()
    document = json.loads(path.read_text())
    document["declared_unsupported"] = "garbage"
    path.write_text(json.dumps(document))
    assert main(["report", str(path)]) == 2
    assert "declared_unsupported must be a list of " in capsys.readouterr().err


def test_a_tier_scope_needs_its_counts(tmp_path, capsys):
    from parity.report.stored import json_text

    spec = ConvSpec(spatial=(4,), kernel=1)
    meta = {"tier": None, "backends": ["x"], "declared_unsupported": [], "declared_unsupported_scope": "tier"}
    path = tmp_path / "p.json"
    path.write_text(json_text([Result("a", spec, "x", "reference", "pass", "", 0.0, 0.0, 0, 0.0)], meta))
    assert main(["report", str(path)]) == 2
    assert 'parity_tests must be an object of counts "selected" and "parametrized" (both' in capsys.readouterr().err

"""Reports read results: the short table, rows without comparisons, and reproducers that run the failing
side and print the very comparison that failed."""
from __future__ import annotations

import contextlib
import io
import shutil
import textwrap
from pathlib import Path

import numpy as np

import parity
from parity.report import text as report
from parity.running.registry import Case
from parity.running.runner import CaseRun
from parity.running.result import Result
from parity.core.spec import ConvSpec

NUMPY = parity.adapters.get("numpy")


class Off:
    name = "off"

    def available(self):
        return None

    def supports(self, spec):
        return None

    def run(self, spec, x, w, dy=None):
        return (NUMPY.run(spec, x, w).astype(np.float64) + 1).astype(x.dtype)


def test_a_failing_pair_reproducer_runs_both_sides_and_names_the_broken_one(install_backends):
    install_backends({"numpy": NUMPY, "off": Off()})
    spec = ConvSpec(spatial=(6, 6), kernel=3, in_channels=2, out_channels=2, distribution="int")
    pair = CaseRun(Case(spec.slug(), spec)).between("numpy", "off")
    assert pair.status == "fail"
    snippet = textwrap.dedent("\n".join(report.reproduce(pair, "default")[2:]))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(snippet, {})
    lines = printed.getvalue().splitlines()
    assert lines[0].startswith("numpy Comparison(status='pass'")
    assert lines[1].startswith("off Comparison(status='fail'")
    assert lines[2].startswith("pair Comparison(status='fail'")


def _row(status: str, ratio: float | None) -> Result:
    figures = (0.0, 0.0, 0, ratio) if ratio is not None else ()
    return Result(f"case-{status}-{ratio}", ConvSpec(spatial=(4, 4), kernel=3), "b",
                  "reference", status, "", *figures)


def test_rows_without_a_comparison_show_no_figures():
    table = report.format_table(report.summarize([_row("skip", None)]))
    cells = table.splitlines()[2].split()
    assert cells == ["b", "reference", "conv", "0", "0", "1", "0", "0", "0", "no", "comparison"]


def test_the_short_table_puts_failures_first_and_says_what_it_left():
    results = [Result("a", ConvSpec(spatial=(4, 4), kernel=3, dtype=d), b, "reference", s, "", 0.0, 0.0, 0, r)
               for b, d, s, r in [("x", "float32", "pass", 0.1), ("y", "float32", "fail", 2.0),
                                  ("z", "float32", "pass", 0.5)]]
    table = report.format_table(report.summarize(results), most=2).splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["y", "z"]
    assert table[-1] == "... 1 more rows, none failing (--full shows every row)"


def test_reproduce_line_names_the_pythonpath_of_a_one_off_adapter(tmp_path, monkeypatch):
    from parity.report.text import reproduce
    from parity.running.environment import source
    from parity.running.result import Result

    (tmp_path / "mylab").mkdir()
    (tmp_path / "mylab" / "__init__.py").write_text("")
    (tmp_path / "mylab" / "adapters.py").write_text("ADAPTER = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("mylab.adapters")
    assert (source("mylab.adapters:ADAPTER"), source("numpy")) == (str(tmp_path), None)
    result = Result("c", ConvSpec(spatial=(4,), kernel=1), "mylab.adapters:ADAPTER", "numpy", "fail", "off")
    environment = {"frameworks": {"mylab.adapters:ADAPTER": {"source": str(tmp_path)}, "numpy": {"versions": {}}}}
    assert reproduce(result, "smoke", environment)[0] == (f"reproduce: PYTHONPATH={tmp_path} parity run --tier smoke "
                                                          "--backends mylab.adapters:ADAPTER,numpy -k c")
    shipped = Result("c", ConvSpec(spatial=(4,), kernel=1), "numpy", "reference", "fail", "off")
    assert reproduce(shipped, "smoke", environment)[0] == "reproduce: parity run --tier smoke --backends numpy -k c"


def test_reproduce_line_of_an_isolated_run_isolates_too():
    """A backend that hangs or aborts the process, run as printed without --isolate, hangs the shell (helper-35)."""
    from parity.core.spec import ConvSpec
    from parity.running.result import Result

    result = Result("c", ConvSpec(spatial=(4,), kernel=1), "mine", "reference", "error", "timed out")
    assert report.reproduce(result, None, {"isolate": 5})[0] == "reproduce: parity run --backends mine --isolate --timeout 5 -k c"


def test_reproduce_line_is_quoted_for_the_shell_and_names_what_a_report_lacks_not():
    """A folder with a space, and a report from elsewhere whose case id or folder holds shell syntax."""
    import shlex

    from parity.report.text import reproduce
    from parity.running.result import Result

    environment = {"frameworks": {"my:ADAPTER": {"source": "/tmp/my ads"}}, "recordings": "/r $(touch x)"}
    result = Result("x $(touch /tmp/pwned)", None, "my:ADAPTER", "recorded", "error", "bad")
    line = reproduce(result, None, environment)[0].removeprefix("reproduce: ")
    assert shlex.split(line) == ["PYTHONPATH=/tmp/my ads", "parity", "run", "--recorded", "/r $(touch x)",
                                 "--backends", "my:ADAPTER,recorded", "-k", "x $(touch /tmp/pwned)"]  # no --tier None
    before = {"frameworks": {"recorded": {"folder": "/recs"}}}  # a report of the release before 'recordings'
    assert "--recorded /recs " in reproduce(result, None, before)[0]


def test_reproducer_of_a_recorded_backend_replays_the_same_folder(tmp_path, monkeypatch):
    """The run line and the Python snippet both name the recordings (without them: '-k must match at least one
    case', and the snippet's adapter finds no recording)."""
    import os
    import subprocess
    import sys

    from parity.cli.main import main
    from parity.report.stored import read_json
    from parity.report.text import reproduce

    monkeypatch.setenv("PARITY_RECORDED", "")  # --recorded sets it for this process: undone after the test
    source = Path(__file__).parents[1] / "examples" / "recorded" / "conv2d-nhwc-hwio-flipped-same-s2-numpy"
    recording = tmp_path / "recs" / "one"
    shutil.copytree(source, recording)
    np.save(recording / "output.npy", np.load(recording / "output.npy") + 1)  # a broken recording
    report = tmp_path / "r.json"
    assert main(["run", "--recorded", str(tmp_path / "recs"), "--backends", "recorded", "-k", "recorded",
                 "--json", str(report)]) == 1
    results, meta = read_json(report)
    failed = next(r for r in results if r.status == "fail")
    lines = reproduce(failed, meta["tier"], meta["environment"])
    assert f"--recorded {tmp_path / 'recs'} " in lines[0]
    numpy_side = Result(failed.case, failed.spec, "numpy", "reference", "fail", "off")  # a recorded case, no recorded backend
    assert f"--recorded {tmp_path / 'recs'} --backends numpy " in reproduce(numpy_side, "default", meta["environment"])[0]
    snippet = textwrap.dedent("\n".join(lines[2:]))
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "PARITY_RECORDED"})
    assert done.returncode == 0 and "fail" in done.stdout, done.stderr[-500:]


def test_results_come_back_from_their_json_unchanged():
    """What the pytest plugin carries between processes: every spec of the full tier (explicit padding pairs,
    output_padding) and non-finite figures read back equal."""
    import json

    from parity.running.registry import collect

    specs = [case.spec for case in collect("full") if case.spec is not None]
    assert any(isinstance(spec.padding, tuple) for spec in specs)
    for spec in specs:
        result = Result(spec.slug(), spec, "numpy", "reference", "fail", "why", max_abs=float("inf"),
                        max_rel=float("nan"), max_ulp=3, bound_ratio=2.5, worst_index=(0, 1))
        back = Result.from_dict(json.loads(json.dumps(result.as_dict())))
        assert back.spec == spec and back.spec.as_dict() == spec.as_dict()
        assert (back.max_abs, back.max_ulp, back.bound_ratio, back.worst_index) == (float("inf"), 3, 2.5, (0, 1))
        assert np.isnan(back.max_rel) and back.reason == "why"

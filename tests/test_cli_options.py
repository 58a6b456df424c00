"""Options that did nothing silently: reports with --dry-run, and parity bench's -k for the pytest rows (helper-23)."""
from __future__ import annotations

import subprocess

import pytest

import parity
from parity.cli.main import main
from parity.running import bench, bench_suite


@pytest.mark.parametrize("flag", ["--json", "--html", "--save-baseline", "--baseline"])
def test_dry_run_with_a_report_or_baseline_is_a_usage_error(tmp_path, capsys, flag):
    path = tmp_path / "out.json"
    assert main(["run", "--tier", "smoke", "--backends", "numpy", "--dry-run", flag, str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"parity: error: --dry-run must come without reports, baselines or table options (it compares "
                   f"nothing), got {flag} {path}\n"), err
    assert not path.exists()


@pytest.mark.parametrize("options", [["--by", "dtype"], ["--matrix", "dtype"], ["--full"]])
def test_dry_run_with_a_table_option_is_a_usage_error(capsys, options):
    assert main(["run", "--tier", "smoke", "--backends", "numpy", "--dry-run", *options]) == 2
    assert capsys.readouterr().err == ("parity: error: --dry-run must come without reports, baselines or table "
                                       f"options (it compares nothing), got {' '.join(options)}\n")


def test_bench_runs_the_pytest_rows_on_the_selected_cases(monkeypatch):
    calls = []

    def fake(argv, **_):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0)

    monkeypatch.setattr(bench_suite.subprocess, "run", fake)
    lines, figures = bench_suite.pytest_workers("smoke", ["numpy"], "conv1d and f32")
    assert calls and all(argv[-2:] == ["-k", "conv1d and f32"] for argv in calls)
    assert "-k 'conv1d and f32'" in lines[0] and "-k 'conv1d and f32'" in figures[0].what


def test_python_dash_m_parity_is_the_parity_command():
    import sys

    done = subprocess.run([sys.executable, "-m", "parity", "list", "--tier", "smoke", "-k", "conv1d"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.split()[0].startswith("conv1d-"), done.stderr


def test_every_option_of_every_command_says_what_it_is():
    """`parity <command> --help` explains each option (translate's --from, --strides, ... had no text)."""
    import argparse

    from parity.cli.main import _parser

    commands = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    silent = [f"{name} {action.option_strings[-1]}" for name, sub in commands.choices.items()
              for action in sub._actions
              if action.option_strings and not action.help and action.help != argparse.SUPPRESS]
    assert silent == []


def test_bench_leaves_a_backend_that_cannot_run_out_of_its_timings_and_says_so(monkeypatch, capsys,
                                                                                install_backends):
    """`parity bench --backends tf1,numpy` counted tf1 (its environment not built) in the ratios, silently."""
    from types import SimpleNamespace

    from parity import adapters

    missing = SimpleNamespace(name="tf1", available=lambda: "tf1 environment missing", supports=lambda spec: None)
    install_backends({"numpy": adapters.get("numpy"), "tf1": missing})
    timed = []

    def measure(*args, **kwargs):
        timed.append((args, kwargs))
        return [], []

    for name in ("main_job", "reference_vs_torch", "run_vs_hand_loop", "list_startup", "peak_memory"):
        monkeypatch.setattr(bench, name, measure)
    monkeypatch.setattr(bench_suite, "pytest_workers", measure)
    monkeypatch.setattr(bench, "table", lambda figures: [])
    assert main(["bench", "--tier", "smoke", "--backends", "tf1,numpy", "-k", "conv1d"]) == 0
    assert "parity: note: tf1 cannot run here and is left out of the timings: tf1 environment missing" in \
        capsys.readouterr().err
    first = next(c.id for c in parity.collect("smoke") if "conv1d" in c.id)
    assert (("smoke", ["numpy"], "conv1d"), {"first": first}) in timed  # the estimate's case: the first selected


def test_parity_version_is_the_installed_distribution_s(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"parity {metadata.version('parity-conv')}\n"

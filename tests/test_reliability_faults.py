"""Reliability under faults: broken ``module:ATTRIBUTE`` adapters, runs that compare nothing, signals during
a run (SIGINT, SIGTERM, SIGKILL) and rebuilding a legacy environment. Every other result must survive."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from parity import adapters
from parity.adapters.legacy import envs
from parity.cli.main import main
from parity.running import ISOLATE_TIMEOUT

PARITY = Path(sys.executable).with_name("parity")
SMOKE = ["--tier", "smoke", "-k", "conv1d-nwc"]  # 4 cases: f32 and f16, VALID and SAME
BROKEN = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    from parity import adapters

    class Broken:
        """numpy, except that ``where`` runs ``fault`` (in run: on float16 cases only)."""
        def __init__(self, name, where, fault):
            self.name, self.where, self.fault = name, where, fault
        def available(self):
            return self.fault() if self.where == "available" else None
        def supports(self, spec):
            return self.fault() if self.where == "supports" else None
        def run(self, spec, x, w, dy=None):
            if self.where == "run" and spec.dtype == "float16":
                self.fault()
            return adapters.get("numpy").run(spec, x, w)

    def boom():
        raise RuntimeError("boom")

    def hang():
        Path(os.environ["MARK"]).write_text(str(os.getpid()))
        time.sleep(600)

    def slow():
        with open(os.environ["MARK"], "a") as mark:
            mark.write("x")
        time.sleep(0.3)

    EXIT = Broken("exit", "run", lambda: sys.exit(0))
    OS_EXIT = Broken("os_exit", "run", lambda: os._exit(0))
    RAISES = Broken("raises", "run", boom)
    SUPPORTS = Broken("supports", "supports", boom)
    AVAILABLE_EXIT = Broken("available_exit", "available", lambda: sys.exit(3))
    HANG = Broken("hang", "run", hang)
    SLOW = Broken("slow", "run", slow)
    NOT_AN_ADAPTER = 42
''')


@pytest.fixture
def broken(tmp_path, monkeypatch):
    (tmp_path / "broken_adapters.py").write_text(BROKEN)
    (tmp_path / "import_raises.py").write_text("raise RuntimeError('cannot import me')\n")
    (tmp_path / "import_exits.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # isolated workers and subprocesses import them too
    monkeypatch.setenv("MARK", str(tmp_path / "mark"))
    monkeypatch.chdir(tmp_path)
    adapters.get.cache_clear()
    yield tmp_path
    adapters.get.cache_clear()
    for name in ("broken_adapters", "import_raises", "import_exits"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("fault, isolate", [("EXIT", False), ("RAISES", False), ("SUPPORTS", False),
                                            ("AVAILABLE_EXIT", False), ("EXIT", True), ("OS_EXIT", True)])
def test_a_broken_adapter_costs_only_its_results(broken, capsys, fault, isolate):
    backend = f"broken_adapters:{fault}"
    argv = ["run", *SMOKE, "--backends", f"numpy,{backend}", "--json", "r.json"] + ["--isolate"] * isolate
    assert main(argv) == 1 and "Traceback" not in capsys.readouterr().err
    document = json.loads(Path("r.json").read_text())
    results = document["results"]
    assert len(results) == 4 * 3 and not document["partial"]
    assert document["environment"].get("isolate") == (ISOLATE_TIMEOUT if isolate else None)  # reproducers isolate
    assert {r["status"] for r in results if r["backend"] == "numpy" and r["against"] == "reference"} == {"pass"}
    errors = [r for r in results if r["status"] == "error"]
    everywhere = fault in ("SUPPORTS", "AVAILABLE_EXIT")
    assert errors and all(r["backend"] == backend for r in errors)
    assert len(errors) == (4 if everywhere else 2)
    assert everywhere or {r["spec"]["dtype"] for r in errors} == {"float16"}


@pytest.mark.parametrize("backend, words", [
    ("import_raises:X", "got RuntimeError: cannot import me"),
    ("import_exits:X", "whose import called sys.exit(0)"),
    ("broken_adapters:NOT_AN_ADAPTER", "must have name, available, supports and run, got int"),
    ("broken_adapters:MISSING", "has no attribute 'MISSING'"),
])
def test_an_adapter_that_cannot_be_loaded_is_a_usage_error(broken, capsys, backend, words):
    assert main(["run", *SMOKE, "--backends", f"numpy,{backend}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_a_run_that_compares_nothing_is_an_error_unless_dry(broken, capsys, monkeypatch):
    monkeypatch.setenv("PARITY_MEMORY_GIB", "1e-9")  # every case is refused: all skipped
    assert main(["run", *SMOKE, "--backends", "numpy", "--json", "r.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a run must compare at least one output, got all 4 comparisons skipped or insensitive" \
        in err[0]
    assert len(json.loads(Path("r.json").read_text())["results"]) == 4  # the reasons are still reported
    assert main(["run", *SMOKE, "--backends", "numpy,tf1", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 * 2 + 1 and all(" skip: " in line for line in out[:-1])
    assert out[-1] == ("dry run: 4 cases x 2 backends against the reference: 0 would run, 8 would skip, "
                       "0 would be errors")


def test_a_bug_mid_run_keeps_what_finished(broken, capsys, monkeypatch):
    from parity.running import runner

    real, calls = runner.run_case, iter(range(10))

    def third_case_breaks(case, backends, isolate=None):
        if next(calls) == 2:
            raise KeyError("bug")
        return real(case, backends, isolate)

    monkeypatch.setattr(runner, "run_case", third_case_breaks)
    assert main(["run", *SMOKE, "--backends", "numpy", "--json", "r.json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["parity: error: internal error, KeyError: 'bug'; the table and reports hold the 2 of 4 cases "
                   "finished before (\"partial\": true)"]
    payload = json.loads(Path("r.json").read_text())
    assert payload["partial"] is True and len(payload["results"]) == 2


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(PARITY), "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)


def _wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_keeps_the_finished_results(broken, number, code):
    """The slow backend marks each float16 call; after two of them the run is stopped."""
    process = _start(broken, "--tier", "smoke", "--backends", "numpy,broken_adapters:SLOW", "--json", "r.json")
    _wait_for(lambda: len((broken / "mark").read_text()) >= 2 if (broken / "mark").exists() else False)
    process.send_signal(number)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code and "Traceback" not in err, err
    assert err.strip().startswith("parity: interrupted; the table and reports hold the") and "numpy" in out
    payload = json.loads((broken / "r.json").read_text())
    assert payload["partial"] is True and 3 <= len(payload["results"]) < 12 * 3
    assert len(payload["results"]) % 3 == 0  # whole cases: two backends and their pair


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("number", [signal.SIGKILL, signal.SIGTERM])
def test_isolated_workers_die_with_the_harness(broken, number):
    process = _start(broken, *SMOKE, "--backends", "broken_adapters:HANG", "--isolate", "--timeout", "600")
    _wait_for(lambda: (broken / "mark").exists() and (broken / "mark").read_text() != "")
    worker = int((broken / "mark").read_text())
    assert _alive(worker)
    process.send_signal(number)
    process.communicate(timeout=60)
    try:
        _wait_for(lambda: not _alive(worker), seconds=10)
    finally:
        if _alive(worker):  # the test failed: leave no orphan behind it
            os.kill(worker, signal.SIGKILL)


def test_rebuilding_an_environment_keeps_the_old_one_until_the_new_one_works(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_ENV_DIR", str(tmp_path))
    monkeypatch.setattr(envs, "find_interpreter", lambda version: Path(sys.executable))
    (tmp_path / "tf1" / "bin").mkdir(parents=True)
    (tmp_path / "tf1" / "bin" / "python").write_text("old")

    def fails(env, interpreter, folder):
        (folder / "half-built").write_text("")
        raise ValueError("environment tf1 must build, got exit code 1 from `pip install`")

    monkeypatch.setattr(envs, "_build", fails)
    assert main(["env", "create", "tf1"]) == 2
    assert (tmp_path / "tf1" / "bin" / "python").read_text() == "old" and os.listdir(tmp_path) == ["tf1"]
    monkeypatch.setattr(envs, "_build", lambda env, interpreter, folder: (folder / "bin").mkdir() or
                        (folder / "bin" / "python").write_text("new"))
    assert main(["env", "create", "tf1"]) == 0
    assert (tmp_path / "tf1" / "bin" / "python").read_text() == "new" and os.listdir(tmp_path) == ["tf1"]


def test_an_unrelated_project_with_a_broken_recorded_folder_still_tests(tmp_path):
    (tmp_path / "recorded" / "bad").mkdir(parents=True)
    (tmp_path / "recorded" / "bad" / "spec.json").write_text("[" * 100000)
    (tmp_path / "test_mine.py").write_text("def test_mine():\n    assert True\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr

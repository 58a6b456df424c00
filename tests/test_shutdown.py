"""Exit with frameworks loaded (parity.running.shutdown): one collection, then every object frozen, in the
processes that ran cases (the CLI, the pytest plugin, worker processes) and only at their exit."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from parity.adapters.legacy.worker import SCRIPTS
from parity.cli.main import main
from parity.running import shutdown

pytest_plugins = ["pytester"]

# An atexit handler registered first runs last (atexit is LIFO): it sees what the exit handler left.
SEES_THE_EXIT = """
import atexit, gc
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))
"""


def _exit_lines(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SEES_THE_EXIT + textwrap.dedent(code)], capture_output=True,
                          text=True, check=True, timeout=120)
    return done.stdout.splitlines()


def test_cyclic_garbage_is_finalized_before_everything_is_frozen():
    lines = _exit_lines("""
        from parity.running import shutdown
        shutdown.collect_once_at_exit()

        class Cycle:
            def __del__(self):
                print("finalized", flush=True)

        cycle = Cycle()
        cycle.me = cycle
        del cycle
        print("alive", gc.get_freeze_count() == 0, flush=True)
    """)
    assert lines == ["alive True", "finalized", "frozen at exit: True"]


def test_a_plain_exit_freezes_nothing():
    assert _exit_lines("print('done')") == ["done", "frozen at exit: False"]


def test_it_is_registered_once_per_process(monkeypatch):
    registered = []
    monkeypatch.setattr(shutdown.atexit, "register", registered.append)
    shutdown.collect_once_at_exit.cache_clear()
    try:
        shutdown.collect_once_at_exit()
        shutdown.collect_once_at_exit()
    finally:
        shutdown.collect_once_at_exit.cache_clear()
    assert registered == [shutdown.collect_and_freeze]


@pytest.mark.parametrize("argv, registers", [(["run", "--backends", "numpy", "-k", "conv1d-ncw-valid"], True),
                                             (["list"], False)])
def test_the_cli_registers_it_for_commands_that_run_cases(monkeypatch, capsys, argv, registers):
    calls = []
    monkeypatch.setattr(shutdown, "collect_once_at_exit", lambda: calls.append(1))
    assert main(argv) == 0
    assert bool(calls) == registers


PLUGIN_TEST = """
def test_agrees(parity_case, parity_backend, parity_session):
    assert parity_session.run(parity_case).against_reference(parity_backend).status == "pass"
"""


def _session(pytester, uses_parity: bool, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=PLUGIN_TEST if uses_parity else "def test_plain():\n    pass\n")
    selection = ("--parity-tier", "smoke", "-k", "conv1d and f32 and normal") if uses_parity else ()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-backends", "numpy", *selection, *args)
    assert result.ret == 0
    return result


@pytest.mark.parametrize("uses_parity", [True, False])
def test_the_plugin_freezes_at_exit_once_a_case_ran(pytester, uses_parity):
    pytester.makeconftest(SEES_THE_EXIT)
    assert _session(pytester, uses_parity).outlines[-1] == f"frozen at exit: {uses_parity}"


# The controller waits for an xdist worker's exit: the worker freezes before pytest's own collections.
SEES_THE_WORKERS_UNCONFIGURE = """
import gc, os
import pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        with open(os.environ["SEEN"], "a") as seen:
            seen.write(f"worker frozen: {gc.get_freeze_count() > 0}\\n")
"""


@pytest.mark.parametrize("uses_parity", [True, False])
def test_an_xdist_worker_freezes_when_its_session_ends(pytester, monkeypatch, tmp_path, uses_parity):
    monkeypatch.setenv("SEEN", str(tmp_path / "seen.txt"))
    pytester.makeconftest(SEES_THE_WORKERS_UNCONFIGURE)
    _session(pytester, uses_parity, "-n", "1")
    assert (tmp_path / "seen.txt").read_text().splitlines() == [f"worker frozen: {uses_parity}"]


def test_a_worker_freezes_when_its_input_ends():
    code = SEES_THE_EXIT + textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(SCRIPTS)!r})
        from worker_protocol import serve
        serve(lambda call, arrays: arrays["x"])
    """)
    done = subprocess.run([sys.executable, "-c", code], input="", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr.splitlines() == ["frozen at exit: True"]

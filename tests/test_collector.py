"""Python's cyclic collector around frameworks (parity.core.collector): paused while a framework is imported,
and at exit one collection, then every object frozen, in the processes that ran cases (the CLI, the pytest
plugin, worker processes) and only at their exit."""
from __future__ import annotations

import gc
import importlib.util
import subprocess
import sys
import textwrap

import pytest

from parity.adapters.legacy.worker import SCRIPTS
from parity.cli.main import main
from parity.core import collector

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


def test_paused_turns_the_collector_off_for_its_block_and_back_to_what_it_was():
    assert gc.isenabled()
    with pytest.raises(KeyError):
        with collector.paused():
            assert not gc.isenabled()
            with collector.paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
            raise KeyError
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


# Collections while the framework is imported (it is in sys.modules from the start of its import) through the
# loader parity uses first. Unpaused: 324 for torch (2 of them full), 874 for TensorFlow (6 full). Paused: the
# one full collection after it, and nothing frozen (a library user's process freezes nothing).
DURING_IMPORT = """
import gc, sys
from parity.adapters import tensorflow, torch
from parity.running import environment
during = []
gc.callbacks.append(lambda phase, info: phase == "start" and {framework!r} in sys.modules and during.append(info["generation"]))
{load}
gc.callbacks.clear()
print(*during, gc.get_freeze_count())
"""


@pytest.mark.parametrize("framework, load", [("torch", "torch._torch()"), ("tensorflow", "tensorflow._tf()"),
                                             ("torch", "environment._framework('torch')"),
                                             ("tensorflow", "environment._framework('tensorflow')")])
def test_one_full_collection_runs_after_a_framework_is_imported_and_none_during(framework, load):
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed")
    code = DURING_IMPORT.format(framework=framework, load=load)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert done.stdout.split() == ["2", "0"]  # one collection, full; nothing frozen


def test_paused_collects_after_a_block_that_imported_and_only_then():
    lines = _exit_lines("""
        from parity.core import collector
        full = []
        gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2 and full.append(1))
        with collector.paused():
            pass
        print("without an import", len(full), flush=True)
        with collector.paused():
            import colorsys
        print("after one", len(full), gc.isenabled(), flush=True)
    """)
    assert lines == ["without an import 0", "after one 1 True", "frozen at exit: False"]


def test_an_owned_process_finalizes_cyclic_garbage_at_exit_then_freezes():
    lines = _exit_lines("""
        from parity.core import collector
        collector.own_process()

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


def test_the_exit_handler_is_registered_once_per_process(monkeypatch):
    registered = []
    monkeypatch.setattr(collector.atexit, "register", registered.append)
    monkeypatch.setattr(collector, "_owned", False)
    collector.own_process()
    collector.own_process()
    assert registered == [collector.collect_and_freeze]


@pytest.mark.parametrize("argv, registers", [(["run", "--backends", "numpy", "-k", "conv1d-ncw-valid"], True),
                                             (["list"], False)])
def test_the_cli_registers_it_for_commands_that_run_cases(monkeypatch, capsys, argv, registers):
    calls = []
    monkeypatch.setattr(collector, "own_process", lambda: calls.append(1))
    assert main(argv) == 0
    assert bool(calls) == registers


PLUGIN_TEST = """
def test_agrees(parity_case, parity_backend, parity_session, parity_verify):
    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))
"""


def _session(pytester, uses_parity: bool, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_it=PLUGIN_TEST if uses_parity else "def test_plain():\n    pass\n")
    selection = ("--parity-tier", "smoke", "-k", "conv1d and f32 and normal") if uses_parity else ()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-backends", "numpy", *selection, *args)
    assert result.ret == 0
    return result


@pytest.mark.parametrize("workers", [(), ("-n", "1")], ids=["one-process", "xdist-controller"])
@pytest.mark.parametrize("uses_parity", [True, False])
def test_the_plugin_freezes_at_exit_once_a_case_ran(pytester, uses_parity, workers):
    pytester.makeconftest(SEES_THE_EXIT)
    assert _session(pytester, uses_parity, *workers).outlines[-1] == f"frozen at exit: {uses_parity}"


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

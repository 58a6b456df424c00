"""--isolate: backends in worker processes; one that hangs, kills its process or raises costs one case."""
import sys
import textwrap

import pytest

from parity import adapters
from parity.running.registry import collect, select
from parity.running.runner import run

BROKEN = textwrap.dedent('''
    import os, signal, sys, time
    from parity import adapters

    class Broken:
        """numpy, except on float16 cases, where it runs its fault."""
        def __init__(self, name, fault):
            self.name, self.fault = name, fault
        def available(self):
            return None
        def supports(self, spec):
            return None
        def run(self, spec, x, w, dy=None):
            if spec.dtype == "float16":  # the smoke tier's f16 cases trigger the fault
                self.fault()
            return adapters.get("numpy").run(spec, x, w)

    def hang():
        time.sleep(600)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def exit_quietly():
        sys.exit(3)

    def refuse():
        from parity.adapters.base import Refused
        raise Refused("Framework: 'float16 is not supported here.'")

    HANG, DIE, EXIT = Broken("hang", hang), Broken("die", die), Broken("exit", exit_quietly)

    class Slow(Broken):
        """numpy, 3 s late on every case."""
        def run(self, spec, x, w, dy=None):
            time.sleep(3)
            return adapters.get("numpy").run(spec, x, w)

    SLOW = Slow("slow", None)

    class Cropped(Broken):
        """numpy, one output position short."""
        def run(self, spec, x, w, dy=None):
            return adapters.get("numpy").run(spec, x, w)[..., :-1]

    CROPPED = Cropped("cropped", None)
    REFUSE = Broken("refuse", refuse)

    class Stuck(Broken):
        """Hangs on every call, the warm-up's tiny conv too."""
        def run(self, spec, x, w, dy=None):
            time.sleep(600)

    STUCK = Stuck("stuck", None)
''')


def _installed(tmp_path, monkeypatch, module: str, source: str):
    """``module`` importable here and in worker processes, for one test (adapters looked up afresh)."""
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the worker process imports it too
    adapters.get.cache_clear()
    yield
    adapters.get.cache_clear()
    sys.modules.pop(module, None)


@pytest.fixture
def broken(tmp_path, monkeypatch):
    yield from _installed(tmp_path, monkeypatch, "broken_adapters", BROKEN)


CASES = select(collect("smoke"), "conv1d")


@pytest.mark.parametrize("fault, words", [("HANG", "timeout"), ("DIE", "exit"), ("EXIT", "exit")])
def test_broken_isolated_backend_costs_only_its_cases(broken, fault, words):
    backend = f"broken_adapters:{fault}"
    results = list(run(CASES, ["numpy", backend], isolate=3.0))
    mine = [r for r in results if r.backend == backend and r.against == "reference"]
    faulty = [r for r in mine if r.spec.dtype == "float16"]
    assert faulty and all(r.status == "error" and words in r.reason for r in faulty), faulty
    assert all(r.status == "pass" for r in mine if r.spec.dtype != "float16")
    numpy = [r.status for r in results if r.backend == "numpy" and r.against == "reference"]
    assert numpy == ["pass"] * len(CASES)


@pytest.mark.parametrize("isolate", [None, 30.0], ids=["in-process", "isolated"])
def test_a_refusal_raised_by_run_is_a_skip_in_the_frameworks_words(broken, isolate):
    backend = "broken_adapters:REFUSE"
    mine = [r for r in run(CASES, [backend], isolate=isolate) if r.against == "reference"]
    refused = [r for r in mine if r.spec.dtype == "float16"]
    assert refused and all((r.status, r.reason) == ("skip", "Framework: 'float16 is not supported here.'")
                           for r in refused), refused
    assert all(r.status == "pass" for r in mine if r.spec.dtype != "float16")


def test_isolated_results_equal_in_process_results():
    cases = select(collect("default"), "conv2d and (bf16 or f64) and dw")
    inline = list(run(cases, ["numpy"]))
    isolated = list(run(cases, ["numpy"], isolate=60.0))
    assert [(r.case, r.status, r.max_ulp) for r in inline] == [(r.case, r.status, r.max_ulp) for r in isolated]


def test_external_backend_names_are_validated():
    with pytest.raises(ValueError, match="module:ATTRIBUTE"):
        adapters.get("no_such_module_anywhere:ADAPTER")
    with pytest.raises(ValueError, match="must have name, available, supports and run"):
        adapters.get("numpy:float64")
    assert adapters.get("parity.adapters.numpy:ADAPTER").name == "numpy"


def test_every_case_of_a_fresh_worker_gets_the_timeout_alone(broken):
    """The worker's start-up (its framework's import) has its own allowance; a case slower than the timeout
    is an error, even the first one of a fresh worker (before, it had 60 s more and passed)."""
    slow = [r for r in run(CASES[:2], ["broken_adapters:SLOW"], isolate=1.0) if r.against == "reference"]
    assert len(slow) == 2 and all(r.status == "error" and "no reply within 1 s" in r.reason for r in slow), \
        [(r.status, r.reason) for r in slow]


BAD_DECLARATIONS = textwrap.dedent('''
    import time

    import ml_dtypes
    import numpy as np

    from parity import adapters

    class Declares:
        name = "declares"
        def __init__(self, accumulation, support):
            self.summed, self.support = accumulation, support
        def available(self):
            return None
        def supports(self, spec):
            return self.support
        def accumulation(self, spec):
            return self.summed
        def run(self, spec, x, w, dy=None):
            return adapters.get("numpy").run(spec, x, w)

    TYPO, NUMBER, FALSE = Declares("fp32", None), Declares("float32", 42), Declares("float32", False)
    NUMPY_TYPE, TAPS32 = Declares(np.float32, None), Declares("float32-taps", None)
    HALF = Declares("half", None)

    class Available(Declares):
        def available(self):
            return 42

    AVAILABLE = Available("float32", None)

    class Probed(Declares):
        """Asks for a probe; returns bfloat16 for 16-bit cases."""
        def run(self, spec, x, w, dy=None):
            y = adapters.get("numpy").run(spec, x, w)
            return y.astype(ml_dtypes.bfloat16) if spec.dtype == "float16" else y

    PROBED = Probed("probe", None)

    class SlowStart(Declares):
        """numpy, 2 s late on the first call of a process (a framework's import)."""
        started = False
        def run(self, spec, x, w, dy=None):
            if not SlowStart.started:
                SlowStart.started = True
                time.sleep(2)
            return adapters.get("numpy").run(spec, x, w)

    SLOW_START = SlowStart("float32", None)
''')


@pytest.fixture
def declares(tmp_path, monkeypatch):
    yield from _installed(tmp_path, monkeypatch, "declares", BAD_DECLARATIONS)


@pytest.mark.parametrize("name, words", [("TYPO", "accumulation(spec) must return a dtype name"),
                                         ("NUMPY_TYPE", "accumulation(spec) must return a dtype name"),
                                         ("TAPS32", "got 'float32-taps'"),
                                         ("AVAILABLE", "available() must return None or a reason string, got 42"),
                                         ("NUMBER", "supports(spec) must return None or a reason string, got 42"),
                                         ("FALSE", "supports(spec) must return None or a reason string, got False")])
def test_a_bad_declaration_is_an_error_of_that_backend_only(declares, name, words):
    results = list(run(CASES, ["numpy", f"declares:{name}"]))
    mine = [r for r in results if r.backend == f"declares:{name}" and r.against == "reference"]
    assert mine and all(r.status == "error" and words in r.reason for r in mine), [(r.status, r.reason) for r in mine]
    numpy = [r.status for r in results if r.backend == "numpy" and r.against == "reference"]
    assert numpy == ["pass"] * len(CASES)


def test_a_wrong_shape_is_the_same_failure_isolated_or_not(broken):
    apart, inside = ([(r.status, r.reason.split(":")[0]) for r in run(CASES[:2], ["broken_adapters:CROPPED"],
                                                                        isolate=isolate) if r.against == "reference"]
                     for isolate in (30.0, None))
    assert apart == inside == [("fail", "shape mismatch")] * 2


def test_an_alias_is_declared_by_its_name(declares):
    from parity.adapters.base import accumulation

    assert accumulation(adapters.get("declares:HALF"), CASES[0].spec) == "float16"


def test_a_wrong_dtype_of_a_probed_backend_is_its_failure_isolated_too(declares):
    f16 = [case for case in CASES if case.spec.dtype == "float16"][:1]
    results = list(run(f16, ["numpy", "declares:PROBED"], isolate=30.0))
    mine = [r for r in results if r.backend == "declares:PROBED" and r.against == "reference"]
    assert [(r.status, r.reason) for r in mine] == [("fail", "dtype mismatch: got bfloat16, expected float16")]
    assert [r.status for r in results if r.backend == "numpy" and r.against == "reference"] == ["pass"]


def test_a_fresh_worker_loads_its_backend_before_the_first_case(declares):
    """The warm-up runs a tiny conv through the adapter: a slow first call (a framework's import) is spent
    there, under the start-up allowance, and no case times out for it."""
    results = list(run(CASES[:2], ["declares:SLOW_START"], isolate=1.0))
    assert [r.status for r in results if r.against == "reference"] == ["pass", "pass"], [r.reason for r in results]


def test_once_a_warm_up_fails_later_ones_get_the_case_s_timeout(broken, monkeypatch):
    """A backend that hangs on every call cost the full start-up allowance (60 s) per case, whatever --timeout
    said (helper-35: 7 hours over the default tier)."""
    from parity.running import isolation

    monkeypatch.setattr(isolation, "STARTUP", 4.0)
    isolation._worker.cache_clear()
    try:
        mine = [r for r in run(CASES[:3], ["broken_adapters:STUCK"], isolate=1.0) if r.against == "reference"]
    finally:
        isolation._worker.cache_clear()
    assert [r.status for r in mine] == ["error"] * 3
    assert ["within 4 s" in mine[0].reason, *("within 1 s" in r.reason for r in mine[1:])] == [True] * 3, mine
    assert all("warm-up (loading the backend and running a tiny conv in a fresh worker)" in r.reason for r in mine)

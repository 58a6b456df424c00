"""The worker protocol (parity.adapters.legacy.worker) against fake workers run by this interpreter: no legacy
env needed."""
import sys
import textwrap

import numpy as np
import pytest

import parity
from parity.running import runner
from parity.running.registry import Case
from parity.core.spec import ConvSpec
from parity.adapters.base import Refused
from parity.adapters.legacy import worker as worker_module
from parity.adapters.legacy.worker import SCRIPTS, Worker, WorkerError
from parity.core.dtypes import DTYPES

# A worker that misbehaves on request: call["mode"] says how. It speaks the protocol by hand.
FAKE = """
import json, os, sys, time
import numpy as np
for line in sys.stdin:
    request = json.loads(line)
    mode, directory = request["call"]["mode"], request["dir"]
    output = os.path.join(directory, "output.npy")
    x = np.load(os.path.join(directory, "x.npy"), allow_pickle=False)
    if mode == "crash":
        sys.stderr.write("Fatal Python error: boom\\n")
        sys.exit(3)
    if mode == "hang":
        time.sleep(60)
    if mode == "garbage":
        print("hello, not json", flush=True)
        continue
    if mode == "pickle":
        np.save(output, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif mode == "float64":
        np.save(output, x.astype(np.float64))
    elif mode == "huge":  # a header claiming 10**12 elements over 6 real ones
        with open(output, "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (10**6, 10**6)})
            stream.write(x.tobytes())
    elif mode == "echo-bits":  # bfloat16 must arrive as uint16 with "bits": true
        assert request["call"]["bits"] and x.dtype == np.uint16
        np.save(output, x)
    elif mode == "outside":
        output = os.path.join(os.path.dirname(directory), "elsewhere.npy")
    else:
        np.save(output, 2 * x)
    reply = {"status": "error", "message": "ValueError: refused\\nsecond line"} if mode == "refuse" \\
        else {"status": "refused", "message": "Framework: 'no.'"} if mode == "framework-refuses" \\
        else {"status": "ok", "output": output, "pid": os.getpid()}
    print(json.dumps(reply), flush=True)
"""


@pytest.fixture
def worker(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(FAKE))
    made = Worker(sys.executable, script, timeout=10, startup=10)
    yield made
    made.close()


def _call(worker: Worker, mode: str) -> np.ndarray:
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    return worker.call({"mode": mode}, {"x": x}, x.shape, x.dtype)


def test_worker_is_started_lazily_and_reused_across_cases(worker):
    assert worker.started == 0
    pids = set()
    for _ in range(3):
        np.testing.assert_array_equal(_call(worker, "double"), 2 * np.arange(6, dtype=np.float32).reshape(1, 2, 3))
        pids.add(worker._process.pid)
    assert worker.started == 1 and len(pids) == 1


@pytest.mark.parametrize("mode, message", [
    ("crash", r"worker exited without a reply \(exit code 3\); stderr: Fatal Python error: boom"),
    ("garbage", r"reply must be a JSON object with status ok, error or refused, got 'hello, not json'"),
])
def test_crash_and_garbage_are_errors_and_the_worker_restarts(worker, mode, message):
    _call(worker, "double")
    with pytest.raises(WorkerError, match=message):
        _call(worker, mode)
    assert worker._process is None  # killed
    _call(worker, "double")
    assert worker.started == 2


def test_a_framework_refusal_is_raised_as_refused_and_the_worker_lives_on(worker):
    with pytest.raises(Refused, match=r"^Framework: 'no.'$"):
        _call(worker, "framework-refuses")
    _call(worker, "double")
    assert worker.started == 1


def test_hang_times_out_kills_and_restarts(tmp_path):
    script = tmp_path / "fake_worker.py"
    script.write_text(textwrap.dedent(FAKE))
    worker = Worker(sys.executable, script, timeout=0.5, startup=10)
    _call(worker, "double")  # started within the startup allowance
    with pytest.raises(WorkerError, match=r"no reply within 0.5 s \(timeout\): killed"):
        _call(worker, "hang")
    np.testing.assert_array_equal(_call(worker, "double")[0, 0], [0, 2, 4])
    assert worker.started == 2
    worker.close()


@pytest.mark.parametrize("mode, message", [
    ("pickle", r"worker output .* must hold numbers, got dtype .\|O. \(pickled objects are never loaded\)"),
    ("float64", r"worker output must be float32 \(1, 2, 3\), got float64 \(1, 2, 3\)"),
    ("outside", r"must be a .npy path in the request's directory"),
    ("huge", r"worker output .* must hold the 1000000000000 elements its header declares"),
    ("refuse", r"^ValueError: refused$"),
])
def test_bad_outputs_are_one_line_errors_and_the_worker_lives_on(worker, mode, message):
    _call(worker, "double")
    with pytest.raises(WorkerError, match=message) as info:
        _call(worker, mode)
    assert "\n" not in str(info.value)
    _call(worker, "double")
    assert worker.started == 1


def test_missing_interpreter_is_an_error(tmp_path):
    worker = Worker(tmp_path / "no-python", SCRIPTS / "worker_protocol.py")
    with pytest.raises(WorkerError, match="worker must start"):
        _call(worker, "double")


def test_protocol_loop_keeps_stdout_for_replies(tmp_path):
    """worker_protocol.serve: prints of the framework (Python and C level) go to stderr, errors are replies."""
    script = tmp_path / "echo_worker.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(SCRIPTS)!r})
        from worker_protocol import serve

        def compute(call, arrays):
            print("chatty framework")
            os.write(1, b"C-level chatter\\n")
            if call["mode"] == "refuse":
                raise RuntimeError("refused by the framework")
            return arrays["x"] * 2

        serve(compute)
    """))
    worker = Worker(sys.executable, script, timeout=10)
    np.testing.assert_array_equal(_call(worker, "double")[0, 1], [6, 8, 10])
    with pytest.raises(WorkerError, match="^RuntimeError: refused by the framework$"):
        _call(worker, "refuse")
    _call(worker, "double")
    assert worker.started == 1
    worker.close()


def test_runner_turns_a_crashing_worker_into_an_error_result(worker, monkeypatch):
    class CrashingAdapter:
        name = "crashing"

        def available(self):
            return None

        def supports(self, spec):
            return None

        def run(self, spec, x, w, dy=None):
            return worker.call({"mode": "crash"}, {"x": x}, x.shape, x.dtype)

    real = parity.adapters.get
    monkeypatch.setattr(parity.adapters, "get", lambda name: CrashingAdapter() if name == "crashing" else real(name))
    spec = ConvSpec(spatial=(5,), kernel=3)
    results = runner.run_case(Case("c", spec), ["crashing", "numpy"])
    crashed = results[0]
    assert crashed.status == "error" and crashed.reason.startswith("WorkerError: fake_worker.py: worker exited")
    assert results[1].status == "pass" and results[2].status == "skip"


def test_bfloat16_travels_as_uint16_bits_and_comes_back_as_bfloat16(worker, monkeypatch):
    monkeypatch.setattr(worker_module, "for_env", lambda env, script: worker)
    x = np.array([[[1.5, -0.0078125, 3e38]]], dtype=np.float32).astype(DTYPES["bfloat16"])
    back = worker_module.call_in_env("tf1", "fake", {"mode": "echo-bits"}, {"x": x}, x.shape, "bfloat16")
    assert back.dtype == DTYPES["bfloat16"]
    np.testing.assert_array_equal(back.view(np.uint16), x.view(np.uint16))

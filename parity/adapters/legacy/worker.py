"""Out-of-process backends: the harness side of the worker protocol.

A worker is a script (``parity/adapters/legacy/workers/*_worker.py``) run by another interpreter, typically a legacy
virtual environment from :mod:`parity.adapters.legacy.envs`. It reads one JSON request per line on stdin and answers one
JSON line on stdout:

- request: ``{"call": {...framework arguments...}, "dir": "/tmp/..."}``; the
  operands lie in ``dir`` as ``x.npy``, ``w.npy`` and (gradients) ``dy.npy``, already in the framework's
  layout, written with ``np.save`` and read with ``allow_pickle=False``;
- reply: ``{"status": "ok", "output": "<dir>/output.npy"}``, ``{"status": "error", "message": "..."}``, or
  ``{"status": "refused", "message": "..."}`` (the adapter raised :class:`~parity.adapters.base.Refused`).

A worker is started on the first request and reused for every later one. A worker that exits, sends no
reply within the timeout, or replies with anything but such a line is killed (and restarted by the next
request); the request raises :class:`WorkerError`, whose one-line message the runner records as the
case's ``error``.

Workers die with the harness: each runs in its own process group (killed as a group), exits at the end of
its stdin, and on Linux asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``), so that not
even a SIGKILL of the harness leaves one behind.
"""
from __future__ import annotations

import atexit
import json
import math
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Any, Callable, Final, Mapping

import numpy as np

from parity.adapters.legacy import envs
from parity.core import files
from parity.core.dtypes import DTYPES
from parity.core.spec import ConvSpec
from parity.adapters.base import Refused

DEFAULT_TIMEOUT: Final = 120.0  # seconds per request, unless PARITY_WORKER_TIMEOUT says otherwise
MAX_SECONDS: Final = 86400.0  # a longer timeout is a typo (and overflows some platforms' waits)
STARTUP: Final = 120.0  # extra seconds for the first request of a fresh worker (framework import, compiles)
SCRIPTS: Final = Path(__file__).parent / "workers"


class WorkerError(RuntimeError):
    """A request that produced no usable output; the message is one line."""


def check_seconds(value: float, field: str) -> float:
    """``value`` if it is a finite number of seconds > 0 and <= MAX_SECONDS, else a one-line ``ValueError``."""
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise ValueError(f"{field} must be a finite number of seconds > 0 and <= {MAX_SECONDS:g}, got {value!r}")
    return float(value)


def default_timeout() -> float:
    """PARITY_WORKER_TIMEOUT in seconds (default 120); ``ValueError`` naming it when it is not valid."""
    text = os.environ.get("PARITY_WORKER_TIMEOUT")
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        return check_seconds(float(text), "PARITY_WORKER_TIMEOUT")
    except ValueError:
        raise ValueError(f"PARITY_WORKER_TIMEOUT must be a finite number of seconds > 0 and <= {MAX_SECONDS:g}, "
                         f"got {text!r}") from None


class Worker:
    """One long-lived worker process: ``python -E -s script``, restarted after any failure."""

    def __init__(self, python: Path, script: Path, timeout: float | None = None, startup: float = STARTUP,
                 flags: tuple[str, ...] = ("-E", "-s"), warmup: Mapping[str, Any] | None = None) -> None:
        self.timeout = default_timeout() if timeout is None else check_seconds(timeout, "timeout")
        self.python, self.script, self.startup = Path(python), Path(script), startup
        # With a warm-up call, a fresh process answers it (its imports) within ``startup`` and every request
        # within ``timeout``; without one, its first request gets ``timeout + startup``.
        self.warmup = warmup
        self.flags = flags  # -E -s: a legacy interpreter must not see this environment's PYTHONPATH or site
        self._process: subprocess.Popen | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: Any = None
        self.started = 0  # processes started so far (reuse is visible in tests)
        self.warmups_failed = 0
        atexit.register(self.close)

    def call(self, call: Mapping[str, Any], arrays: Mapping[str, np.ndarray], shape: tuple[int, ...],
             dtype: np.dtype, exact: bool = True) -> np.ndarray:
        """Send one request with ``arrays`` (name -> array, saved as ``name.npy``) and return the worker's
        output, which must have ``shape`` and ``dtype`` (``exact``; else any array no larger than 8 bytes per
        element of ``shape``, for the caller to compare); :class:`WorkerError` otherwise."""
        fresh = self._process is None or self._process.poll() is not None
        if fresh and self.warmup is not None:
            # once a warm-up has failed, the backend's own call is the likely culprit (one that hangs cost the
            # full start-up allowance per case): later ones get the case's timeout, if that is shorter
            allowance = min(self.startup, self.timeout) if self.warmups_failed else self.startup
            try:
                self._request(self.warmup, {}, (1,), np.dtype(np.float64), allowance, True)
            except WorkerError as error:  # the worker was killed with it: the next case starts a fresh one
                self.warmups_failed += 1
                raise WorkerError(f"warm-up (loading the backend and running a tiny conv in a fresh worker): "
                                  f"{error}") from None
            fresh = False
        return self._request(call, arrays, shape, dtype, self.timeout + (self.startup if fresh else 0.0), exact)

    def _request(self, call: Mapping[str, Any], arrays: Mapping[str, np.ndarray], shape: tuple[int, ...],
                 dtype: np.dtype, timeout: float, exact: bool) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="parity-worker-") as directory:
            for name, array in arrays.items():
                np.save(os.path.join(directory, f"{name}.npy"), np.ascontiguousarray(array), allow_pickle=False)
            request = {"call": dict(call), "dir": directory}
            reply = self._exchange(json.dumps(request), timeout)
            return _output(reply, directory, tuple(shape), np.dtype(dtype), exact)

    def _exchange(self, line: str, timeout: float) -> Mapping[str, Any]:
        process = self._ensure_started()
        try:
            process.stdin.write(line + "\n")
            process.stdin.flush()
        except OSError:
            raise self._failure("worker exited before reading the request") from None
        try:
            answer = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise self._failure(f"worker sent no reply within {timeout:g} s (timeout): killed") from None
        except BaseException:  # interrupted (Ctrl-C, SIGTERM): the request is abandoned, so is its worker
            self._kill()
            raise
        if answer is None:
            raise self._failure("worker exited without a reply")
        try:
            reply = json.loads(answer)
        except ValueError:
            reply = None
        if not isinstance(reply, dict) or reply.get("status") not in ("ok", "error", "refused"):
            raise self._failure(f"worker reply must be a JSON object with status ok, error or refused, "
                                f"got {answer[:80]!r}")
        return reply

    def _ensure_started(self) -> subprocess.Popen:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.close()
        self._stderr = tempfile.TemporaryFile(mode="w+")
        # Its own session: a Ctrl-C at the terminal reaches only the harness, which stops the workers itself.
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PARITY_PARENT_PID": str(os.getpid())}
        try:
            self._process = subprocess.Popen([str(self.python), *self.flags, str(self.script)], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1,
                                             env=environment, start_new_session=True)
        except OSError as error:
            raise WorkerError(f"{self.script.name}: worker must start, got: {error.strerror or error}") from None
        self.started += 1
        self._lines = queue.Queue()
        threading.Thread(target=_pump, args=(self._process.stdout, self._lines), daemon=True).start()
        return self._process

    def _failure(self, what: str) -> WorkerError:
        """Kill the worker and describe what happened, with its exit code and last line of stderr."""
        process = self._process
        self._kill()
        code = process.wait() if process is not None else None
        last = _last_line(self._stderr)
        self.close()
        detail = f" (exit code {code})" if code not in (None, -9) else ""
        return WorkerError(f"{self.script.name}: {what}{detail}" + (f"; stderr: {last}" if last else ""))

    def close(self) -> None:
        """Stop the worker (it exits when its stdin closes; killed if it does not within 5 s)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            try:
                process.stdin.close()
                process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                _kill_group(process)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _kill(self) -> None:
        if self._process is not None:
            _kill_group(self._process)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the worker and whatever it started (its process group), and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()
    process.wait()


def _pump(stream: Any, lines: queue.Queue) -> None:
    """Reader thread: every stdout line into the queue, then None at end of file."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _last_line(stderr: Any) -> str:
    if stderr is None:
        return ""
    stderr.seek(0)
    lines = [line.strip() for line in stderr.read().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _output(reply: Mapping[str, Any], directory: str, shape: tuple[int, ...], dtype: np.dtype,
            exact: bool) -> np.ndarray:
    if reply["status"] in ("error", "refused"):
        message = str(reply.get("message", "")).strip().splitlines() or ["no message"]
        raise (Refused if reply["status"] == "refused" else WorkerError)(message[0])
    path = reply.get("output")
    if not isinstance(path, str) or Path(path).resolve().parent != Path(directory).resolve():
        raise WorkerError(f"worker output must be a .npy path in the request's directory, got {path!r}")
    limit = 8 * math.prod(shape) + 1024  # no bigger than it should be
    try:
        array = files.load_npy(path, "worker output", limit)
    except ValueError as error:
        raise WorkerError(str(error) if exact else f"worker output must be at most {limit} bytes (8 per element "
                          f"of the expected shape {shape}), got more") from None
    if not isinstance(array, np.ndarray) or exact and (array.dtype != dtype or array.shape != shape):
        got = f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray) else type(array).__name__
        raise WorkerError(f"worker output must be {dtype} {shape}, got {got}")
    return array


@cache
def shared(python: Path, script: str) -> Worker:
    """The one worker per (interpreter, script) that every adapter of an environment reuses."""
    return Worker(python, SCRIPTS / script)


def for_env(env: str, script: str) -> Worker:
    """The shared worker running ``parity/adapters/legacy/workers/<script>`` in legacy environment ``env``."""
    return shared(envs.python_path(env), script)


def call_in_env(env: str, script: str, call: Mapping[str, Any], arrays: Mapping[str, np.ndarray],
                shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """``for_env(env, script).call`` for a case of ``dtype`` (its name). bfloat16 travels as its uint16 bits,
    with ``"bits": true`` in the call (``.npy`` files of the legacy environments' numpy cannot hold it); the
    worker views them as its framework's bfloat16 and answers the same way."""
    bits = dtype == "bfloat16"
    sent = {name: a.view(np.uint16) for name, a in arrays.items()} if bits else arrays
    expected = np.dtype(np.uint16) if bits else DTYPES[dtype]
    output = for_env(env, script).call({**call, "bits": bits}, sent, shape, expected)
    return output.view(DTYPES["bfloat16"]) if bits else output


def translated_shape(translate: Callable[[np.ndarray], np.ndarray], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape ``translate`` (a layout conversion from :mod:`parity.core.convert`) gives an array of ``shape``:
    what the worker must send back. Applied to a zero-stride view, so it allocates nothing."""
    return translate(np.broadcast_to(np.zeros((), np.int8), shape)).shape


def adapter_worker(timeout: float, startup: float, backend: str | None = None) -> Worker:
    """A worker running parity's own adapters (``workers/adapter_worker.py``) under this interpreter; with
    ``backend``, each fresh process first loads it (its framework's import) within ``startup``, and every case
    then gets ``timeout`` alone."""
    # No -E: the child must see the same PYTHONPATH as this process to import the same adapters.
    warmup = None if backend is None else {"warmup": True, "backend": backend}
    return Worker(Path(sys.executable), SCRIPTS / "adapter_worker.py", timeout=timeout, startup=startup, flags=("-s",),
                  warmup=warmup)


def run_adapter(worker: Worker, backend: str, spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
    """``adapters.get(backend).run(spec, *operands)`` in an :func:`adapter_worker`; WorkerError on any failure.
    bfloat16 travels as its uint16 bits (``.npy`` files cannot hold ml_dtypes' bfloat16 without pickling)."""
    bits = spec.dtype == "bfloat16"
    arrays = {name: a.view(np.uint16) if bits else a for name, a in zip(("x", "w", "dy"), operands)}
    dtype = np.dtype(np.uint16) if bits else DTYPES[spec.dtype]
    call = {"backend": backend, "spec": spec.as_dict(), "bits": bits}
    output = worker.call(call, arrays, spec.result_shape, dtype, exact=False)  # compared like an in-process one
    if bits and output.dtype == np.uint16:
        return output.view(DTYPES["bfloat16"])
    return files.void_as_bfloat16(output)  # bfloat16 where it should not be, compared as such

"""The worker side of parity's worker protocol (Python >= 3.7, numpy only; imports nothing from parity).

``serve(compute)`` reads one JSON request per line from stdin: ``{"call": {...},
"dir": "..."}``, loads ``x.npy``, ``w.npy`` and ``dy.npy`` (those present) from ``dir`` with
``allow_pickle=False``, calls ``compute(call, arrays)``, saves the result as ``dir/output.npy`` and writes
one JSON line: ``{"status": "ok", "output": path}``, ``{"status": "refused", "message": "..."}`` when the
adapter raised parity's ``Refused``, or ``{"status": "error", "message": "..."}`` when
``compute`` raises. Anything the framework prints goes to stderr: the protocol owns stdout.

The worker dies with the harness: it exits at the end of stdin, and on Linux the kernel kills it when its
parent dies (``PR_SET_PDEATHSIG``), even while ``compute`` hangs.
"""
import ctypes
import gc
import json
import os
import signal
import sys

import numpy as np

OPERANDS = ("x", "w", "dy")
PR_SET_PDEATHSIG = 1


class Refusal(Exception):
    """Raised by a worker's ``compute`` when the framework refuses the call: the reply is ``refused`` with
    this message, which the harness raises as ``parity.adapters.base.Refused`` (a skip in these words)."""

    refused = True


def die_with_parent():
    """Ask Linux to SIGKILL this process when its parent exits; exit now if the parent already has."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    parent = os.environ.get("PARITY_PARENT_PID")
    if parent and str(os.getppid()) != parent:  # it died before prctl took effect
        os._exit(1)


def serve(compute):
    die_with_parent()
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # C-level prints to fd 1 land on stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if line.strip():
            protocol.write(json.dumps(answer(compute, line)) + "\n")
            protocol.flush()
    # The harness waits for this exit: with TensorFlow and torch loaded, the teardown's full collections
    # took 1.3 s, 0.16 s with every object frozen (parity/core/collector.py; nothing here needs finalizing).
    gc.freeze()


def answer(compute, line):
    try:
        request = json.loads(line)
        directory = request["dir"]
        arrays = {}
        for name in OPERANDS:
            path = os.path.join(directory, name + ".npy")
            if os.path.exists(path):
                arrays[name] = np.load(path, allow_pickle=False)
        output = os.path.join(directory, "output.npy")
        np.save(output, np.ascontiguousarray(compute(request["call"], arrays)), allow_pickle=False)
        return {"status": "ok", "output": output}
    except Exception as error:  # the framework's refusal is the case's error, the worker lives on
        text = str(error).strip().splitlines()
        if getattr(error, "refused", False):  # parity.adapters.base.Refused: a skip with these words
            return {"status": "refused", "message": text[0] if text else ""}
        return {"status": "error", "message": "{}: {}".format(type(error).__name__, text[0] if text else "")[:500]}

"""What a framework does on the running machine, for adapters whose limits depend on the build and the CPU
(TensorFlow, Keras): which layout a route runs in here, and the one-line reason quoting a refusal. The
TensorFlow adapter learns both from the cases themselves (:func:`run_routed`); the Keras adapter probes a
small copy of each route (:func:`refusal`). (What a route accumulates in is measured by the runner:
:mod:`parity.running.accumulation`.)

Framework-free: the framework's call comes in as a function, so the logic is tested with fakes.
"""
from __future__ import annotations

import importlib
import importlib.util
import io
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from types import ModuleType
from typing import Callable, Hashable, Iterator

import numpy as np

from parity.adapters.base import Refused
from parity.core.dtypes import np_dtype
from parity.core.collector import paused
from parity.core.spec import ConvSpec

Compute = Callable[[ConvSpec, np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]


def tf_reason(error: BaseException, via: str = "") -> str:
    """``TensorFlow on CPU (<via>, <op>): '<first sentence of TF's message>'`` for a TF op error.

    TF wraps its message in ``{{function_node __wrapped__<kernel>_device_/job:.../device:CPU:0}}`` and
    ``[Op:<op>] name:``; Keras puts it, in bold, below "Exception encountered when calling <layer>.call()."
    Later sentences only restate the first (the format given, the depths found).
    """
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(error)).splitlines() if line.strip()]
    text = next((line for line in lines if "[Op:" in line), lines[0] if lines else type(error).__name__)
    device = re.search(r"device:([A-Z]+):\d", text)
    op = re.search(r"\[Op:(\w+)\]", text)
    words = re.sub(r"^\{\{.*?\}\}\s*", "", text).split(" [Op:")[0].strip()
    words = re.split(r"(?<=\.)\s", words, maxsplit=1)[0]
    where = f"TensorFlow on {device.group(1)}" if device else "TensorFlow"
    context = ", ".join(filter(None, (via, op and op.group(1))))
    return f"{where}{f' ({context})' if context else ''}: '{words}'"


def run_routed(spec: ConvSpec, route: Callable[[ConvSpec], Hashable], compute: Callable[[bool], np.ndarray],
               errors: type[BaseException] | tuple[type[BaseException], ...], via: str = "") -> np.ndarray:
    """``compute(channels_first)``: channels-first cases natively first, unless their ``route(spec)`` (the
    case's op, quantity, dtype, channels, kernel, strides, dilations and kind of padding; asked only of
    channels-first cases) was refused channels-first earlier in this process; then channels-last (the
    adapter converts the layout, as a user on this CPU must). A channels-last refusal raises
    :class:`Refused` quoting the framework (:func:`tf_reason`); only ``errors`` count as refusals: anything
    else is a bug and propagates."""
    key = route(spec) if spec.layout == "channels_first" else None
    if key is not None and key not in _REFUSED_CHANNELS_FIRST:
        try:
            return compute(True)
        except errors:
            _REFUSED_CHANNELS_FIRST.add(key)
    try:
        return compute(False)
    except errors as error:
        raise Refused(tf_reason(error, via)) from None


def channels_first_refused(route: Hashable) -> bool:
    """Whether this process saw ``route`` refused channels-first (its cases then run converted)."""
    return route in _REFUSED_CHANNELS_FIRST


_REFUSED_CHANNELS_FIRST: set[Hashable] = set()


def refusal(spec: ConvSpec, compute: Compute, errors: type[BaseException] | tuple[type[BaseException], ...],
            via: str = "") -> str | None:
    """None if ``compute`` runs ``spec`` (on ones), else :func:`tf_reason` of its refusal; only ``errors``
    count as refusals: anything else is a bug and propagates."""
    dtype = np_dtype(spec.dtype)
    x, w = (np.ones(shape, dtype) for shape in (spec.input_shape, spec.kernel_shape))
    try:
        with quiet_stderr():
            compute(spec, x, w, np.ones(spec.output_shape, dtype) if spec.quantity != "output" else None)
    except errors as error:
        return tf_reason(error, via)
    return None


def route_key(spec: ConvSpec, padding: str | tuple[tuple[int, int], ...]) -> ConvSpec:
    """The route of ``spec``: ``spec`` with ``padding`` on one image of max(dilated kernel, stride + 1)
    pixels per axis, where SAME pads differ from VALID's as they do in any case whose SAME pads are not
    VALID's; cases with equal keys take the same kernels of the framework."""
    spatial = tuple(max(span, s + 1) for span, s in zip(spec.dilated_kernel, spec.strides))
    return ConvSpec(**{**spec.as_dict(), "batch": 1, "spatial": spatial, "padding": padding, "output_padding": 0,
                       "distribution": "normal", "seed": 0})


@contextmanager
def quiet_stderr() -> Iterator[io.BufferedRandom]:
    """File descriptor 2 sent to a temporary file for the block (yielded, to read back): TensorFlow's C++
    lines ("oneDNN custom operations are on" at import, "oneDNN supports DT_HALF only on platforms with
    AVX-512" at the first float16 op) are written below Python and regardless of ``TF_CPP_MIN_LOG_LEVEL``,
    and would land in every parity run's terminal; parity reports TF's behaviour itself."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_import(name: str, without: tuple[str, ...] = ()) -> ModuleType:
    """``import name`` under :func:`quiet_stderr`; an import error keeps those lines in its message. The
    optional packages ``without`` that are not imported yet are kept out of this import (it sees them as not
    installed); they import normally afterwards."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr() as sink, paused(), _kept_out(without):
        try:
            return importlib.import_module(name)
        except ImportError as error:
            sink.seek(0)
            raise ImportError(f"{error} ({sink.read().decode(errors='replace').strip()[-500:]})") from None


def import_tensorflow() -> ModuleType:
    """TensorFlow, imported quietly without JAX: tensorflow-cpu 2.21's import loads JAX whenever it is
    installed (``tf.lite``'s util does ``from jax import jit`` for its JAX converter): a process that imports
    only TensorFlow peaked at 614 MiB and took 3.9 s, 506 MiB and 3.3 s without it (paired medians of 6).
    Keras, which TensorFlow also loads, stays in: TensorFlow reads Keras' location into ``tf.__path__`` during
    its import, and without it ``tensorflow.keras`` could never be imported in the process."""
    return import_without_jax("tensorflow")


def import_without_jax(name: str) -> ModuleType:
    """:func:`quiet_import` of ``name`` (TensorFlow, or Keras on TensorFlow) with JAX kept out; ``tf.lite``'s JAX
    converter then gets JAX's ``jit`` when it runs (:func:`_jit_when_converting`)."""
    module = quiet_import(name, without=("jax",))
    _jit_when_converting()
    return module


def _jit_when_converting() -> None:
    """``tf.lite``'s JAX converter binds ``jax.jit`` at TensorFlow's import (None when JAX was kept out, and
    then the converter refuses to run): where JAX is installed, a stand-in that imports it on the first call."""
    if importlib.util.find_spec("jax") is None:
        return
    for name in ("tensorflow.lite.python.util", "tensorflow.lite.python.lite"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "_jit", ...) is None:
            module._jit = _jax_jit


def _jax_jit(*args: object, **kwargs: object) -> object:
    from jax import jit

    return jit(*args, **kwargs)


@contextmanager
def _kept_out(names: tuple[str, ...]) -> Iterator[None]:
    """Within the block, ``import`` of the ``names`` not imported yet raises ImportError (a None entry in
    sys.modules); afterwards they are importable again. Process-wide: another thread importing one of them
    meanwhile finds it missing too."""
    blocked = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]

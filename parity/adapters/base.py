"""The backend interface: one small module per framework under ``parity/adapters/``.

An adapter module defines ``ADAPTER``, an object satisfying :class:`Adapter`. It must not import its
framework at module import time: ``available()`` answers from package metadata, and the framework is
imported on the first ``run``. Combinations a framework cannot compute are declared by ``supports``
(the reason becomes a skip). Where only the framework on the running machine knows (its limits depend on
its version, build and CPU), ``run`` raises :class:`Refused` with the framework's own words instead: also
a skip, never an error.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Final, Iterable, Protocol, runtime_checkable

import numpy as np

from parity.core.convert import KernelLayout
from parity.core.spec import ConvSpec


class Refused(Exception):
    """Raised by ``run`` when the framework refuses the case here; the message (the framework's words) is
    the skip's reason."""

    refused = True  # read by the worker protocol, which cannot import parity


@runtime_checkable
class Adapter(Protocol):
    name: str

    def available(self) -> str | None:
        """None if the framework can be imported here, else why not (with the install hint)."""

    def supports(self, spec: ConvSpec) -> str | None:
        """None if this backend can compute ``spec``, else the reason it cannot."""

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        """Compute the spec's quantity in its dtype from canonical ``x`` (N, C, *S), kernel ``w``
        ((O, C/g, *k), or (C_in, C_out/g, *k) for ``conv_transpose``) and, for ``grad_input`` /
        ``grad_weight``, the cotangent ``dy`` (N, O, *out); return it in canonical layout
        (``spec.result_shape``) as a numpy array of the case's dtype."""

    # Optional: ``accumulation(self, spec) -> str``, the dtype the backend sums products in for ``spec``, or
    # PROBE (see :func:`accumulation`); declare it when it is not :func:`default_accumulation`.
    # Optional: ``snippet(self, spec) -> Snippet``, the native call for ``parity translate``.
    # Optional: ``opt_in: str``, why the backend runs only where it is named (``--backends``,
    # ``--parity-backends``), e.g. the seconds it compiles for each geometry: see :func:`opt_in`.
    # Optional: ``known(self, spec) -> str | None``, a deviation the framework is known to have on ``spec`` (its
    # bug or its documented behaviour, with the evidence): see :func:`known_deviation`.
    # Optional: ``frameworks: tuple[str, ...]``, the top-level modules the backend runs on: every report records
    # the versions of the installed distributions that provide them (an adapter of another package without it:
    # that package's version). ``settings(self) -> dict``: the backend's own choices that change its numerics
    # (a graph-optimization level, a device, TF32, a compiler), recorded beside them.


@dataclass(frozen=True)
class Snippet:
    """Native code for one spec: ``lines`` read numpy ``x`` (``data_layout``) and ``w`` (``kernel_layout``)
    and assign numpy ``y`` in ``data_layout``; ``note`` explains a non-obvious translation."""

    imports: tuple[str, ...]
    data_layout: str
    kernel_layout: KernelLayout
    lines: tuple[str, ...]
    note: str = ""


# What ``accumulation(spec)`` returns when the type depends on the CPU, the build or the kernel a framework
# picks: the runner measures it on the running machine (see :mod:`parity.running.accumulation`).
PROBE: Final = "probe"


def default_accumulation(spec: ConvSpec) -> str:
    """What torch, JAX and ONNX Runtime do: float32 sums for float16/bfloat16 inputs, the dtype itself
    otherwise."""
    return "float32" if spec.dtype in ("float16", "bfloat16") else spec.dtype


def accumulation(adapter: Adapter, spec: ConvSpec) -> str:
    """The dtype ``adapter`` declares it accumulates ``spec`` in: its optional ``accumulation(spec)``
    method, else :func:`default_accumulation`. The comparison's error bound uses its unit roundoff."""
    declare = getattr(adapter, "accumulation", None)
    said = default_accumulation(spec) if declare is None else declare(spec)
    if said == PROBE:
        return said
    from parity.core.dtypes import canonical_name
    from parity.verdict.comparison import TAPS

    rule = (f"accumulation(spec) must return a dtype name (float16, bfloat16, float32, float64; the 16-bit ones "
            f"may end in {TAPS}) or PROBE, got {said!r}")
    try:
        name = canonical_name(said.removesuffix(TAPS)) if isinstance(said, str) else None
    except ValueError:
        name = None
    if name is None or said.endswith(TAPS) and name not in ("float16", "bfloat16"):
        raise ValueError(rule)
    return name + (TAPS if said.endswith(TAPS) else "")  # "half" is float16 in every report


def checked_reason(value: object, method: str) -> str | None:
    """An adapter's answer to ``available()`` or ``supports(spec)``: None (it can) or why not, in words;
    ``ValueError`` for anything else (42, False, an empty reason)."""
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise ValueError(f"{method} must return None or a reason string, got {value!r}")
    return value


def known_deviation(adapter: Adapter, spec: ConvSpec) -> str:
    """What ``adapter`` declares it is known to get wrong on ``spec`` ('' if nothing): its optional
    ``known(spec)``. The case still runs and is compared: a comparison that fails, or a run that raises, is
    reported as ``known`` (an expected failure, with its figures or the error); one that passes is a pass (data that cannot show the deviation,
    small integers for a bfloat16 rounding, passes). The evidence belongs in a test that pins the finding
    with its figure, so that the declaration cannot outlive the behaviour it describes."""
    declare = getattr(adapter, "known", None)
    said = declare(spec) if declare is not None else None
    if said is not None and not isinstance(said, str):
        raise ValueError(f"known(spec) must return None or a reason string, got {said!r}")
    return said or ""


def opt_in(adapter: Adapter) -> str:
    """Why ``adapter`` is left out of runs that do not name it ('' if it is not): its optional ``opt_in``."""
    return str(getattr(adapter, "opt_in", "") or "")


def first_refusal(checks: Iterable[tuple[bool, str]]) -> str | None:
    """The reason of the first (refused, reason) pair that is refused, or None: ``supports`` as a table."""
    return next((reason for refused, reason in checks if refused), None)


def missing_module(module: str, extra: str) -> str | None:
    """The standard 'framework not installed' reason, or None if ``module`` is importable."""
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install 'parity-conv[{extra}]')"
    return None

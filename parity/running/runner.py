"""Running cases: inputs and reference once per case, each backend once, then every comparison.

Nothing a backend does (raise, return garbage, return the wrong type) escapes as an exception: it
becomes that result's ``error`` or ``fail`` with the reason, and every other result is kept.
Each comparison's bound uses the accumulation type its backends declare; a comparison within a bound that
would also admit one of the case's mutated references is ``insensitive`` (see :mod:`parity.verdict.sensitivity`),
and results on integer cases carry the backend's arithmetic fingerprint (see :mod:`parity.verdict.fingerprint`).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from itertools import combinations
from typing import Callable, Iterable, Iterator

import numpy as np

from parity import adapters
from parity.adapters.base import Refused, checked_reason, known_deviation
from parity.verdict.comparison import Comparison, compare, total_bound
from parity.verdict.fingerprint import fingerprint
from parity.running.accumulation import call, declared, stated
from parity.core.inputs import cotangent, generate
from parity.reference.conv import Reference, reference
from parity.core.limits import memory_refusal
from parity.running.registry import Case
from parity.verdict.sensitivity import Mutant, indistinct, mutants, near
from parity.running.result import REFERENCE, Result, Status


@dataclass(frozen=True)
class Outcome:
    """What a backend produced for a case: an output, or the reason there is none."""

    output: np.ndarray | None
    status: Status
    reason: str = ""
    accumulation: str = ""  # what the adapter states (the default where it asks for a probe)
    probe: bool = False  # whether the runner may measure it instead (parity.running.accumulation)


class CaseRun:
    """Lazily computed inputs, reference and backend outputs of one case.

    With ``isolate`` (seconds), each backend runs in its own worker process with that per-case timeout.
    """

    def __init__(self, case: Case, isolate: float | None = None) -> None:
        self.case, self.isolate = case, isolate
        self._outcomes: dict[str, Outcome] = {}
        self._bounds: dict[tuple[str, ...], np.ndarray] = {}
        self._near: dict[tuple[str, ...], list[tuple[Mutant, float]]] = {}
        self._known: dict[str, str] = {}
        self._probed: dict[str, str] = {}

    @cached_property
    def inputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(x, w, dy): dy is the cotangent of gradient cases, None for outputs."""
        return (*generate(self.case.spec), cotangent(self.case.spec))

    @cached_property
    def reference(self) -> Reference:
        return reference(self.case.spec, *self.inputs)

    @cached_property
    def refusal(self) -> str:
        """Why the case is refused for memory, once for all its backends ('' if it fits)."""
        return memory_refusal(self.case.spec)

    def outcome(self, backend: str) -> Outcome:
        if backend not in self._outcomes:
            self._outcomes[backend] = Outcome(None, "skip", self.refusal) if self.refusal else \
                _execute(backend, self.case, self.inputs, self.isolate)
        return self._outcomes[backend]

    def known(self, backend: str) -> str:
        """The deviation ``backend`` declares for this case, asked only of a failing comparison: a declaration
        may compile the case again (OpenVINO reads its runtime model)."""
        if backend not in self._known:
            self._known[backend] = _known(adapters.get(backend), self.case)
        return self._known[backend]

    def probed(self, backend: str) -> str:
        """The accumulation the canaries show for ``backend`` on this case (measured once, when asked)."""
        if backend not in self._probed:
            self._probed[backend] = declared(backend, adapters.get(backend), self.case.spec, self.isolate)[0]
        return self._probed[backend]

    @cached_property
    def mutants(self) -> list[Mutant]:
        return mutants(self.case.spec, self.reference, *self.inputs)

    def bound(self, accumulations: tuple[str, ...]) -> np.ndarray:
        """The summed error bound of results accumulated in ``accumulations`` (cached per tuple)."""
        if accumulations not in self._bounds:
            self._bounds[accumulations] = total_bound(self.reference, self.case.spec.dtype, len(accumulations),
                                                      accumulations)
        return self._bounds[accumulations]

    def insensitivity(self, accumulations: tuple[str, ...], arrays: tuple[np.ndarray, np.ndarray],
                      widened: np.ndarray | None = None) -> str:
        """Why a comparison of ``arrays`` within this bound (``widened``, where repeated products widened it)
        could not have failed ('' if it could): the bound admits a mutant, or rejects one by so little that the
        result is not much closer to what it is compared with than to it (:mod:`parity.verdict.sensitivity`)."""
        spec, bound, computations = self.case.spec, self.bound(accumulations), len(accumulations)
        if widened is not None:
            nearest = near(self.mutants, self.reference, spec.dtype, widened, computations)
            return indistinct(nearest, *arrays, widened, spec.dtype, self.reference.value, computations)
        if accumulations not in self._near:
            self._near[accumulations] = near(self.mutants, self.reference, spec.dtype, bound, computations)
        return indistinct(self._near[accumulations], *arrays, bound, spec.dtype, self.reference.value, computations)

    def against_reference(self, backend: str) -> Result:
        outcome = self.outcome(backend)
        if outcome.output is None:
            return self._result(backend, REFERENCE, outcome.status, outcome.reason)
        return self._compared(backend, REFERENCE, [backend], (outcome.output, self.reference.value), True)

    def between(self, first: str, second: str) -> Result:
        outcomes = [(name, self.outcome(name)) for name in (first, second)]
        for name, outcome in outcomes:
            if outcome.output is None:
                return self._result(first, second, "skip", f"{name} has no output ({outcome.status}: {outcome.reason})")
        return self._compared(first, second, [first, second], (outcomes[0][1].output, outcomes[1][1].output), False)

    def _compared(self, backend: str, against: str, names: list[str], arrays: tuple[np.ndarray, np.ndarray],
                  fingerprinted: bool) -> Result:
        """The comparison under the stated accumulations; where it fails, or its fingerprint names 16-bit
        sums, again under the probed ones of the sides that ask for a probe. A bound only widens with a
        16-bit accumulation, so a comparison that passes stated would pass probed: the probe's cost is paid
        only where it can change a verdict, and each comparison decides alone (order-independent)."""
        outcomes = [self.outcome(name) for name in names]
        dtype = self.case.spec.dtype
        accumulations, probed = tuple(o.accumulation for o in outcomes), (False,) * len(names)
        probes = any(o.probe for o in outcomes)  # then a failure is judged again: count repeats only there
        comparison = self._compare(arrays, accumulations, count_repeats=not probes)
        label = self._fingerprint(arrays[0]) if fingerprinted and comparison.kind in ("ok", "bound") else None
        sixteen = bool(label) and label.startswith(dtype) and label != f"{accumulations[0]} accumulation"
        if probes and (not comparison.passed or sixteen):
            probed = tuple(o.probe for o in outcomes)
            accumulations = tuple(self.probed(n) if p else a for n, p, a in zip(names, probed, accumulations))
            comparison = self._compare(arrays, accumulations)
        return self._from_comparison(backend, against, comparison, accumulations, probed, label, arrays, names)

    def _fingerprint(self, output: np.ndarray) -> str | None:
        return fingerprint(self.case.spec, self.reference, output, [a for a in self.inputs if a is not None],
                           lambda: self.mutants)

    def _compare(self, arrays: tuple[np.ndarray, np.ndarray], accumulations: tuple[str, ...],
                 count_repeats: bool = True) -> Comparison:
        expected = arrays[1] if len(accumulations) == 2 else None
        return compare(arrays[0], self.reference, self.case.spec.dtype, expected=expected,
                       computations=len(accumulations), accumulation=accumulations, bound=self.bound(accumulations),
                       count_repeats=count_repeats)

    def _result(self, backend: str, against: str, status: Status, reason: str) -> Result:
        return Result(self.case.id, self.case.spec, backend, against, status, reason)

    def _from_comparison(self, backend: str, against: str, c: Comparison, accumulations: tuple[str, ...],
                         probed: tuple[bool, ...], label: str | None, arrays: tuple[np.ndarray, np.ndarray],
                         names: list[str]) -> Result:
        status, reason, picture = c.status, c.reason, None
        if c.passed or c.status == "insensitive":
            reason = self.insensitivity(accumulations, arrays, c.bound) or (f"insensitive: {c.reason}" if c.reason else "")
            status = "insensitive" if reason else "pass"
        elif c.kind in ("bound", "nonfinite"):
            picture = error_map(*arrays)
        known = "; ".join(filter(None, map(self.known, names))) if status == "fail" else ""
        if known:
            status, reason = "known", f"known: {known}; {c.reason}"
        shown = "+".join(a + (" (probed)" if p else "") for a, p in zip(accumulations, probed))
        return Result(self.case.id, self.case.spec, backend, against, status, reason, c.max_abs, c.max_rel, c.max_ulp,
                      c.bound_ratio, c.worst_index, shown, label, picture)


def error_map(actual: np.ndarray, target: np.ndarray, channels: int = 64) -> str:
    """Base64 PNG of |actual - target| per output channel (the first ``channels``), drawn when a comparison
    fails, so that reports show what the run saw without running anything again."""
    import base64

    from parity.core import png

    error = np.asarray(actual, np.float64) - np.asarray(target, np.float64)
    return base64.b64encode(png.encode(png.error_map(error[:, :channels]))).decode("ascii")


def _execute(backend: str, case: Case, inputs: tuple[np.ndarray, np.ndarray, np.ndarray | None],
             isolate: float | None) -> Outcome:
    # Copies, so that a backend writing into its inputs cannot corrupt the reference; dy only for
    # gradients, so that output-only adapters may take (spec, x, w).
    operands = [a.copy() for a in inputs if a is not None]
    adapter = None
    try:
        adapter = adapters.get(backend)
        reason = (checked_reason(adapter.available(), "available()")
                  or checked_reason(adapter.supports(case.spec), "supports(spec)"))
        if reason:
            return Outcome(None, "skip", reason)
        summed_in, probe = stated(adapter, case.spec)
        output = call(backend, adapter, case.spec, operands, isolate)
    except Refused as refused:  # the framework's refusal on this machine, in its words
        return Outcome(None, "skip", str(refused))
    except (Exception, SystemExit) as error:  # a backend failing (even by sys.exit) is a result, not a crash
        known = _known(adapter, case) if adapter is not None else ""
        return Outcome(None, "known", f"known: {known}; {_one_line(error)}") if known else \
            Outcome(None, "error", _one_line(error))
    if not isinstance(output, np.ndarray):
        return Outcome(None, "error", f"run() must return a numpy array, got {type(output).__name__}")
    return Outcome(output, "pass", "", summed_in, probe)


def _known(adapter: adapters.Adapter, case: Case) -> str:
    try:
        return known_deviation(adapter, case.spec)
    except Exception:  # a broken declaration declares nothing: a failure stays a failure
        return ""


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    if isinstance(error, SystemExit):
        text = [f"the backend called sys.exit({error.code!r})"]
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]


def pairs(backends: list[str]) -> list[tuple[str, str]]:
    return list(combinations(backends, 2))


def run_case(case: Case, backends: list[str], isolate: float | None = None) -> list[Result]:
    """Each backend against the reference, then every backend pair, for one case."""
    run = CaseRun(case, isolate)
    results = [run.against_reference(b) for b in backends]
    return results + [run.between(a, b) for a, b in pairs(backends)]


def run(cases: Iterable[Case], backends: list[str], progress: Callable[[int, Case], None] | None = None,
        isolate: float | None = None) -> Iterator[Result]:
    """Results for every case; ``progress(i, case)`` is called before each case."""
    for i, case in enumerate(cases):
        if progress:
            progress(i, case)
        yield from run_case(case, backends, isolate)

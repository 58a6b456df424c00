"""pytest plugin (entry point ``pytest11``): parametrizes tests over cases, backends and backend pairs,
attaches each comparison's figures to its test report (so they survive pytest-xdist and land in JUnit
XML as properties), and prints the per-pair summary table at the end of the run.

Fixtures: ``parity_case`` (a :class:`~parity.registry.Case`), ``parity_backend`` (a backend name),
``parity_pair`` (two backend names), ``parity_session`` and ``parity_verify``.
"""
from __future__ import annotations

import json
import os
from collections import OrderedDict
from itertools import combinations
from typing import Callable

import pytest

from parity.registry import TIERS, Case, collect
from parity.runner import CaseRun, Result

_PROPERTY = "parity"
_SESSION = pytest.StashKey["ParitySession"]()
_CACHE_SIZE = 16


class ParitySession:
    """Per-process state: chosen tier and backends, cached case runs, and the results seen in reports."""

    def __init__(self, config: pytest.Config) -> None:
        from parity import adapters

        self.tier: str = config.getoption("parity_tier")
        self.isolate: float | None = config.getoption("parity_timeout") if config.getoption("parity_isolate") else None
        self.backends: list[str] = adapters.parse(config.getoption("parity_backends"))
        self.results: list[Result] = []
        self._runs: OrderedDict[str, CaseRun] = OrderedDict()
        self._cases: list[Case] | None = None
        self.unreadable: dict[str, str] = {}

    @property
    def cases(self) -> list[Case]:
        """The tier's cases, then one placeholder per unreadable recording (its tests fail with the reason)."""
        if self._cases is None:
            from parity import recorded

            where = recorded.folder()
            unreadable = recorded.scan(where)[1] if where else []
            self.unreadable = {recorded.case_id(bad.path): bad.reason for bad in unreadable}
            self._cases = collect(self.tier) + [Case(name, None) for name in self.unreadable]
        return self._cases

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == _PROPERTY:
                self.results.append(Result.from_dict(json.loads(value)))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.results:
            from parity.report import format_table, summarize

            terminalreporter.section("parity summary")
            terminalreporter.write_line(format_table(summarize(self.results)))

    def run(self, case: Case) -> CaseRun:
        """The (cached) run of ``case``, shared by its reference and pair tests in this process."""
        if case.id in self.unreadable:
            pytest.fail(f"{case.id}: unreadable recording: {self.unreadable[case.id]}", pytrace=False)
        if case.id not in self._runs:
            self._runs[case.id] = CaseRun(case, self.isolate)
            if len(self._runs) > _CACHE_SIZE:
                self._runs.popitem(last=False)
        self._runs.move_to_end(case.id)
        return self._runs[case.id]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "cross-framework convolution parity")
    group.addoption("--parity-backends", metavar="A,B", default=None,
                    help="comma-separated backends to test (default: every installed backend)")
    group.addoption("--parity-tier", default="default", choices=TIERS,
                    help="case tier to parametrize over (default: default)")
    group.addoption("--parity-isolate", action="store_true",
                    help="run each backend in its own worker process: a hang or crash fails one test (default: off)")
    group.addoption("--parity-timeout", type=float, default=120.0,
                    help="per-case timeout of an isolated backend in seconds (default: 120)")
    group.addoption("--parity-recorded", metavar="DIR", default=None,
                    help="also the recordings in DIR as cases (default: none, or $PARITY_RECORDED)")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        # xdist runs one worker per core: framework thread pools of one thread each avoid oversubscription
        # (measured on 2 cores, -n 2, default tier: 22.9 s with default pools, 14.9 s with one thread).
        for variable in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(variable, "1")
    try:
        if config.getoption("parity_recorded") is not None:
            from parity import recorded

            recorded.use(config.getoption("parity_recorded"), "--parity-recorded")
        session = ParitySession(config)
    except ValueError as error:
        raise pytest.UsageError(f"parity: {error}") from None
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "parity-session")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash[_SESSION]
    names = metafunc.fixturenames
    pairs = list(combinations(session.backends, 2))
    if "parity_pair" in names and not pairs:
        # One clear skip instead of one "empty parameter set" per case.
        reason = f"backend pairs need at least two backends, got {session.backends}"
        skipped = [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-pairs")]
        for name in ("parity_case", "parity_pair"):
            if name in names:
                metafunc.parametrize(name, skipped if name == "parity_pair" else [None], ids=[""])
        return
    if "parity_case" in names:
        metafunc.parametrize("parity_case", session.cases, ids=[c.id for c in session.cases])
    if "parity_backend" in names:
        metafunc.parametrize("parity_backend", session.backends)
    if "parity_pair" in names:
        metafunc.parametrize("parity_pair", pairs, ids=[f"{a}-vs-{b}" for a, b in pairs])


@pytest.fixture(scope="session")
def parity_session(request: pytest.FixtureRequest) -> ParitySession:
    return request.config.stash[_SESSION]


@pytest.fixture
def parity_verify(request: pytest.FixtureRequest) -> Callable[[Result], None]:
    """Record a result on the test's report, then skip or fail the test as the result says."""

    def verify(result: Result) -> None:
        request.node.user_properties.append((_PROPERTY, json.dumps(result.as_dict())))
        if result.status == "skip":
            pytest.skip(result.reason)
        if result.status in ("fail", "error"):
            pytest.fail(failure_message(result, request.config.stash[_SESSION].tier), pytrace=False)

    return verify


def failure_message(result: Result, tier: str) -> str:
    """The failure plus the exact commands that reproduce it."""
    from parity.report import reproduce

    head = f"{result.case}: {result.backend} vs {result.against}: {result.status}: {result.reason}"
    return "\n".join([head, *reproduce(result, tier)])

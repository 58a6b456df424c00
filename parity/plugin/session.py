"""The pytest plugin's per-process state (:mod:`parity.plugin`): options, cases and backends on first use,
cached case runs, the results every item recorded, and the session's end: baselines, the JSON report and the
terminal summary."""
from __future__ import annotations

import json
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

import pytest

from parity.core.wording import counted
from parity.running import ISOLATE_TIMEOUT

if TYPE_CHECKING:
    from parity.running.registry import Case
    from parity.running.runner import CaseRun
    from parity.running.result import Result

PROPERTY = "parity"  # the name of the user property that carries a result on a test report
_CACHE_SIZE = 16


class ParitySession:
    """Per-process state: options, cases and backends (on first use), cached case runs, seen results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tier: str = config.getoption("parity_tier")
        self.isolate: float | None = ((config.getoption("parity_timeout") or ISOLATE_TIMEOUT)
                                      if config.getoption("parity_isolate") else None)
        self.results: list["Result"] = []
        self._recorded: set["Result"] = set()
        self.unreadable: dict[str, str] = {}
        self.verdict: Any = None
        self.saved: dict[str, Any] | None = None  # the --parity-baseline document
        self.environment_recorded = False
        self._runs: OrderedDict[str, "CaseRun"] = OrderedDict()
        self._cases: list["Case"] | None = None
        self._backends: list[str] | None = None
        self._declared: Counter[tuple[str, str]] | None = None
        self._refusals: dict[tuple[str, str], str] = {}
        self._unavailable: dict[str, str] = {}
        self._environment: dict[str, Any] | None = None
        self.nothing = ""  # why the session fails for having compared nothing
        self.selected = 0  # selected items that ask for parity_case (the largest count a worker reports)
        self.generated = 0  # the items parametrized with a case, before any selection (-k, -m, node ids)
        self.kinds: set[bool] = set()  # what the tests compare: True against the reference (parity_backend), False pairs

    @property
    def backends(self) -> list[str]:
        if self._backends is None:
            from parity import adapters

            self._backends = adapters.parse(self.config.getoption("parity_backends"), "--parity-backends")
            if self.saved is not None and self.config.getoption("parity_backends") is None:
                from parity.report import baseline

                self._backends = baseline.with_saved_backends(self.saved, self._backends, adapters.names())
        return self._backends

    @property
    def cases(self) -> list["Case"]:
        """The tier's cases, then one placeholder per unreadable recording (its tests fail with the reason)."""
        if self._cases is None:
            from parity.adapters.legacy import recordings as recorded
            from parity.running.registry import Case, collect

            where = recorded.folder()
            unreadable = recorded.scan(where)[1] if where else []
            self.unreadable = {recorded.case_id(bad.path): bad.reason for bad in unreadable}
            self._cases = collect(self.tier) + [Case(name, None) for name in self.unreadable]
        return self._cases

    def refusal(self, case: "Case", backend: str) -> str:
        """Why ``backend`` cannot run ``case`` ('' if it can, or if asking raised: that is the item's error);
        asked once per case and backend (collection and the declared counts ask the same)."""
        key = (case.id, backend)
        if key not in self._refusals:
            self._refusals[key] = self._refusal(case, backend)
        return self._refusals[key]

    def _refusal(self, case: "Case", backend: str) -> str:
        from parity import adapters
        from parity.core import limits
        from parity.adapters.base import checked_reason

        if case.spec is None:
            return ""
        try:
            adapter = adapters.get(backend)
            if backend not in self._unavailable:  # a search of sys.path per call: once per backend
                self._unavailable[backend] = checked_reason(adapter.available(), "available()") or ""
            return (limits.memory_refusal(case.spec) or self._unavailable[backend]
                    or checked_reason(adapter.supports(case.spec), "supports(spec)") or "")
        except (Exception, SystemExit):
            return ""

    @property
    def declared(self) -> Counter[tuple[str, str]]:
        """(backend, reason) -> how many cases it declared unsupported (not collected as items)."""
        if self._declared is None:
            self._declared = Counter((b, reason) for case in self.cases for b in self.backends
                                     if (reason := self.refusal(case, b)))
        return self._declared

    def declared_meta(self) -> dict[str, Any]:
        """The declared-unsupported counts as the JSON report stores them and every summary prints them
        (:func:`parity.report.text.format_declared`): the tier's, which -k, -m or node ids may narrow
        (``scope`` says whether they did: a combination never collected cannot be selected)."""
        return {"tier": self.tier,
                "declared_unsupported": [{"backend": b, "reason": r, "cases": n} for (b, r), n in sorted(self.declared.items())],
                "declared_unsupported_scope": "tier" if self.selected < self.generated else "selection",
                "parity_tests": {"selected": self.selected, "parametrized": self.generated}}

    @property
    def environment(self) -> dict[str, Any]:
        """What ran the suite (from an xdist worker when there are workers: the controller imports no
        framework of its own)."""
        if self._environment is None:
            from parity.running import environment

            self._environment = environment.describe(self.backends, self.isolate)
        return self._environment

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Case-major order: a case's items run one after the other, so that its inputs,
        reference, mutants and outputs are computed once (the run cache keeps the last few cases)."""
        slots = [i for i, item in enumerate(items) if _case_of(item) is not None]
        if not slots:
            return
        order = {case.id: index for index, case in enumerate(self.cases)}
        chosen = sorted((items[i] for i in slots), key=lambda item: order.get(_case_of(item).id, -1))
        for slot, item in zip(slots, chosen):
            items[slot] = item

    @pytest.hookimpl(optionalhook=True)  # an xdist hook: pytest without xdist has no such spec
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: the declared-unsupported counts and the environment come from a worker."""
        output = getattr(node, "workeroutput", {})
        if self._declared is None and "parity_declared" in output:
            self._declared = Counter({(b, r): n for b, r, n in output["parity_declared"]})
        if self._environment is None and "parity_environment" in output:
            self._environment = output["parity_environment"]
        self.selected = max(self.selected, output.get("parity_selected", 0))
        if output.get("parity_refused"):
            from parity.running.result import Result

            for result in output["parity_refused"]:
                self._record(Result.from_dict(result))
        self.generated = max(self.generated, output.get("parity_generated", 0))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.selected = sum("parity_case" in getattr(item, "fixturenames", ()) for item in session.items)

    def run(self, case: "Case") -> "CaseRun":
        """The (cached) run of ``case``, shared by its items in this process."""
        from parity.core import collector
        from parity.running.runner import CaseRun

        if case.id in self.unreadable:
            pytest.fail(f"{case.id}: unreadable recording: {self.unreadable[case.id]}", pytrace=False)
        if case.id not in self._runs:
            collector.own_process()
            self._runs[case.id] = CaseRun(case, self.isolate)
            if len(self._runs) > _CACHE_SIZE:
                self._runs.popitem(last=False)
        self._runs.move_to_end(case.id)
        return self._runs[case.id]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                from parity.running.result import Result

                self._record(Result.from_dict(json.loads(value)))

    def _record(self, result: "Result") -> None:
        if result not in self._recorded:  # two tests may record one comparison: it is one result
            self._recorded.add(result)
            self.results.append(result)

    def refused(self) -> list["Result"]:
        """A skip, with the refusal, for each baseline comparison that a backend refuses now (not installed,
        or the case declared unsupported): never collected, it would otherwise vanish from the baseline check
        instead of drifting, as it does in ``parity run``. Only for cases that ran here (an item recorded a
        result: what -k, -m, node ids, -x or an interruption left out is new or vanished, as in ``parity
        run``), only for the kinds of comparison its tests ask for (:attr:`kinds`), and only where both backends
        of a pair are chosen."""
        from parity.report import baseline
        from parity.running.result import REFERENCE, Result

        ran, chosen = {result.case for result in self.results}, set(self.backends)
        cases, found = {case.id: case for case in self.cases if case.id in ran}, []
        for name in (self.saved or {}).get("comparisons", {}):
            case_id, backend, against = baseline.parse_key(name)
            case = cases.get(case_id)
            sides = (backend,) if against == REFERENCE else (backend, against)
            if case is None or (against == REFERENCE) not in self.kinds or not chosen.issuperset(sides):
                continue
            refused = [(side, reason) for side in sides if (reason := self.refusal(case, side))]
            if refused:
                side, reason = refused[0]
                why = reason if against == REFERENCE else f"{side} has no output (skip: {reason})"
                found.append(Result(case.id, case.spec, backend, against, "skip", why))
        return found

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["parity_selected"] = self.selected
            self.config.workeroutput["parity_generated"] = self.generated
            if self._cases is not None:  # this worker collected parity items: hand the controller its figures
                self.config.workeroutput["parity_declared"] = [[b, r, n] for (b, r), n in self.declared.items()]
                # plain JSON types only: execnet cannot send, e.g., torch's TorchVersion (a str subclass)
                self.config.workeroutput["parity_environment"] = json.loads(json.dumps(self.environment, default=str))
                self.config.workeroutput["parity_refused"] = [r.as_dict() for r in self.refused()]
            return
        if self._cases is not None:  # -n 0: this process collected
            for result in self.refused():
                self._record(result)
        option = self.config.option
        ran = not (option.collectonly or getattr(option, "setuponly", False) or getattr(option, "setupplan", False))
        if ran and self.selected and not any(r.decisive for r in self.results):
            self.nothing = (f"parity: a session must compare at least one output, got {counted(self.selected, 'parity test')} "
                            f"selected and {counted(len(self.results), 'comparison')}, all skipped or insensitive")
            session.exitstatus = max(session.exitstatus, pytest.ExitCode.TESTS_FAILED)
        if not self.results:
            return
        from parity.core import collector
        from parity.report import baseline

        collector.own_process()  # an xdist controller holds every result: its exit collects once, then freezes
        env = self.environment
        saving, against = self.config.getoption("parity_save_baseline"), self.config.getoption("parity_baseline")
        if saving:
            stopped = {"partial": True} if session.exitstatus == pytest.ExitCode.INTERRUPTED or session.shouldstop \
                or session.shouldfail else {}  # Ctrl-C, -x, --maxfail: some comparisons never ran
            document = baseline.snapshot(self.results, env, {"tier": self.tier, "backends": self.backends, **stopped})
            _write(saving, json.dumps(document, indent=1) + "\n")
        if against:
            saved = baseline.load(against)
            self.verdict = baseline.compare(saved, self.results), saved.get("environment", {}), env
            if self.verdict[0].drifts and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if self.config.getoption("parity_json"):
            from parity.report import stored

            meta = {"backends": self.backends, "environment": env, **self.declared_meta()}
            _write(self.config.getoption("parity_json"), stored.json_text(self.results, meta))

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """An xdist worker exits after this, and the controller waits for it: with the frameworks loaded,
        pytest's two collections at unconfigure and the interpreter's at exit took 1.2 s, 0.6 s after one
        collection and a freeze (parity.core.collector). A process that may live on (-n 0, or pytest run
        in-process) collects and freezes at its exit."""
        if hasattr(config, "workerinput") and self._runs:
            from parity.core import collector

            collector.collect_and_freeze()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.nothing:
            terminalreporter.write_line(self.nothing, red=True)
        if not self.results:
            return
        from parity.running.environment import headline
        from parity.report.text import format_declared, format_fingerprints, format_table, summarize

        write = terminalreporter.write_line
        terminalreporter.section("parity summary")
        write(format_table(summarize(self.results), most=None if self.config.getoption("parity_full") else 30))
        write(format_fingerprints(self.results))
        for line in format_declared(self.declared_meta()):
            write(line)
        write(f"environment: {headline(self.environment)}")
        if self.verdict is not None:
            from parity.report import baseline

            for line in baseline.format_verdict(*self.verdict):
                write(line)


def _write(path: str, text: str) -> None:
    from parity.core.files import write_atomic

    write_atomic(path, text)


def _case_of(item: pytest.Item) -> "Case | None":
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("parity_case")
    return case if hasattr(case, "spec") else None

"""pytest plugin (entry point ``pytest11``): parametrizes tests over cases, backends and backend pairs,
attaches each comparison's figures to its test report (so they survive pytest-xdist and land in JUnit
XML as properties), and prints the per-pair summary table at the end of the run.

Fixtures: ``parity_case`` (a :class:`~parity.running.registry.Case`), ``parity_backend`` (a backend name),
``parity_pairs`` (the (first, second) backend pairs of one item: one backend with each backend before it that
runs the case), ``parity_session`` and ``parity_verify``. A test asking for all three of the first gets one
item per case and backend, carrying that backend's pairs (the regression suite: the fewer items, the less
pytest's per-item cost).

The plugin is inert in a project that does not use these fixtures: it only adds its options. Cases are
collected, adapters imported and thread variables set when a test first asks for a parity fixture.
Combinations a backend declares unsupported are not test items: they are counted per backend and reason
in the summary (and ``--parity-json``). Each item carries an ``xdist_group`` mark per case, so that
``--dist loadgroup`` keeps a case's items on one worker, which computes its reference once.
"""
from __future__ import annotations

import json
import os
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from parity.running.registry import Case
    from parity.running.runner import CaseRun, Result

TIERS = ("smoke", "default", "full")  # parity.running.registry.TIERS, without importing numpy into every project

_PROPERTY = "parity"
_SESSION = pytest.StashKey["ParitySession"]()
_CACHE_SIZE = 16
_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
            "TF_NUM_INTEROP_THREADS")
_LIMITED = pytest.StashKey[bool]()


class ParitySession:
    """Per-process state: options, cases and backends (on first use), cached case runs, seen results."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tier: str = config.getoption("parity_tier")
        self.isolate: float | None = config.getoption("parity_timeout") if config.getoption("parity_isolate") else None
        self.results: list["Result"] = []
        self._recorded: set["Result"] = set()
        self.unreadable: dict[str, str] = {}
        self.verdict: Any = None
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

    @property
    def backends(self) -> list[str]:
        if self._backends is None:
            from parity import adapters

            self._backends = adapters.parse(self.config.getoption("parity_backends"))
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
        from parity.running import runner

        if case.spec is None:
            return ""
        try:
            adapter = adapters.get(backend)
            if backend not in self._unavailable:  # a search of sys.path per call: once per backend
                self._unavailable[backend] = adapter.available() or ""
            return (runner.memory_refusal(case.spec) or self._unavailable[backend]
                    or runner.checked_reason(adapter.supports(case.spec), "supports(spec)") or "")
        except (Exception, SystemExit):
            return ""

    @property
    def declared(self) -> Counter[tuple[str, str]]:
        """(backend, reason) -> how many cases it declared unsupported (not collected as items)."""
        if self._declared is None:
            self._declared = Counter((b, reason) for case in self.cases for b in self.backends
                                     if (reason := self.refusal(case, b)))
        return self._declared

    @property
    def environment(self) -> dict[str, Any]:
        """What ran the suite (from an xdist worker when there are workers: the controller imports no
        framework of its own)."""
        if self._environment is None:
            from parity.running import environment

            self._environment = environment.describe(self.backends)
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
            if name == _PROPERTY:
                from parity.running.runner import Result

                result = Result.from_dict(json.loads(value))
                if result not in self._recorded:  # two tests may record one comparison: it is one result
                    self._recorded.add(result)
                    self.results.append(result)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):
            self.config.workeroutput["parity_selected"] = self.selected
            if self._cases is not None:  # this worker collected parity items: hand the controller its figures
                self.config.workeroutput["parity_declared"] = [[b, r, n] for (b, r), n in self.declared.items()]
                # plain JSON types only: execnet cannot send, e.g., torch's TorchVersion (a str subclass)
                self.config.workeroutput["parity_environment"] = json.loads(json.dumps(self.environment, default=str))
            return
        option = self.config.option
        ran = not (option.collectonly or getattr(option, "setuponly", False) or getattr(option, "setupplan", False))
        if ran and self.selected and not any(r.decisive for r in self.results):
            self.nothing = (f"parity: a session must compare at least one output, got {self.selected} parity tests "
                            f"selected and {len(self.results)} comparisons, all skipped or insensitive")
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

            meta = {"tier": self.tier, "backends": self.backends, "environment": env,
                    "declared_unsupported": [{"backend": b, "reason": r, "cases": n}
                                             for (b, r), n in sorted(self.declared.items())]}
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
        from parity.report.text import format_fingerprints, format_table, summarize

        write = terminalreporter.write_line
        terminalreporter.section("parity summary")
        write(format_table(summarize(self.results), most=None if self.config.getoption("parity_full") else 30))
        write(format_fingerprints(self.results))
        write(f"declared unsupported (not collected): {sum(self.declared.values())} case x backend combinations")
        for (backend, reason), count in sorted(self.declared.items(), key=lambda item: -item[1])[:20]:
            write(f"  {count:6d}  {backend}: {reason}")
        write(f"environment: {headline(self.environment)}")
        if self.verdict is not None:
            from parity.report import baseline

            for line in baseline.format_verdict(*self.verdict):
                write(line)


def _check_outputs(config: pytest.Config) -> None:
    """The files the session will write, checked before any test runs (as ``parity run`` checks its own)."""
    outputs = {"--parity-json": config.getoption("parity_json"),
               "--parity-save-baseline": config.getoption("parity_save_baseline")}
    if not any(outputs.values()):
        return
    from parity.core import files

    for flag, path in outputs.items():
        files.check_writable(path, flag)
    files.check_distinct(outputs, {"--parity-baseline": config.getoption("parity_baseline")})


def _write(path: str, text: str) -> None:
    from parity.core.files import write_atomic

    write_atomic(path, text)


def _seconds(text: str) -> float:
    """--parity-timeout's type: parity.cli.common.seconds, imported only when the option is given."""
    from parity.cli.common import seconds

    return seconds(text)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "cross-framework convolution parity")
    group.addoption("--parity-backends", metavar="A,B", default=None,
                    help="comma-separated backends to test (default: every installed backend)")
    group.addoption("--parity-tier", default="default", choices=TIERS,
                    help="case tier to parametrize over (default: default)")
    group.addoption("--parity-isolate", action="store_true",
                    help="run each backend in its own worker process: a hang or crash fails one test (default: off)")
    group.addoption("--parity-timeout", type=_seconds, default=120.0,
                    help="per-case timeout of an isolated backend in seconds (default: 120)")
    group.addoption("--parity-recorded", metavar="DIR", default=None,
                    help="also the recordings in DIR as cases (default: none, or $PARITY_RECORDED)")
    group.addoption("--parity-baseline", metavar="FILE", default=None,
                    help="compare with a baseline saved by --parity-save-baseline or parity run --save-baseline; "
                         "drift fails the session (default: none)")
    group.addoption("--parity-save-baseline", metavar="FILE", default=None,
                    help="save every comparison's figures and the environment (default: none)")
    group.addoption("--parity-json", metavar="FILE", default=None,
                    help="write the results, the environment and the declared-unsupported counts (default: none)")
    group.addoption("--parity-full", action="store_true", help="print every summary row (default: the 30 most "
                    "concerning)")


def pytest_configure(config: pytest.Config) -> None:
    try:
        if config.getoption("parity_recorded") is not None:
            from parity.adapters.legacy import recordings as recorded

            recorded.use(config.getoption("parity_recorded"), "--parity-recorded")
        session = ParitySession(config)
        if config.getoption("parity_backends") is not None:
            session.backends  # a bad explicit value is a usage error now, not at collection
        if config.getoption("parity_baseline"):
            from parity.report import baseline

            saved = baseline.load(config.getoption("parity_baseline"))
            baseline.check_comparable(saved, config.getoption("parity_tier"), "--parity-baseline")
        if not hasattr(config, "workerinput"):
            _check_outputs(config)
    except ValueError as error:
        raise pytest.UsageError(f"parity: {error}") from None
    config.stash[_SESSION] = session
    config.pluginmanager.register(session, "parity-session")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = set(metafunc.fixturenames) & {"parity_case", "parity_backend", "parity_pairs"}
    if not names:
        return
    session = metafunc.config.stash[_SESSION]
    _first_use(metafunc.config)
    try:
        cases, backends = session.cases, session.backends
    except ValueError as error:
        raise pytest.UsageError(f"parity: {error}") from None
    if names == {"parity_case", "parity_backend"}:
        combos = [(c, b) for c in cases for b in backends if not session.refusal(c, b)]
        metafunc.parametrize(("parity_case", "parity_backend"), [_param((c, b), c, f"{c.id}-{b}") for c, b in combos])
    elif names >= {"parity_case", "parity_pairs"}:
        _parametrize_pairs(metafunc, session, cases, backends, "parity_backend" in names)
    else:
        raise pytest.UsageError(f"parity: a test must ask for parity_case with parity_backend, parity_pairs or both, "
                                f"got {metafunc.function.__name__} asking for {', '.join(sorted(names))}")


def _parametrize_pairs(metafunc: pytest.Metafunc, session: ParitySession, cases: list["Case"],
                       backends: list[str], with_backend: bool) -> None:
    """One item per case and backend that runs it (``with_backend``; else only those after another one): it
    carries the pairs of that backend with every earlier backend (in ``--parity-backends`` order) that runs
    the case, so that items grow like the backends, not like their pairs."""
    if len(backends) < 2 and not with_backend:  # one clear skip instead of an empty parameter set
        reason = f"backend pairs need at least two backends, got {backends}"
        metafunc.parametrize(("parity_case", "parity_pairs"), [pytest.param(
            None, None, marks=pytest.mark.skip(reason=reason), id="no-pairs")])
        return
    params = []
    for case in cases:
        running = [b for b in backends if not session.refusal(case, b)]
        params += [_param((case, *([b] if with_backend else []), tuple((a, b) for a in running[:i])), case,
                          f"{case.id}-{b}") for i, b in enumerate(running) if i or with_backend]
    metafunc.parametrize(("parity_case", *(["parity_backend"] if with_backend else []), "parity_pairs"), params)


def _case_of(item: pytest.Item) -> "Case | None":
    params = getattr(getattr(item, "callspec", None), "params", {})
    case = params.get("parity_case")
    return case if hasattr(case, "spec") else None


def _param(values: tuple, case: "Case", ident: str) -> Any:
    return pytest.param(*values, id=ident, marks=pytest.mark.xdist_group(case.id))


def _first_use(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") and not config.stash.get(_LIMITED, False):
        config.stash[_LIMITED] = True
        # xdist runs one worker per core: framework thread pools of one thread each avoid oversubscription
        # (measured on 2 cores, -n 2, default tier: 22.9 s with default pools, 14.9 s with one thread).
        for variable in _THREADS:
            os.environ.setdefault(variable, "1")
        # numpy's BLAS pool started when parity (or a test module) imported numpy, before this ran: its
        # variable came too late, so the pool is limited now (2 OpenBLAS threads per worker spun against
        # the other worker: -n 2 took 26.9 s, 23.0 s with one thread).
        from threadpoolctl import threadpool_limits

        try:
            threadpool_limits(int(os.environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
        except ValueError:  # a value of the user's that is not a count: BLAS reads it as it will
            pass


@pytest.fixture(scope="session")
def parity_session(request: pytest.FixtureRequest) -> ParitySession:
    return request.config.stash[_SESSION]


@pytest.fixture
def parity_verify(request: pytest.FixtureRequest) -> Callable[["Result"], None]:
    """Record results on the test's report, then fail the test if one failed or errored (showing each), xfail
    it if its comparison with the reference is a ``known`` deviation its backend declares, pass it if one
    passed, else xfail it if one is ``known``, else skip it (an ``insensitive`` comparison could not have
    failed: a skip with its reason)."""

    def verify(*results: "Result") -> None:
        session = request.config.stash[_SESSION]
        if not session.environment_recorded:  # once per process: JUnit XML then says what ran the suite
            session.environment_recorded = True
            request.node.user_properties.append(("parity_environment", json.dumps(session.environment)))
        for result in results:
            request.node.user_properties.append((_PROPERTY, json.dumps(result.as_dict())))
        failed = [r for r in results if r.status in ("fail", "error")]
        if failed:
            pytest.fail("\n".join(failure_message(r, session.tier) for r in failed), pytrace=False)
        known = [r for r in results if r.status == "known"]
        own = [r for r in known if r.against == "reference"]  # the backend's own declared deviation
        if any(r.status == "pass" for r in results) and not own:
            return
        if known:  # an expected failure: the backend declared this deviation (pytest shows it as xfailed)
            shown = own or known
            more = f" (and {len(known) - len(shown)} known pair comparison(s))" if len(known) > len(shown) else ""
            pytest.xfail("; ".join(dict.fromkeys(_skip_reason(r) for r in shown)) + more)
        pytest.skip("; ".join(dict.fromkeys(_skip_reason(r) for r in results)))

    return verify


def _skip_reason(result: "Result") -> str:
    return result.reason if result.against == "reference" else f"{result.backend} vs {result.against}: {result.reason}"


def failure_message(result: "Result", tier: str) -> str:
    """The failure plus the exact commands that reproduce it."""
    from parity.report.text import reproduce
    from parity.running.environment import source

    head = f"{result.case}: {result.backend} vs {result.against}: {result.status}: {result.reason}"
    sources = {name: source(name) for name in (result.backend, result.against)}
    return "\n".join([head, *reproduce(result, tier, {k: v for k, v in sources.items() if v})])

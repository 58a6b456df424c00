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
from typing import TYPE_CHECKING, Any, Callable

import pytest

from parity.plugin.session import PROPERTY, ParitySession
from parity.running import ISOLATE_TIMEOUT, WORKER_THREADS

if TYPE_CHECKING:
    from parity.running.registry import Case
    from parity.running.result import Result

TIERS = ("smoke", "default", "full")  # parity.running.registry.TIERS, without importing numpy into every project

_SESSION = pytest.StashKey["ParitySession"]()
_LIMITED = pytest.StashKey[bool]()


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
    group.addoption("--parity-timeout", type=_seconds, default=None,
                    help=f"per-case timeout of an isolated backend in seconds, with --parity-isolate (default: "
                         f"{ISOLATE_TIMEOUT:g})")
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
    # items carry xdist's mark for --dist loadgroup; without xdist (-p no:xdist) it must still be known
    config.addinivalue_line("markers", "xdist_group(name): pytest-xdist's --dist loadgroup group (a parity case)")
    try:
        if config.getoption("parity_recorded") is not None:
            from parity.adapters.legacy import recordings as recorded

            recorded.use(config.getoption("parity_recorded"), "--parity-recorded")
        if config.getoption("parity_timeout") is not None and not config.getoption("parity_isolate"):
            raise ValueError(f"--parity-timeout must come with --parity-isolate (it bounds an isolated backend's "
                             f"case), got --parity-timeout {config.getoption('parity_timeout'):g} alone")
        session = ParitySession(config)
        if config.getoption("parity_backends") is not None:
            _first_use(config)  # the check below may start a framework (JAX's GPU backend)
            session.backends  # a bad explicit value is a usage error now, not at collection
        if config.getoption("parity_baseline"):
            from parity.report import baseline

            session.saved = baseline.load(config.getoption("parity_baseline"))
            baseline.check_comparable(session.saved, config.getoption("parity_tier"), "--parity-baseline")
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
    session.kinds |= {name == "parity_backend" for name in names - {"parity_case"}}
    _first_use(metafunc.config)
    try:
        cases, backends = session.cases, session.backends
    except ValueError as error:
        raise pytest.UsageError(f"parity: {error}") from None
    if names == {"parity_case", "parity_backend"}:
        combos = [(c, b) for c in cases for b in backends if not session.refusal(c, b)]
        session.generated += len(combos)
        params = [_param((c, b), c, f"{c.id}-{b}") for c, b in combos] or [_nothing_runs(session, 2)]
        metafunc.parametrize(("parity_case", "parity_backend"), params)
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
        session.generated += 1
        metafunc.parametrize(("parity_case", "parity_pairs"), [pytest.param(
            None, None, marks=pytest.mark.skip(reason=reason), id="no-pairs")])
        return
    params = []
    for case in cases:
        running = [b for b in backends if not session.refusal(case, b)]
        params += [_param((case, *([b] if with_backend else []), tuple((a, b) for a in running[:i])), case,
                          f"{case.id}-{b}") for i, b in enumerate(running) if i or with_backend]
    session.generated += len(params)
    metafunc.parametrize(("parity_case", *(["parity_backend"] if with_backend else []), "parity_pairs"),
                         params or [_nothing_runs(session, 2 + with_backend, "" if with_backend else "two ")])


def _nothing_runs(session: ParitySession, arguments: int, how_many: str = "") -> Any:
    """One skip naming why no backend (``how_many``="two ": no two backends) runs any case, instead of pytest's
    "got empty parameter set": the session then fails for having compared nothing."""
    reasons = sorted({f"{backend}: {reason}" for backend, reason in session.declared})
    listed = "; ".join(reasons[:3]) + (f"; and {len(reasons) - 3} more" if len(reasons) > 3 else "")
    session.generated += 1
    return pytest.param(*(None,) * arguments, id="nothing-runs", marks=pytest.mark.skip(
        reason=f"no {how_many}backend{'s' if how_many else ''} run{'' if how_many else 's'} any case of the tier: {listed}"))


def _param(values: tuple, case: "Case", ident: str) -> Any:
    return pytest.param(*values, id=ident, marks=pytest.mark.xdist_group(case.id))


def _first_use(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") and not config.stash.get(_LIMITED, False):
        config.stash[_LIMITED] = True
        # xdist runs one worker per core: framework thread pools of one thread each avoid oversubscription
        # (measured on 2 cores, -n 2, default tier: 22.9 s with default pools, 14.9 s with one thread).
        for variable in WORKER_THREADS:
            os.environ.setdefault(variable, "1")
        # JAX takes 75 % of a GPU's memory when its GPU backend starts: with 14 workers on one H200 the later
        # ones aborted in XLA's compiler and xdist lost them. Allocated on demand, the workers share the GPU.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
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
            request.node.user_properties.append((PROPERTY, json.dumps(result.as_dict())))
        failed = [r for r in results if r.status in ("fail", "error")]
        if failed:
            pytest.fail("\n".join(failure_message(r, session.tier, session.environment) for r in failed), pytrace=False)
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


def failure_message(result: "Result", tier: str, environment: dict[str, Any]) -> str:
    """The failure plus the exact commands that reproduce it (``environment``: the session's, which names an
    outside adapter's folder and the recordings replayed)."""
    from parity.report.text import reproduce

    head = f"{result.case}: {result.backend} vs {result.against}: {result.status}: {result.reason}"
    return "\n".join([head, *reproduce(result, tier, environment)])

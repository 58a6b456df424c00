"""Known deviations: a backend may declare what its framework is known to get wrong (``known(spec)``). The
case still runs: a failing comparison is ``known`` (pytest: xfailed) with its figures, and a passing one is
a pass."""
from __future__ import annotations


from parity import adapters
from parity.core import convert
from parity.core.spec import ConvSpec
from parity.running.registry import Case
from parity.running.runner import run_case

pytest_plugins = ["pytester"]

NUMPY = adapters.get("numpy")
CASE = Case("k3", ConvSpec(spatial=(6, 7), kernel=(3, 3), in_channels=2, out_channels=3, padding="SAME"))


class Declaring:
    """numpy (kernel flipped when ``flipped``) declaring a known deviation on SAME cases."""

    def __init__(self, name: str, flipped: bool) -> None:
        self.name, self.flipped, self.asked = name, flipped, 0

    def available(self):
        return None

    def supports(self, spec):
        return None

    def known(self, spec):
        self.asked += 1
        return "flips the kernel on SAME (issue 123)" if spec.padding == "SAME" else None

    def run(self, spec, x, w):
        return NUMPY.run(spec, x, convert.flip(w) if self.flipped else w)


def _results(install_backends, flipped: bool, mine: Declaring | None = None) -> dict[tuple[str, str], object]:
    install_backends({"numpy": NUMPY, "mine": mine or Declaring("mine", flipped)})
    return {(r.backend, r.against): r for r in run_case(CASE, ["numpy", "mine"])}


def test_a_declared_deviation_that_shows_is_known_with_its_figures(install_backends):
    results = _results(install_backends, flipped=True)
    for key in (("mine", "reference"), ("numpy", "mine")):
        assert results[key].status == "known", results[key]
        assert results[key].reason.startswith("known: flips the kernel on SAME (issue 123); error ")
        assert results[key].bound_ratio > 1
    assert results["numpy", "reference"].status == "pass"


def test_a_declaration_hides_nothing_that_works(install_backends):
    mine = Declaring("mine", flipped=False)
    results = _results(install_backends, False, mine)
    assert results["mine", "reference"].status == "pass" and results["numpy", "mine"].status == "pass"
    assert mine.asked == 0  # asked only of a failing comparison: a declaration may cost a compile


def test_a_declaration_is_asked_once_per_case_however_many_pairs_fail(install_backends):
    mine = Declaring("mine", flipped=True)
    _results(install_backends, True, mine)
    assert mine.asked == 1


CONFTEST = '''
from parity import adapters
from parity.core import convert
_get, _names, NUMPY = adapters.get, adapters.names, adapters.get("numpy")

class Declaring:
    name = "declaring"
    def available(self):
        return None
    def supports(self, spec):
        return None
    def known(self, spec):
        return "flips the kernel (issue 123)"
    def run(self, spec, x, w, dy=None):
        return NUMPY.run(spec, x, convert.flip(w))

adapters.get = lambda name: Declaring() if name == "declaring" else _get(name)
adapters.names = lambda: sorted([*_names(), "declaring"])
'''


def test_pytest_reports_a_known_deviation_as_xfailed(pytester):
    pytester.makepyfile(test_one='''
def test_backend_matches_reference(parity_case, parity_backend, parity_session, parity_verify):
    parity_verify(parity_session.run(parity_case).against_reference(parity_backend))
''')
    pytester.makeconftest(CONFTEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke", "-rx",
                                           "--parity-backends", "declaring", "-k", "conv2d-nchw-valid and f32")
    assert result.ret == 0
    outcomes = result.parseoutcomes()
    assert outcomes.get("xfailed", 0) >= 1 and "failed" not in outcomes, outcomes
    result.stdout.fnmatch_lines(["*XFAIL*known: flips the kernel (issue 123); error *x the bound*"])


class Raising(Declaring):
    def run(self, spec, x, w):
        raise ValueError("cannot reshape array of size 36 into shape (1,2,12)")


def test_a_declared_deviation_that_raises_is_known_with_the_error(install_backends):
    install_backends({"numpy": NUMPY, "mine": Raising("mine", flipped=False)})
    results = {(r.backend, r.against): r for r in run_case(CASE, ["numpy", "mine"])}
    assert results["mine", "reference"].status == "known"
    assert results["mine", "reference"].reason == ("known: flips the kernel on SAME (issue 123); ValueError: cannot "
                                                   "reshape array of size 36 into shape (1,2,12)")
    assert results["numpy", "mine"].status == "skip"
    plain = Case("valid", ConvSpec(spatial=(6, 7), kernel=(3, 3), in_channels=2, out_channels=3))
    assert run_case(plain, ["mine"])[0].status == "error"  # undeclared: an error as before


class Broken(Declaring):
    def known(self, spec):
        raise RuntimeError("the declaration itself is broken")


def test_a_declaration_that_raises_hides_nothing(install_backends):
    install_backends({"numpy": NUMPY, "mine": Broken("mine", flipped=True)})
    results = {(r.backend, r.against): r for r in run_case(CASE, ["numpy", "mine"])}
    assert results["mine", "reference"].status == "fail"

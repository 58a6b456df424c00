"""The pytest plugin, driven through pytester in a fresh directory: parametrization, the summary table,
pytest-xdist, JUnit XML properties, option errors, failure messages and --help."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from parity.running.registry import collect

pytest_plugins = ["pytester"]

REGRESSION = (Path(__file__).parent / "test_regression.py").read_text()
SMOKE = collect("smoke")
SMOKE_ARGS = ("-p", "no:cacheprovider", "--parity-tier", "smoke", "--parity-backends", "numpy")

# A conftest that adds a backend whose every output is off by 1000, visible through parity.adapters.
BROKEN_CONFTEST = '''
import numpy as np
from parity import adapters

_real_get, _real_names = adapters.get, adapters.names


class Broken:
    name = "broken"

    def available(self):
        return None

    def supports(self, spec):
        return None

    def run(self, spec, x, w):
        y = _real_get("numpy").run(spec, x, w)
        return (y.astype(np.float64) + 1000.0).astype(y.dtype)


def _get(name):
    return Broken() if name == "broken" else _real_get(name)


adapters.get = _get
adapters.names = lambda: sorted([*_real_names(), "broken"])
'''


def summary_rows(output: str) -> dict[tuple[str, str], dict[str, int]]:
    """The parity summary table as {(backend, against): {status: count}}."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(r"=+ parity summary =+", line))
    lines = [line for line in lines[start + 1:] if line.strip()]
    header = lines[0].split()
    assert header[:7] == ["backend", "against", "quantity", "pass", "fail", "skip", "error"], lines[0]
    assert set(lines[1].replace(" ", "")) == {"-"}
    rows = {}
    for line in lines[2:]:
        cells = line.split()
        if len(cells) < 7 or not all(c.isdigit() for c in cells[3:7]):
            break
        rows[cells[0], cells[1]] = dict(zip(header[3:7], map(int, cells[3:7])))
    return rows


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_regression=REGRESSION)
    return pytester


def test_smoke_tier_numpy_runs_and_summarizes(suite):
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "-rs")
    result.assert_outcomes(passed=len(SMOKE))
    assert result.ret == 0
    rows = summary_rows(result.stdout.str())
    assert rows == {("numpy", "reference"): {"pass": len(SMOKE), "fail": 0, "skip": 0, "error": 0}}


def test_a_pairs_only_test_with_one_backend_is_one_skip(pytester):
    pytester.makepyfile(test_pairs='''
def test_agree(parity_case, parity_pairs, parity_session, parity_verify):
    parity_verify(*(parity_session.run(parity_case).between(a, b) for a, b in parity_pairs))
''')
    result = pytester.runpytest_subprocess(*SMOKE_ARGS, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIP*backend pairs need at least two backends*"])


def test_tests_are_parametrized_by_case_id(suite):
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "--collect-only", "-q")
    collected = result.stdout.str()
    for case in SMOKE:
        assert f"test_backend_agrees[{case.id}-numpy]" in collected


def test_xdist_workers_report_to_the_summary(suite):
    result = suite.runpytest_subprocess(*SMOKE_ARGS, "-n", "2")
    result.assert_outcomes(passed=len(SMOKE))
    assert "2 workers" in result.stdout.str() or "gw1" in result.stdout.str()
    assert summary_rows(result.stdout.str()) == {
        ("numpy", "reference"): {"pass": len(SMOKE), "fail": 0, "skip": 0, "error": 0}}


def test_junitxml_carries_results_as_properties(suite):
    xml_path = suite.path / "junit.xml"
    result = suite.runpytest_subprocess(*SMOKE_ARGS, f"--junitxml={xml_path}")
    result.assert_outcomes(passed=len(SMOKE))
    properties = [p for p in ET.parse(xml_path).iter("property") if p.get("name") == "parity"]
    assert len(properties) == len(SMOKE)
    payloads = [json.loads(p.get("value")) for p in properties]
    assert sorted(p["case"] for p in payloads) == sorted(c.id for c in SMOKE)
    for payload in payloads:
        assert payload["backend"] == "numpy" and payload["against"] == "reference"
        assert payload["status"] == "pass"
        assert 0 <= payload["bound_ratio"] <= 1
        assert isinstance(payload["spec"], dict)


def test_unknown_backend_is_a_usage_error(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-backends", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'nope'" in result.stderr.str()
    result.stderr.fnmatch_lines(["*parity: --parity-backends must name backends among*got 'nope'*"])


def test_unknown_tier_is_a_usage_error(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "'nope'" in result.stderr.str()


def test_failure_shows_reproduce_lines(suite):
    suite.makeconftest(BROKEN_CONFTEST)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke",
                                        "--parity-backends", "numpy,broken")
    # numpy passes every case; broken's item fails every case, against the reference and against numpy.
    result.assert_outcomes(passed=len(SMOKE), failed=len(SMOKE))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    case = SMOKE[0].id
    assert f"reproduce: parity run --tier smoke --backends broken -k {case}" in output
    assert f"reproduce: parity run --tier smoke --backends numpy,broken -k {case}" in output
    assert "parity.ConvSpec(" in output and "parity.adapters.get('broken')" in output
    assert f"{case}: broken vs reference: fail: error" in output
    assert summary_rows(output) == {
        ("numpy", "reference"): {"pass": len(SMOKE), "fail": 0, "skip": 0, "error": 0},
        ("broken", "reference"): {"pass": 0, "fail": len(SMOKE), "skip": 0, "error": 0},
        ("numpy", "broken"): {"pass": 0, "fail": len(SMOKE), "skip": 0, "error": 0},
    }


def test_reproduce_snippet_is_valid_python(suite):
    """The printed ConvSpec(...) line rebuilds the failing spec."""
    suite.makeconftest(BROKEN_CONFTEST)
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "--parity-tier", "smoke",
                                        "--parity-backends", "broken", "-x")
    spec_line = next(line.strip() for line in result.stdout.lines if "spec = parity.ConvSpec(" in line)
    import parity
    namespace = {"parity": parity}
    exec(spec_line, namespace)
    assert namespace["spec"] == SMOKE[0].spec


def test_help_lists_options_in_a_parity_group(pytester):
    result = pytester.runpytest_subprocess("--help")
    assert result.ret == 0
    lines = result.stdout.lines
    group = next(i for i, line in enumerate(lines) if "parity" in line.lower() and line.rstrip().endswith(":")
                 and not line.startswith(" "))
    section = "\n".join(lines[group:group + 10])
    assert "--parity-backends" in section and "--parity-tier" in section
    assert re.search(r"\(default:\s+every\s+installed\s+backend\)", section)
    assert re.search(r"--parity-tier=\{smoke,default,full\}", section)
    assert re.search(r"\(default:\s+default\)", section)

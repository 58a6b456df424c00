"""The ``parity`` command line: listing, running, exit codes, error messages and ``-k`` expressions."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parity import adapters
from parity.cli.main import main
from parity.core.keyword import matcher
from parity.running.registry import collect

PARITY = Path(sys.executable).with_name("parity")
FRAMEWORKS = {"torch", "tensorflow", "jax", "keras"}
RESULT_KEYS = {"case", "spec", "backend", "against", "max_abs", "max_ulp", "bound_ratio", "status", "reason"}


def parity(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(PARITY), *args], capture_output=True, text=True, cwd=cwd)


# --- parity list ---------------------------------------------------------------------------------------------
def test_list_prints_every_id_one_per_line():
    done = parity("list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [case.id for case in collect("default")]


def test_list_smoke_tier_is_smaller_than_default():
    smoke, default = parity("list", "--tier", "smoke"), parity("list")
    assert smoke.returncode == default.returncode == 0
    smoke_ids, default_ids = smoke.stdout.splitlines(), default.stdout.splitlines()
    assert 0 < len(smoke_ids) < len(default_ids)
    assert set(smoke_ids) < set(default_ids)


def test_list_filters_with_keyword_expression():
    done = parity("list", "-k", "conv1d and (f16 or bf16) and not nwc")
    assert done.returncode == 0, done.stderr
    ids = done.stdout.splitlines()
    assert ids, "the expression should match some rank-1 half-precision case"
    for case_id in ids:
        assert case_id.startswith("conv1d-") and "-ncw-" in case_id
        assert "-f16-" in case_id or "-bf16-" in case_id
    expected = [c.id for c in collect("default") if c.spec.op == "conv" and c.spec.rank == 1
                and c.spec.layout == "channels_first" and c.spec.dtype in ("float16", "bfloat16")]
    assert ids == expected


def test_list_imports_no_framework():
    code = ("import sys; from parity.cli.main import main; main(['list']); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(FRAMEWORKS)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) > 300  # the ids really were listed
    assert lines[-1] == "[]"


# --- parity run ----------------------------------------------------------------------------------------------
def test_run_numpy_smoke_writes_json(tmp_path):
    out = tmp_path / "out.json"
    done = parity("run", "--backends", "numpy", "--tier", "smoke", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "numpy" in done.stdout and "reference" in done.stdout
    payload = json.loads(out.read_text())
    results = payload["results"]
    smoke_ids = [c.id for c in collect("smoke")]
    assert [r["case"] for r in results] == smoke_ids  # one backend: one result per case, no pairs
    for result in results:
        assert RESULT_KEYS <= result.keys()
        assert isinstance(result["spec"], dict) and "kernel" in result["spec"]
        assert (result["backend"], result["against"], result["status"], result["reason"]) == \
               ("numpy", "reference", "pass", "")
        assert 0 <= float(result["bound_ratio"]) <= 1
        assert result["max_abs"] >= 0 and result["max_ulp"] >= 0


@pytest.mark.parametrize("args, value", [
    (["run", "--backends", "nope", "--tier", "smoke"], "nope"),
    (["run", "--backends", "numpy", "--tier", "gigantic"], "gigantic"),
    (["list", "--tier", "gigantic"], "gigantic"),
    (["run", "--backends", "numpy", "--tier", "smoke", "-k", "zzz-no-such-case"], "zzz-no-such-case"),
    (["list", "-k", "zzz-no-such-case"], "zzz-no-such-case"),
    (["list", "-k", "and and"], "and and"),
    (["run", "--backends", "numpy", "-k", "(conv1d"], "(conv1d"),
], ids=["backend", "tier-run", "tier-list", "k-none-run", "k-none-list", "k-malformed", "k-unclosed"])
def test_usage_errors_exit_2_with_one_line(args, value):
    done = parity(*args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("parity: error:")
    assert value in lines[0]


class Broken:
    """Returns the right output plus 1000 in every element: far beyond any bound."""

    name = "broken"

    def available(self) -> str | None:
        return None

    def supports(self, spec) -> str | None:
        return None

    def run(self, spec, x, w):
        good = NUMPY.run(spec, x, w)
        return (good.astype(np.float64) + 1000.0).astype(good.dtype)


class Raising(Broken):
    name = "raising"

    def run(self, spec, x, w):
        raise RuntimeError("kaboom in raising")


NUMPY = adapters.get("numpy")


@pytest.fixture
def backends(install_backends):
    return install_backends({"numpy": NUMPY, "broken": Broken(), "raising": Raising()})


def test_run_exits_1_when_a_backend_fails(backends, tmp_path, capsys):
    out = tmp_path / "out.json"
    code = main(["run", "--backends", "numpy,broken", "--tier", "smoke", "--json", str(out)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "broken vs reference" in printed
    results = json.loads(out.read_text())["results"]
    by_pair: dict[tuple[str, str], set[str]] = {}
    for r in results:
        by_pair.setdefault((r["backend"], r["against"]), set()).add(r["status"])
    assert by_pair == {("numpy", "reference"): {"pass"}, ("broken", "reference"): {"fail"},
                       ("numpy", "broken"): {"fail"}}


def test_run_exits_1_when_a_backend_raises(backends, capsys):
    code = main(["run", "--backends", "numpy,raising", "--tier", "smoke", "-k", "conv2d"])
    assert code == 1
    printed = capsys.readouterr().out
    assert "ERROR" in printed and "RuntimeError: kaboom in raising" in printed


def test_run_exits_0_in_process_when_all_pass(backends, capsys):
    assert main(["run", "--backends", "numpy", "--tier", "smoke"]) == 0
    assert "FAIL" not in capsys.readouterr().out


# --- -k expressions ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expression, matching", [
    ("a", {"a", "ab", "abc", "ac"}),
    ("a and b", {"ab", "abc"}),
    ("a or c", {"a", "ab", "abc", "ac", "c", "bc"}),
    ("not a", {"", "b", "c", "bc"}),
    # and binds tighter than or: a or (b and c)
    ("a or b and c", {"a", "ab", "abc", "ac", "bc"}),
    ("b and c or a", {"a", "ab", "abc", "ac", "bc"}),
    ("(a or b) and c", {"abc", "ac", "bc"}),
    # not binds tighter than and: (not a) and b
    ("not a and b", {"b", "bc"}),
    ("not (a and b)", {"", "a", "ac", "b", "c", "bc"}),
    ("not not a", {"a", "ab", "abc", "ac"}),
    ("((a)) and not (b or c)", {"a"}),
])
def test_keyword_precedence(expression, matching):
    universe = ["", "a", "ab", "abc", "ac", "b", "c", "bc"]
    match = matcher(expression)
    assert {s for s in universe if match(s)} == matching


def test_keyword_ignores_case_as_pytest_does():
    assert [matcher(e)("conv2d-nchw-f32") for e in ("CONV2D", "Nchw and F32", "not F32")] == [True, True, False]


@pytest.mark.parametrize("expression", ["", "  ", "and and", "a and", "a or", "not", "(a", "a)", "()", "a b"])
def test_keyword_malformed_raises(expression):
    with pytest.raises(ValueError, match="-k expression"):
        matcher(expression)

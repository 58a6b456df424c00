"""The README's "Adding a backend" tutorial, followed literally: its files are written from the README's
blocks into a temporary folder, the package is installed (into a folder of its own on PYTHONPATH, so that
this environment stays as it was) and its backend runs through the entry point in `parity backends`,
`parity run` and pytest, with the README's regression-suite module."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
FILES = re.findall(r"<!-- tutorial file: (\S+) -->\n```\w*\n(.*?)```", README, re.S)
SUITE = re.search(r"## pytest plugin\n.*?```python\n(.*?)```", README, re.S).group(1)


def _run(*command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_the_tutorial_package_runs_through_its_entry_point(tmp_path):
    pytest.importorskip("scipy")
    assert sorted(name for name, _ in FILES) == ["parity-scipy/parity_scipy.py", "parity-scipy/pyproject.toml"]
    for name, text in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_parity.py").write_text(SUITE)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    installed = _run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                     "--target", str(tmp_path / "site"), str(tmp_path / "parity-scipy"), env=env, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]
    parity = (sys.executable, "-m", "parity.cli")

    listed = _run(*parity, "backends", env=env, cwd=tmp_path)
    assert re.search(r"^mylab_correlate +installed +parity-scipy \(parity_scipy:ADAPTER\)$", listed.stdout, re.M), listed

    ran = _run(*parity, "run", "--backends", "numpy,mylab_correlate", "-k", "conv2d and f64", "--json", "run.json",
               env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    from importlib import metadata

    recorded = json.loads((tmp_path / "run.json").read_text())["environment"]["frameworks"]["mylab_correlate"]
    assert recorded["versions"] == {"scipy": metadata.version("scipy")}  # its frameworks: scipy's, not the package's
    row = re.search(r"^mylab_correlate +reference +conv +(\d+) +(\d+) ", ran.stdout, re.M)
    assert row and int(row.group(1)) > 0 and row.group(2) == "0", ran.stdout[-3000:]

    suite = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests",
                 "--parity-backends", "numpy,mylab_correlate", "--parity-tier", "smoke", env=env, cwd=tmp_path)
    assert suite.returncode == 0, suite.stdout[-3000:]
    assert re.search(r"test_backend_agrees\[\S+-mylab_correlate\] PASSED|\d+ passed", suite.stdout), suite.stdout
    assert "mylab_correlate" in suite.stdout


def test_an_entry_point_that_does_not_import_is_one_error_naming_it(monkeypatch):
    from importlib import metadata

    from parity import adapters

    point = metadata.EntryPoint(name="broken", value="no_such_module_anywhere:ADAPTER", group=adapters.GROUP)
    monkeypatch.setattr(adapters, "plugins", lambda: {"broken": point})
    adapters.get.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"^backend 'broken' must name an importable entry point parity.adapters "
                                             r"broken = 'no_such_module_anywhere:ADAPTER', got ModuleNotFoundError"):
            adapters.get("broken")
        assert adapters.reason("broken").startswith("error: ValueError: backend 'broken' must name an importable")
    finally:
        adapters.get.cache_clear()

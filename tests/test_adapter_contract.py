"""What an adapter author gets wrong, answered the same way everywhere (helper-35): a plugin may not take a
shipped backend's name nor the reference's; malformed answers of available() and known() are that backend's
error, never a silent absence or a crash."""
from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

from parity import adapters
from parity.core.spec import ConvSpec
from parity.running.registry import Case
from parity.running.runner import CaseRun

NUMPY = adapters.get("numpy")
SPEC = ConvSpec(spatial=(6, 6), kernel=3, in_channels=2, out_channels=3, dtype="float32")


@pytest.fixture
def entry_point(monkeypatch):
    """``entry_point(name)`` makes ``name = "mylab:ADAPTER"`` the one parity.adapters entry point installed."""
    def install(name):
        point = metadata.EntryPoint(name=name, value="mylab:ADAPTER", group=adapters.GROUP)
        monkeypatch.setattr(adapters.metadata, "entry_points", lambda group: [point] if group == adapters.GROUP else [])
        adapters.plugins.cache_clear()

    yield install
    monkeypatch.undo()
    adapters.plugins.cache_clear()


@pytest.mark.parametrize("name, rule", [
    ("reference", "must be another name than 'reference', which reports give the exact result"),
    ("torch", "must be a name no backend parity ships has"),
    ("MyLab", "must be a lowercase identifier"),
])
def test_a_plugin_name_that_would_mislead_is_refused_naming_its_package(entry_point, name, rule):
    entry_point(name)
    with pytest.raises(ValueError) as raised:
        adapters.names()
    assert str(raised.value) == (f"entry point parity.adapters {name!r} of an installed package (mylab:ADAPTER) "
                                 f"{rule}; uninstall or fix an installed package")


class _Adapter:
    name = "mine"

    def __init__(self, available=None, known=None):
        self._available, self._known = available, known

    def available(self):
        return self._available

    def supports(self, spec):
        return None

    def known(self, spec):
        return self._known

    def run(self, spec, x, w):
        return NUMPY.run(spec, x, w) * 2  # wrong


@pytest.mark.parametrize("answer", [42, False, "", "  "])
def test_a_malformed_available_is_that_backend_s_error_in_a_default_run_and_in_parity_backends(monkeypatch, answer):
    adapter = _Adapter(available=answer)
    monkeypatch.setattr(adapters, "get", lambda name: adapter)
    monkeypatch.setattr(adapters, "names", lambda: ["mine"])
    assert adapters.installed() == ["mine"]  # its cases report the error: it does not vanish
    assert adapters.status("mine") == ("error", f"ValueError: available() must return None or a reason string, "
                                                f"got {answer!r}")
    result = CaseRun(Case(SPEC.slug(), SPEC)).against_reference("mine")
    assert (result.status, result.reason) == ("error", f"ValueError: available() must return None or a reason "
                                                       f"string, got {answer!r}")


def test_a_malformed_known_declares_nothing_and_the_failure_stays_a_failure(install_backends):
    install_backends({"mine": _Adapter(known=42)})
    result = CaseRun(Case(SPEC.slug(), SPEC)).against_reference("mine")
    assert result.status == "fail"


def test_an_adapter_missing_a_method_is_told_which(monkeypatch):
    class NoRun:
        name = "norun"

        def available(self):
            return None

        def supports(self, spec):
            return None

    module = type(np)("mylab_norun")
    module.ADAPTER = NoRun()
    monkeypatch.setitem(__import__("sys").modules, "mylab_norun", module)
    with pytest.raises(ValueError, match=r"^backend 'mylab_norun:ADAPTER' must have name, available, supports and "
                                         r"run, got NoRun without run$"):
        adapters._external("mylab_norun:ADAPTER")

"""Hypothesis' profiles live in ``hypothesis_profiles`` (imported by the tests that draw); they are
registered here too when ``--hypothesis-profile`` names one, before hypothesis' plugin loads it."""
import importlib

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("hypothesis_profile", None):
        importlib.import_module("hypothesis_profiles")  # registering is what importing it does

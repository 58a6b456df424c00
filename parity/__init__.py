"""parity: cross-framework parity tests for convolution.

Public API: :class:`ConvSpec`, :func:`generate` and :func:`cotangent` (seeded inputs), :func:`exact` (the exact
numpy reference, from :mod:`parity.reference.conv`), :func:`compare`, :func:`error_bound` and :func:`ulp_distance`,
:func:`check` (explain a mismatch, from :mod:`parity.porting.checking`), :mod:`parity.adapters` (backends).
Names load on first use, so that importing parity (as the pytest plugin does in every project) costs
nothing; no framework is imported here.
"""
from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute); `exact` rather than `reference`, so that `parity.reference.conv` stays the module
_EXPORTS = {"Case": ("parity.running.registry", "Case"), "CheckResult": ("parity.porting.check_report", "CheckResult"),
            "Comparison": ("parity.verdict.comparison", "Comparison"),
            "compare": ("parity.verdict.comparison", "compare"),
            "error_bound": ("parity.verdict.comparison", "error_bound"),
            "ulp_distance": ("parity.verdict.ulp", "ulp_distance"),
            "ConvSpec": ("parity.core.spec", "ConvSpec"),
            "Reference": ("parity.reference.conv", "Reference"), "Result": ("parity.running.runner", "Result"),
            "adapters": ("parity.adapters", None), "check": ("parity.porting.checking", "check"),
            "collect": ("parity.running.registry", "collect"),
            "generator": ("parity.running.registry", "generator"),
            "cotangent": ("parity.core.inputs", "cotangent"),
            "exact": ("parity.reference.conv", "reference"), "generate": ("parity.core.inputs", "generate"),
            "check_layers": ("parity.porting.layers", "check_layers"),
            "convert_layer": ("parity.porting.layers", "convert_layer"),
            "LayerCheck": ("parity.porting.layers", "LayerCheck"), "Printed": ("parity.porting.printed", "Printed"),
            "parse_printed": ("parity.porting.printed", "parse"), "read_printed": ("parity.porting.printed", "read")}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'parity' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = importlib.import_module(module)
    return value if attribute is None else getattr(value, attribute)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

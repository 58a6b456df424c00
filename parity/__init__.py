"""parity: cross-framework parity tests for convolution.

Public API: :class:`ConvSpec`, :func:`generate` and :func:`cotangent` (seeded inputs), :func:`exact` (the exact numpy reference, from :mod:`parity.reference`),
:func:`compare` and :func:`ulp_distance`, :func:`check` (explain a mismatch, from :mod:`parity.checking`), :mod:`parity.adapters` (backends). No framework is imported here.
"""
from parity import adapters
from parity.checking import CheckResult, check
from parity.compare import Comparison, compare, error_bound, ulp_distance
from parity.inputs import cotangent, generate
# `exact` rather than `reference`, so that `parity.reference` stays the module.
from parity.reference import Reference
from parity.reference import reference as exact
from parity.registry import Case, collect
from parity.runner import Result
from parity.spec import ConvSpec

__all__ = ["Case", "CheckResult", "Comparison", "ConvSpec", "Reference", "Result", "adapters", "collect", "compare",
           "check", "cotangent", "error_bound", "exact", "generate", "ulp_distance"]
__version__ = "0.1.0"

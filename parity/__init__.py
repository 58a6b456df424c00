"""parity: cross-framework parity tests for convolution.

Public API: :class:`ConvSpec`, :func:`generate` (seeded inputs), :func:`reference` (exact numpy result),
:func:`compare` and :func:`ulp_distance`, :mod:`parity.adapters` (backends). No framework is imported here.
"""
from parity import adapters
from parity.compare import Comparison, compare, error_bound, ulp_distance
from parity.inputs import generate
from parity.reference import Reference, reference
from parity.registry import Case, collect
from parity.runner import Result
from parity.spec import ConvSpec

__all__ = ["Case", "Comparison", "ConvSpec", "Reference", "Result", "adapters", "collect", "compare",
           "error_bound", "generate", "reference", "ulp_distance"]
__version__ = "0.1.0"

"""LiteRT (TensorFlow Lite) with its default op resolver: builtin kernels with the XNNPACK delegate applied,
as ``ai_edge_litert.interpreter.Interpreter`` runs a model unless told otherwise (see ``_litert``)."""
from parity.adapters._litert import LiteRtAdapter

ADAPTER = LiteRtAdapter("litert_xnnpack", resolver="AUTO")

"""LiteRT (TensorFlow Lite) with ``OpResolverType.BUILTIN_REF``: TFLite's reference kernels, no delegate
(see ``_litert``)."""
from parity.adapters._litert import LiteRtAdapter

ADAPTER = LiteRtAdapter("litert_ref", resolver="BUILTIN_REF")

"""Porting help: ``parity check`` (explain a mismatch between two arrays), printed-array reading, ``translate``
snippets and layer conversion."""

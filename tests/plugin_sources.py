"""Conftest sources for pytester runs of the plugin: backends a test project declares in its conftest.py.
``PICKY``: numpy, with 3-D cases declared unsupported; ``PICKY_AND_TWIN``: the same and numpy under another
name (twin); ``RAISING``: a backend whose supports() raises (asking is the item's error, not a declared limit)."""

_HEAD = """
from parity import adapters
_get, _names = adapters.get, adapters.names

class Picky:
    name = "picky"
    def available(self):
        return None
    def supports(self, spec):
        return "picky: no 3-D convolution" if spec.rank == 3 else None
    def run(self, spec, x, w, dy=None):
        return _get("numpy").run(spec, x, w)
"""

PICKY = _HEAD + """
adapters.get = lambda name: Picky() if name == "picky" else _get(name)
adapters.names = lambda: sorted([*_names(), "picky"])
"""

PICKY_AND_TWIN = _HEAD + """
class Twin(Picky):
    name = "twin"
    def supports(self, spec):
        return None

adapters.get = lambda name: {"picky": Picky(), "twin": Twin()}.get(name) or _get(name)
adapters.names = lambda: sorted([*_names(), "picky", "twin"])
"""

RAISING = _HEAD + """
class Raising(Picky):
    name = "raising"
    def supports(self, spec):
        raise RuntimeError("supports broke")

adapters.get = lambda name: Raising() if name == "raising" else _get(name)
adapters.names = lambda: sorted([*_names(), "raising"])
"""

"""Every layout, flip and padding translation parity performs, in one pure package.

Nothing here imports a framework: adapters call these functions on numpy arrays (or plain tuples)
before handing data to their framework, so the translations are unit-tested without any installed.
Canonical form: data ``(N, C, *spatial)``, kernel ``(O, C/groups, *k)``, cross-correlation.
Use it as one namespace (``from parity import convert``; ``convert.flip(w)``); the submodules only
keep the files short: ``layout``, ``padding``, ``transposed`` and ``frameworks`` (other backends'
argument spellings).
"""
from parity.core.convert.frameworks import *  # noqa: F401,F403
from parity.core.convert.layout import *  # noqa: F401,F403
from parity.core.convert.padding import *  # noqa: F401,F403
from parity.core.convert.transposed import *  # noqa: F401,F403
from parity.core.convert.dimensions import DimensionNumbers, dimension_numbers, dimensions_for  # noqa: F401

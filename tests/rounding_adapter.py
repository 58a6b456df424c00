"""A user adapter for the baseline tests, as source text to write into a test project: numpy, except that
with TF32=1 in its environment it rounds float32 inputs to TF32 first (what a GPU with TF32 on does), the
drift a baseline must catch; with MINE_GONE=<reason> it is not available. ``MINE`` is the adapter."""

SOURCE = '''
import os
import numpy as np
from parity import adapters
from parity.verdict.fingerprint import round_to_bits

class Mine:
    name = "mine"
    def available(self):
        return os.environ.get("MINE_GONE")
    def supports(self, spec):
        return None
    def run(self, spec, x, w, dy=None):
        if os.environ.get("TF32") and spec.dtype == "float32":
            x, w = (round_to_bits(a.astype(np.float64), 11).astype(np.float32) for a in (x, w))
        return adapters.get("numpy").run(spec, x, w, *(() if dy is None else (dy,)))

MINE = Mine()
'''

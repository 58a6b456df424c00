"""The ``recorded`` backend: replays recordings (see :mod:`parity.adapters.legacy.recordings`) from the
folder in ``$PARITY_RECORDED`` (``--recorded DIR``); unavailable when none is given. For a case whose spec
matches a recording it returns the recorded output, converted to canonical layout; every other case is declared "no recording for this case". ``parity/cases/recorded.py`` makes
each recording a case of its own (id ``recorded-<directory>``), so ``parity run --backends
recorded,numpy,torch -k recorded`` compares them with the reference and every other backend.
"""
from __future__ import annotations

import numpy as np

from parity.adapters.legacy import recordings as recorded
from parity.core.spec import ConvSpec

NO_RECORDING = "no recording for this case"


class RecordedAdapter:
    name = "recorded"

    def available(self) -> str | None:
        try:
            where = recorded.folder()
        except ValueError as error:
            return str(error)
        if where is None:
            return ("no recordings: give a folder of them with --recorded DIR (pytest: --parity-recorded DIR) or "
                    "PARITY_RECORDED; `parity record` writes them")
        return None

    def supports(self, spec: ConvSpec) -> str | None:
        return None if _matching(spec) else NO_RECORDING

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        found = _matching(spec)
        if len(found) != 1:
            paths = ", ".join(str(r.path) for r in found) or "none"
            raise ValueError(f"recordings of this case must be exactly one per folder, got {paths}")
        (recording,) = found
        if not (np.array_equal(recording.x, x) and np.array_equal(recording.w, w)):
            raise ValueError(f"{recording.path} must hold this case's inputs (parity.generate(spec)), got "
                             "other input.npy/kernel.npy values")
        return recording.y.copy()


def _matching(spec: ConvSpec) -> list[recorded.Recording]:
    where = recorded.folder()
    return [r for r in recorded.load_all(where) if r.spec == spec] if where else []


ADAPTER = RecordedAdapter()

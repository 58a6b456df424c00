"""Recorded cases: one case per recording in ``$PARITY_RECORDED`` or ``./recorded`` (none if the folder
does not exist), with id ``recorded-<directory name>``. Run with the ``recorded`` backend to compare the
recorded outputs: ``parity run --backends recorded,numpy,torch -k recorded``. See :mod:`parity.recorded`.
"""
from __future__ import annotations

from typing import Iterator

from parity import recorded as recordings
from parity.registry import Case, generator


@generator("smoke")
def recorded() -> Iterator[Case]:
    for recording in recordings.load_all(recordings.folder()):
        yield Case(f"recorded-{recording.path.name}", recording.spec)

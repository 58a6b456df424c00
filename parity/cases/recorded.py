"""Recorded cases: one case per readable recording in the folder of ``$PARITY_RECORDED`` (set by ``parity
run/list --recorded DIR`` or pytest's ``--parity-recorded DIR``; no cases when it is not set), with id
``recorded-<directory name>``. Run with the ``recorded`` backend to compare the recorded outputs:
``parity run --recorded DIR --backends recorded,numpy,torch -k recorded``. Unreadable recordings are not
cases: ``parity.adapters.legacy.recordings.scan`` reports them. See :mod:`parity.adapters.legacy.recordings`.
"""
from __future__ import annotations

from typing import Iterator

from parity.adapters.legacy import recordings as recordings
from parity.running.registry import Case, generator


@generator("smoke")
def recorded() -> Iterator[Case]:
    where = recordings.folder()
    if where is None:
        return
    for recording in recordings.load_all(where):
        yield Case(recordings.case_id(recording.path), recording.spec)

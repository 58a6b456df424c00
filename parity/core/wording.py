"""Wording shared by messages."""
from __future__ import annotations


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless the number is 1: "1 comparison", "0 comparisons"."""
    return f"{number} {noun}{'' if number == 1 else 's'}"

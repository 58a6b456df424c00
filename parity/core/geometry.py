"""Convolution geometry per spatial axis, in one place: a kernel's dilated span, a forward conv's output
length, and a transposed conv's full (uncropped) length. Every other module asks these functions."""
from __future__ import annotations

from typing import Sequence


def span(k: int, d: int) -> int:
    """Input elements one output sees: a kernel of k taps dilated by d covers d*(k-1) + 1."""
    return d * (k - 1) + 1


def spans(kernel: Sequence[int], dilations: Sequence[int]) -> tuple[int, ...]:
    return tuple(span(k, d) for k, d in zip(kernel, dilations))


def output_length(n: int, k: int, s: int, d: int, lo: int = 0, hi: int = 0) -> int:
    """A forward conv's output length: (n + lo + hi - span) // s + 1, or 0 when the padded input is
    shorter than the span."""
    padded = n + lo + hi
    return (padded - span(k, d)) // s + 1 if padded >= span(k, d) else 0


def output_lengths(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                   dilations: Sequence[int], pads: Sequence[tuple[int, int]] | None = None) -> tuple[int, ...]:
    pads = pads if pads is not None else [(0, 0)] * len(spatial)
    return tuple(output_length(n, k, s, d, lo, hi)
                 for n, k, s, d, (lo, hi) in zip(spatial, kernel, strides, dilations, pads))


def full_transposed(spatial: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
                    dilations: Sequence[int]) -> tuple[int, ...]:
    """A transposed conv's uncropped output length per axis: (n-1)*s + span."""
    return tuple((n - 1) * s + span(k, d) for n, k, s, d in zip(spatial, kernel, strides, dilations))

"""Polyphase plan of a strided transposed convolution: one forward conv of the input itself per output phase.

The reference computes a transposed conv as the forward conv (kernel ``wf``, dilation d, padding P on the
low side) of the input dilated by the stride s, where all but one element in s (per axis) is zero. Along
one axis, output o sums ``xd[o + j*d - P] * wf[j]``, and ``xd[i*s] = x[i]`` is the only nonzero kind, so
the taps j that reach input are those with ``o + j*d - P`` a multiple of s. For the outputs of one phase
``o = o0 + s*m`` these are ``j = j0, j0 + s', j0 + 2s', ...`` with ``s' = s / gcd(s, d)``, and tap number t
reads ``x[m + e0 + t*d']``, ``e0 = (o0 + j0*d - P) / s`` and ``d' = d / gcd(s, d)``: a forward conv of x with
the kernel ``wf[j0::s']``, dilation d', stride 1 and padding ``-e0`` on the low side. A phase with no such
tap (when gcd(s, d) > 1, or when the kernel is shorter than s') is zero. Every product of the dilated conv that is not a product with a
padded zero lands in exactly one phase, so the phases hold the same terms: 1/s of the work per axis.
"""
from __future__ import annotations

import math
from itertools import product
from typing import NamedTuple, Sequence

from parity.core import geometry


class Phase(NamedTuple):
    """One phase: where its outputs go (``output``, slices of the spatial axes), the kernel taps it takes
    (``taps``, slices of the kernel's spatial axes), and its forward conv's pads and dilations."""

    output: tuple[slice, ...]
    taps: tuple[slice, ...]
    pads: tuple[tuple[int, int], ...]
    dilations: tuple[int, ...]


def plan(spatial: Sequence[int], outputs: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
         dilations: Sequence[int], low_pads: Sequence[int]) -> list[Phase]:
    """The phases with taps and outputs of a transposed conv whose input is ``spatial`` long, whose output
    is ``outputs`` long and which is the forward conv of the stride-dilated input with padding ``low_pads``
    on the low side (negative: a crop); outputs that belong to no phase, or to one whose windows all lie in
    the padding, are zero."""
    axes = [_axis(*args) for args in zip(spatial, outputs, kernel, strides, dilations, low_pads)]
    return [Phase(*zip(*parts)) for parts in product(*axes)]


def _axis(n: int, out: int, k: int, s: int, d: int, pad: int) -> list[tuple[slice, slice, tuple[int, int], int]]:
    """(output slice, kernel slice, pads, dilation) of each phase of one axis that has taps, outputs and
    input under its windows."""
    common = math.gcd(s, d)
    step, dilation = s // common, d // common
    phases = []
    for o0 in range(min(s, out)):
        j0 = next((j for j in range(min(step, k)) if (o0 + j * d - pad) % s == 0), None)
        if j0 is None:
            continue
        taps, count = len(range(j0, k, step)), len(range(o0, out, s))
        first = (o0 + j0 * d - pad) // s  # the input element under the first tap of the phase's first output
        last = first + count - 1 + geometry.span(taps, dilation) - 1
        if first >= n or last < 0:  # every window of the phase lies in the padding: its outputs are zero
            continue
        # pads that make the conv read input elements first .. last: ``count`` outputs
        phases.append((slice(o0, None, s), slice(j0, None, step), (-first, last + 1 - n), dilation))
    return phases

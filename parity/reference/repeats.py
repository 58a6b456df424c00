"""How often a sum adds the same product again: what the sqrt(n) of the probabilistic error bound stands for.

Higham and Mary's bound assumes that the n rounding errors of a sum are independent. Adding the same term
again does not round independently: while the partial sum s stays in one binade, fl(s + t) - (s + t) depends
only on t modulo ulp(s), so m copies of a term err like one error m times as large. A sum of squares of
the errors, which sqrt(n) bounds for independent ones, is then sum(m_v**2) over the distinct products v.
A constant signal through a box filter (m = n) is the extreme case: PyTorch's and TensorFlow's correct
float32 conv1d of 4096 taps erred 1.25 times the sqrt(n) bound.

:func:`repeats` counts, for chosen elements of a case's result, R = sum(m_v**2) over the distinct products
|x_i w_j| of its sum, each zero product (an exact addition) counted once: R = n when no product repeats, n**2
when all are the same. Products are told apart by their pair of factors. Where the operand that is the same
for every element of an output channel (the kernel of a conv, the cotangent of a weight gradient) repeats
no value, no pair repeats and R = n without counting; where counting would sort more than :data:`BUDGET`
products, the elements are left at R = n (the sqrt(n) bound stands).

Imports nothing but numpy.
"""
from __future__ import annotations

import math
from functools import cached_property
from typing import TYPE_CHECKING, Final

import numpy as np

from parity.core import convert
from parity.reference import gather
from parity.reference.quantities import as_forward, plan

if TYPE_CHECKING:
    from parity.core.spec import ConvSpec

BUDGET: Final = 1 << 22  # products sorted to count repeats; beyond, the sqrt(n) bound stands
_BATCH: Final = 1 << 18  # products sorted at once (about 16 MiB of keys and factors)


class Repeats:
    """R for elements of one case's result, computed when asked (only a comparison that fails the sqrt(n)
    bound asks): ``repeats(mask)`` gives R for the elements where ``mask`` (shaped like the result) is set."""

    def __init__(self, spec: "ConvSpec", x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> None:
        self._spec, self._operands = spec, (x, w, dy)
        self._counted: np.ndarray | None = None  # R per element of the result, NaN where not counted yet

    @cached_property
    def _plan(self) -> tuple[bool, tuple]:
        """(whether it is a weight gradient, the arguments of the conv or weight gradient that computes it)."""
        name, args = plan(self._spec, *(None if a is None else np.asarray(a, np.float64) for a in self._operands))
        if name == "conv_transpose":  # the forward conv of the stride-dilated input (its zeros: exact terms)
            x, w, strides, crops, output_padding, dilations, groups = args
            forward, pads = as_forward(w, crops, output_padding, dilations, groups)
            args = (convert.dilate_spatial(x, strides), forward, (1,) * len(strides), pads, dilations, groups)
        return name == "grad_weight", args

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        """R at the elements of ``mask``, in their order; each element is counted once per case (every
        comparison of the case asks of the same sums)."""
        if self._counted is None:
            self._counted = np.full(mask.shape, np.nan)
        missing = mask & np.isnan(self._counted)
        if missing.any():
            self._counted[missing] = self._count(np.nonzero(missing))
        return self._counted[mask]

    def _count(self, index: tuple[np.ndarray, ...]) -> np.ndarray:
        """R at ``index``: n where the output channel's own operand (the kernel of a conv, the cotangent of a
        weight gradient) repeats no nonzero value, since equal pairs share that value; n too, uncounted, where
        counting would sort more than BUDGET products (the sqrt(n) bound then stands); else counted."""
        length = self._length()
        result = np.full(index[0].size, float(length))
        counted = np.flatnonzero(self._side_repeats[index[0] if self._plan[0] else index[1]] > length)
        if not counted.size or counted.size * length > BUDGET:
            return result
        terms = _terms_weight_gradient if self._plan[0] else _terms_conv
        chosen = tuple(i[counted] for i in index)
        result[counted] = np.concatenate([_squares(*terms(self._plan[1], tuple(i[part] for i in chosen)))
                                          for part in _batches(counted.size, length)])
        return result

    def _length(self) -> int:
        if self._plan[0]:
            dy = self._plan[1][1]
            return dy.size // dy.shape[1]
        return math.prod(self._plan[1][1].shape[1:])

    @cached_property
    def _side_repeats(self) -> np.ndarray:
        """sum(m**2) over each output channel's own operand's values (zeros once each): a bound on R."""
        operand = self._plan[1][1]
        side = np.moveaxis(operand, 1, 0).reshape(operand.shape[1], -1) if self._plan[0] else \
            operand.reshape(operand.shape[0], -1)
        return np.concatenate([_squares(np.abs(rows), np.ones_like(rows))  # a pair's class shares |value|
                               for rows in np.array_split(side, 1 + side.size // _BATCH)])


def _batches(count: int, length: int) -> list[slice]:
    step = max(1, _BATCH // max(length, 1))
    return [slice(i, i + step) for i in range(0, count, step)]


def _terms_conv(args: tuple, index: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(window values, kernel values), each (elements, C/g * kvol), of the conv elements (n, o, *position)."""
    x, w, strides, pads, dilations, groups = args
    view = gather.windows(gather.pad(x, pads), w.shape[2:], strides, dilations)  # (N, C, *out, *k)
    per_group, channels = w.shape[0] // groups, w.shape[1]
    n, o, *position = index
    first = (o // per_group) * channels
    window = view[(n[:, None], first[:, None] + np.arange(channels), *(p[:, None] for p in position))]
    return window.reshape(len(n), -1), w[o].reshape(len(n), -1)


def _terms_weight_gradient(args: tuple, index: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(window values, cotangent values), each (elements, N * positions), of the elements (o, c, *tap)."""
    x, dy, kernel, strides, pads, dilations, groups = args
    view = gather.windows(gather.pad(x, pads), kernel, strides, dilations)  # (N, C, *out, *k)
    per_group, channels = dy.shape[1] // groups, x.shape[1] // groups
    o, c, *tap = index
    rank = len(kernel)
    window = view[(slice(None), (o // per_group) * channels + c, *(slice(None),) * rank, *tap)]  # (E, N, *out)
    return window.reshape(len(o), -1), np.moveaxis(dy[:, o], 1, 0).reshape(len(o), -1)


def _squares(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, sum(m**2) over the distinct pairs (a, b) of nonzero products, each zero product once; (a, b)
    and (-a, -b) are one pair (the same product), (a, -b) another (its rounding errs the other way)."""
    keys = np.where((a != 0) & (b != 0), np.abs(b) + 1j * np.abs(a) * np.sign(a * b), complex(np.nan, np.nan))
    keys.sort(axis=-1)  # lexicographic; NaNs last, and never equal to one another
    length = keys.shape[-1]
    if not length:
        return np.zeros(keys.shape[0])
    new = np.ones(keys.shape, bool)
    new[:, 1:] = keys[:, 1:] != keys[:, :-1]
    position = np.arange(length)
    start = np.maximum.accumulate(np.where(new, position, 0), axis=-1)
    return (2 * (position - start) + 1).sum(axis=-1, dtype=np.float64)  # a run of m adds 1 + 3 + ... = m**2

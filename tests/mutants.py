"""Mutant backends: the numpy adapter with one convention or arithmetic mistaken, as people make them.

Each mutant says which specs it applies to (where the mistake changes the result at all) and computes the
mistaken result from the case's own inputs; the default accumulation is declared, like any adapter that
declares nothing. ``tests/test_mutation.py`` requires the default tier to kill every one in every dtype.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from parity import adapters
from parity.core.dtypes import uint_view
from parity.verdict.fingerprint import round_to_bits
from parity.reference.conv import compute
from parity.core.spec import ConvSpec

NUMPY = adapters.get("numpy")
INTEGER = ("int", "sparse", "canary")
Run = Callable[[ConvSpec, list[np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Mutant:
    name: str
    applies: Callable[[ConvSpec], bool]
    compute: Run
    dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")


class MutantAdapter:
    """An adapter that runs ``mutant.compute`` (a stand-in for a backend with that mistake)."""

    def __init__(self, mutant: Mutant) -> None:
        self.name, self.mutant = mutant.name, mutant

    def available(self) -> str | None:
        return None

    def supports(self, spec: ConvSpec) -> str | None:
        return None if self.mutant.applies(spec) else "the mistake does not change this case"

    def run(self, spec: ConvSpec, x: np.ndarray, w: np.ndarray, dy: np.ndarray | None = None) -> np.ndarray:
        return self.mutant.compute(spec, [a for a in (x, w, dy) if a is not None])


def _in_dtype(spec: ConvSpec, operands: list[np.ndarray], **changes) -> np.ndarray:
    """The numpy adapter's arithmetic (sums in float32 for 16-bit cases) with ``pads`` or spec changes."""
    pads = changes.pop("pads", None)
    wide = [a.astype(np.float32) if a.itemsize == 2 else a for a in operands]
    value = compute(dataclasses.replace(spec, **changes) if changes else spec, *wide, pads=pads, scaled=False)[0]
    with np.errstate(over="ignore"):  # a mistaken float16 result may overflow: the comparator reports it
        return value.astype(operands[0].dtype)


def _kernel_changed(change: Callable[[np.ndarray], np.ndarray]) -> Run:
    def run(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
        if spec.quantity == "grad_weight":  # the gradient of the mistaken kernel layout
            return np.ascontiguousarray(change(_in_dtype(spec, operands)))
        x, w, *rest = operands
        return _in_dtype(spec, [x, np.ascontiguousarray(change(w)), *rest])
    return run


def _pads(change: Callable[[int, int], tuple[int, int]]) -> Run:
    return lambda spec, operands: _in_dtype(spec, operands, pads=tuple(change(lo, hi) for lo, hi in spec.pads))


def _rounded_inputs(bits: int) -> Run:
    def run(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
        rounded = [round_to_bits(a.astype(np.float64), bits).astype(a.dtype) for a in operands]
        return _in_dtype(spec, rounded)
    return run


def _short_accumulation(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
    """Sums over input channels in the 16-bit type itself: each channel's conv is rounded, then added."""
    x, w = operands
    total = np.zeros(spec.output_shape, x.dtype)
    one = dataclasses.replace(spec, in_channels=1)
    for c in range(spec.in_channels):
        total = (total + _in_dtype(one, [x[:, c:c + 1], w[:, c:c + 1]])).astype(x.dtype)
    return total


def _one_ulp_off(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
    """The numpy result with its first element one ULP larger in magnitude (the next bit pattern)."""
    y = np.ascontiguousarray(NUMPY.run(spec, *operands))
    uint_view(y.reshape(-1)[:1])[0] += 1
    return y


def _spatial_swap(spec: ConvSpec) -> bool:
    return spec.rank >= 2 and spec.kernel[0] == spec.kernel[1] > 1


def _asymmetric(spec: ConvSpec) -> bool:
    return any(lo != hi for lo, hi in spec.pads)


def _same(spec: ConvSpec) -> bool:
    return spec.padding == "SAME" and not spec.transposed and _asymmetric(spec)


def _first_two_images(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
    """A weight gradient summed over the first two images of the batch only."""
    x, w, dy = operands
    return _in_dtype(dataclasses.replace(spec, batch=2), [x[:2], w, dy[:2]])


def _height_width_swapped(spec: ConvSpec, operands: list[np.ndarray]) -> np.ndarray:
    """An NDHWC volume read as NDWHC (the same shape where height equals width)."""
    x, *rest = operands
    return _in_dtype(spec, [np.ascontiguousarray(np.swapaxes(x, -2, -1)), *rest])


def _square_volume(spec: ConvSpec) -> bool:
    return (spec.rank == 3 and spec.layout == "channels_last" and spec.spatial[1] == spec.spatial[2]
            and spec.quantity == "output" and not spec.transposed)


_SHORT = ("float16", "float32")  # the dtypes of the mix-up cases (parity/cases/mixups.py)
MUTANTS = (
    Mutant("flip-all", lambda s: max(s.kernel) > 1, _kernel_changed(lambda k: np.flip(k, tuple(range(2, k.ndim))))),
    Mutant("flip-one-axis", lambda s: s.kernel[-1] > 1, _kernel_changed(lambda k: np.flip(k, -1))),
    Mutant("pad-start", lambda s: True, _pads(lambda lo, hi: (lo + 1, hi - 1))),
    Mutant("pad-end", lambda s: True, _pads(lambda lo, hi: (lo - 1, hi + 1))),
    Mutant("same-at-start", _same, _pads(lambda lo, hi: (hi, lo))),
    Mutant("symmetric-same", _same, _pads(lambda lo, hi: (max(lo, hi), max(lo, hi)))),
    Mutant("axes-transposed", _spatial_swap, _kernel_changed(lambda k: np.swapaxes(k, 2, 3))),
    Mutant("stride-dilation-swapped", lambda s: s.strides != s.dilations and s.quantity == "output",
           lambda s, ops: _in_dtype(s, ops, strides=s.dilations, dilations=s.strides)),
    Mutant("channels-permuted", lambda s: s.kernel_shape[1] > 1, _kernel_changed(lambda k: k[:, ::-1])),
    Mutant("crop-wrong-end", lambda s: s.transposed and _asymmetric(s), _pads(lambda lo, hi: (hi, lo))),
    Mutant("output-padding-dropped", lambda s: s.transposed and any(s.output_padding) and s.quantity == "output",
           lambda s, ops: _in_dtype(s, ops, output_padding=0)),
    Mutant("tf32-inputs", lambda s: True, _rounded_inputs(11), dtypes=("float32",)),
    Mutant("bf16-inputs", lambda s: True, _rounded_inputs(8), dtypes=("float32",)),
    Mutant("16bit-accumulation", lambda s: s.op == "conv" and s.quantity == "output" and s.groups == 1,
           _short_accumulation, dtypes=("float16", "bfloat16")),
    Mutant("one-ulp-off", lambda s: s.distribution in INTEGER, _one_ulp_off),
    Mutant("weight-gradient-of-two-images", lambda s: s.quantity == "grad_weight" and s.batch > 2, _first_two_images,
           dtypes=_SHORT),
    Mutant("dilations-reversed", lambda s: len(set(s.dilations)) > 1 and s.quantity == "output" and not s.transposed,
           lambda s, ops: _in_dtype(s, ops, dilations=s.dilations[::-1]), dtypes=_SHORT),
    Mutant("height-width-swapped", _square_volume, _height_width_swapped, dtypes=_SHORT),
    Mutant("transposed-kernel-read-as-OI", lambda s: s.transposed and s.kernel_shape[0] == s.kernel_shape[1] > 1
           and s.quantity in ("output", "grad_weight") and s.rank >= 2, _kernel_changed(lambda k: np.swapaxes(k, 0, 1)),
           dtypes=_SHORT),
)

"""Transposed convolution and gradient (vector-Jacobian product) cases."""
from __future__ import annotations

from itertools import product
from typing import Iterator

from parity.cases.forward import DISTRIBUTIONS, DTYPES, LAYOUTS, SHAPES
from parity.running.registry import generator
from parity.core.spec import ConvSpec

# (strides, output_padding, dilations, groups): the combinations frameworks are known to disagree on.
TRANSPOSE_GEOMETRY = ((1, 0, 1, 1), (2, 0, 1, 1), (2, 1, 1, 1), (2, 0, 2, 1), (1, 0, 1, 2), (2, 1, 1, 2))
CROPS = {1: ((1, 0),), 2: ((1, 1), (0, 2)), 3: ((1, 0), (0, 0), (1, 1))}
GRADIENT_GEOMETRY = ((1, 1, 1), (2, 1, 1), (1, 2, 1), (2, 1, 2))  # (strides, dilations, groups)


def _rotation() -> list[tuple[str, str]]:
    return list(product(DISTRIBUTIONS, DTYPES))


@generator("default")
def transposed() -> Iterator[ConvSpec]:
    """conv_transpose outputs: every rank x padding (VALID, TF SAME, explicit crop) x geometry x layout."""
    arithmetic = _rotation()
    for rank in (1, 2, 3):
        combos = product(("VALID", "SAME", CROPS[rank]), TRANSPOSE_GEOMETRY, LAYOUTS)
        for i, (padding, (stride, extra, dilation, groups), layout) in enumerate(combos):
            distribution, dtype = arithmetic[i // 2 % len(arithmetic)]
            yield ConvSpec(op="conv_transpose", kernel=3 if rank == 3 or i // 2 % 2 else 4, strides=stride,
                           output_padding=extra, dilations=dilation, groups=groups, padding=padding,
                           out_channels=6, dtype=dtype, layout=layout, distribution=distribution, **SHAPES[rank])


@generator("default")
def gradients() -> Iterator[ConvSpec]:
    """grad_input and grad_weight of conv and conv_transpose for a seeded cotangent."""
    arithmetic = _rotation()
    combos = product(("conv", "conv_transpose"), ("grad_input", "grad_weight"), (1, 2, 3),
                     ("VALID", "SAME"), GRADIENT_GEOMETRY, LAYOUTS)
    for i, (op, quantity, rank, padding, (stride, dilation, groups), layout) in enumerate(combos):
        distribution, dtype = arithmetic[i // 2 % len(arithmetic)]
        yield ConvSpec(op=op, quantity=quantity, kernel=3, strides=stride, dilations=dilation, groups=groups,
                       padding=padding, out_channels=6, dtype=dtype, layout=layout, distribution=distribution,
                       **SHAPES[rank])


@generator("default")
def known_transpose_disagreements() -> Iterator[ConvSpec]:
    """PyTorch (padding, output_padding) vs TF (output_shape, SAME): stride 2 with output_padding 1, a
    crop PyTorch cannot express symmetrically, and Keras' Conv2DTranspose(padding='same', strides=2)."""
    common = dict(spatial=(5, 6), in_channels=3, out_channels=4, layout="channels_last", strides=2)
    yield ConvSpec(op="conv_transpose", kernel=3, padding=((1, 1), (1, 1)), output_padding=1, **common)
    yield ConvSpec(op="conv_transpose", kernel=4, padding="SAME", **common)
    yield ConvSpec(op="conv_transpose", kernel=3, padding="SAME", **common)
    yield ConvSpec(op="conv_transpose", kernel=4, padding=((2, 0), (0, 1)), **common)
    yield ConvSpec(op="conv_transpose", kernel=1, padding="SAME", strides=3, spatial=(4,), in_channels=2,
                   out_channels=2, layout="channels_last")


@generator("default")
def backward_arithmetic() -> Iterator[ConvSpec]:
    """Every dtype for each transposed/gradient quantity on a geometry every backend runs
    (channels-last, no groups or dilation, TF SAME with stride 2)."""
    kinds = (("conv_transpose", "output"), ("conv", "grad_input"), ("conv", "grad_weight"),
             ("conv_transpose", "grad_input"), ("conv_transpose", "grad_weight"))
    for i, (rank, (op, quantity), dtype) in enumerate(product((1, 2, 3), kinds, DTYPES)):
        yield ConvSpec(op=op, quantity=quantity, kernel=3, strides=2, padding="SAME", out_channels=5, seed=1,
                       dtype=dtype, layout="channels_last", distribution=DISTRIBUTIONS[i % 3], **SHAPES[rank])

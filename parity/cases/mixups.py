"""Cases where one axis or one operand can be taken for another and the rest of the tier cannot tell.

Each shape makes a mix-up change the result without changing a shape (a swap between two equal sizes is
invisible to every check but the values): different strides or dilations per axis (swapped across axes),
a channels-last volume whose height equals its width (read as NDWHC), a transposed kernel with as many
input as output channels per group (read as (O, I, ...) instead of (I, O, ...), PyTorch's and TensorFlow's
orders), and gradients over a batch of three (summed over two images, or the batch reversed). An adversarial
review found each mix-up passing the rest of the default tier.
"""
from __future__ import annotations

from itertools import product
from typing import Iterator

from parity.cases.forward import LAYOUTS
from parity.core.spec import ConvSpec
from parity.running.registry import generator

_ARITHMETIC = (("float32", "normal"), ("float16", "int"))


@generator("default")
def axis_mixups() -> Iterator[ConvSpec]:
    """Per-axis strides and dilations (both orders), a channels-last volume with height equal to width, and
    input gradients where a stride and a dilation can be swapped without changing a shape."""
    for i, steps in enumerate(((1, 2), (2, 1))):
        for j, layout in enumerate(LAYOUTS):
            dtype, distribution = _ARITHMETIC[(i + j) % 2]
            common = dict(dtype=dtype, distribution=distribution, layout=layout, in_channels=3, out_channels=4)
            yield ConvSpec(spatial=(10, 11), kernel=3, strides=steps, padding="SAME", **common)
            yield ConvSpec(spatial=(10, 11), kernel=3, dilations=steps, padding="SAME", **common)
            yield ConvSpec(op="conv", quantity="grad_input", spatial=(10, 11), kernel=3, strides=steps,
                           dilations=steps[::-1], padding="VALID", **common)
    for (dtype, distribution), layout in zip(_ARITHMETIC, LAYOUTS):
        yield ConvSpec(spatial=(4, 6, 6), kernel=(2, 3, 3), strides=(1, 2, 1), padding="SAME", batch=2, dtype=dtype,
                       distribution=distribution, layout="channels_last", in_channels=3, out_channels=4)
        # 7 taps, kernel 3: stride 2 and dilation 2 give the same 3 outputs, so a swap keeps every shape
        yield ConvSpec(op="conv", quantity="grad_input", spatial=(7,), kernel=3, strides=2 if dtype == "float32" else 1,
                       dilations=1 if dtype == "float32" else 2, dtype=dtype, distribution=distribution,
                       layout=layout, in_channels=3, out_channels=4)


@generator("default")
def operand_mixups() -> Iterator[ConvSpec]:
    """Transposed kernels with as many input as output channels per group, and gradients over three images."""
    square = product(("output", "grad_weight"), (((5, 6), 3, 1), ((4, 5, 3), 2, 1), ((5, 6), 3, 2)))
    for i, (quantity, (spatial, kernel, groups)) in enumerate(square):
        dtype, distribution = _ARITHMETIC[i % 2]
        yield ConvSpec(op="conv_transpose", quantity=quantity, spatial=spatial, kernel=kernel, strides=2,
                       groups=groups, in_channels=4, out_channels=4, dtype=dtype, distribution=distribution,
                       layout=LAYOUTS[i // 2 % 2])
    for i, (op, quantity, rank) in enumerate(product(("conv", "conv_transpose"), ("grad_input", "grad_weight"),
                                                     (1, 2, 3))):
        dtype, distribution = _ARITHMETIC[i % 2]
        spatial = {1: (9,), 2: (6, 7), 3: (4, 5, 3)}[rank]
        yield ConvSpec(op=op, quantity=quantity, spatial=spatial, kernel=3 if rank < 3 else 2, strides=2,
                       padding="SAME", batch=3, in_channels=3, out_channels=4, dtype=dtype, distribution=distribution,
                       layout=LAYOUTS[i // 2 % 2])

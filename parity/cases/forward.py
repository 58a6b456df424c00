"""Forward convolution cases: geometry coverage, arithmetic coverage, and known disagreements."""
from __future__ import annotations

from itertools import product
from typing import Iterator

from parity.running.registry import generator
from parity.core.spec import ConvSpec

DTYPES = ("float32", "float64", "float16", "bfloat16")
LAYOUTS = ("channels_first", "channels_last")
DISTRIBUTIONS = ("normal", "int", "wide")
# Per rank: input spatial size (odd where it matters), channels, batch.
SHAPES = {1: dict(spatial=(11,), in_channels=4, batch=2),
          2: dict(spatial=(9, 8), in_channels=4, batch=2),
          3: dict(spatial=(5, 6, 7), in_channels=4, batch=1)}
# One asymmetric explicit padding per rank.
EXPLICIT = {1: ((2, 1),), 2: ((1, 0), (0, 2)), 3: ((1, 1), (0, 1), (2, 0))}
GROUPINGS = ("plain", "grouped", "depthwise")


def _paddings(rank: int) -> tuple:
    modes = ("VALID", "SAME", "SAME_LOWER", "FULL", EXPLICIT[rank])
    return modes + ("CAUSAL",) if rank == 1 else modes


def _channels(rank: int, grouping: str) -> dict:
    channels = SHAPES[rank]["in_channels"]
    if grouping == "plain":
        return dict(groups=1, out_channels=3)
    if grouping == "grouped":
        return dict(groups=2, out_channels=4)
    return dict(groups=channels, out_channels=2 * channels)  # depthwise, channel multiplier 2


@generator("default")
def geometry() -> Iterator[ConvSpec]:
    """Every rank x padding x stride x dilation x grouping x layout; dtype and distribution rotate so
    that each rank sees all 12 of their combinations in both layouts."""
    arithmetic = list(product(DISTRIBUTIONS, DTYPES))
    for rank in (1, 2, 3):
        combos = product(_paddings(rank), (1, 2), (1, 2), GROUPINGS, LAYOUTS)
        for i, (padding, stride, dilation, grouping, layout) in enumerate(combos):
            distribution, dtype = arithmetic[i // 2 % len(arithmetic)]
            kernel = 3 if rank == 3 or i // 2 % 2 else 4
            yield ConvSpec(kernel=kernel, strides=stride, dilations=dilation, padding=padding, dtype=dtype,
                           layout=layout, distribution=distribution, **SHAPES[rank], **_channels(rank, grouping))


@generator("default")
def arithmetic() -> Iterator[ConvSpec]:
    """Every rank x dtype x distribution x layout on one shape frameworks disagree about:
    TF SAME with stride 2, an even kernel and an odd input (padding (0, 1), not (1, 1))."""
    spatial = {1: (15,), 2: (7, 9), 3: (5, 7, 5)}
    for rank, dtype, distribution, layout in product((1, 2, 3), DTYPES, DISTRIBUTIONS, LAYOUTS):
        yield ConvSpec(spatial=spatial[rank], kernel=2, in_channels=6, out_channels=5, strides=2,
                       padding="SAME", dtype=dtype, distribution=distribution, layout=layout)


@generator("default")
def known_disagreements() -> Iterator[ConvSpec]:
    """Shapes from reported porting bugs."""
    # tensornets #25: input 224, k=7, s=2: TF SAME pads (2, 3), symmetric code pads (3, 3).
    yield ConvSpec(spatial=(224, 224), kernel=7, in_channels=3, out_channels=8, strides=2, padding="SAME",
                   layout="channels_last")
    for rank, layout in product((1, 2, 3), LAYOUTS):
        spatial = {1: (16,), 2: (10, 11), 3: (6, 7, 6)}[rank]
        common = dict(spatial=spatial, in_channels=3, layout=layout)
        # even kernel, SAME, stride 2, odd and even sizes
        yield ConvSpec(kernel=4, out_channels=4, strides=2, padding="SAME", **common)
        # dilation with SAME: the padding follows the dilated span
        yield ConvSpec(kernel=3, out_channels=4, dilations=3, padding="SAME", **common)
        # SAME_LOWER mirrors SAME's odd element (ONNX auto_pad)
        yield ConvSpec(kernel=2, out_channels=4, strides=3, padding="SAME_LOWER", **common)
        # depthwise with multiplier 3 (TF [k..., in, multiplier] vs (in*mult, 1, k...))
        yield ConvSpec(kernel=3, out_channels=9, groups=3, strides=2, padding="SAME", **common)
        # kernel as large as the input: a single output per axis
        yield ConvSpec(kernel=spatial, out_channels=2, **common)
        # 1x1 kernel with stride: pure subsampling
        yield ConvSpec(kernel=1, out_channels=5, strides=2, **common)
    # Keras Conv1D(padding='causal', dilation_rate=4): (k-1)*d = 8 on the left only
    yield ConvSpec(spatial=(20,), kernel=3, in_channels=2, out_channels=3, dilations=4, padding="CAUSAL",
                   layout="channels_last", batch=3)


@generator("smoke")
def smoke() -> Iterator[ConvSpec]:
    """A handful of quick cases: one per rank and padding family, f32 and f16, both layouts."""
    for rank, padding, dtype in product((1, 2, 3), ("VALID", "SAME"), ("float32", "float16")):
        layout = LAYOUTS[rank % 2]
        yield ConvSpec(kernel=3, strides=2 if padding == "SAME" else 1, padding=padding, dtype=dtype,
                       layout=layout, distribution="int" if dtype == "float16" else "normal",
                       out_channels=5, **{**SHAPES[rank], "in_channels": 3})


@generator("full")
def larger() -> Iterator[ConvSpec]:
    """Bigger shapes and more channels: longer accumulations, stride 3, batch 4."""
    spatial = {1: (129,), 2: (33, 31), 3: (11, 12, 13)}
    for rank, dtype, padding, stride in product((1, 2, 3), DTYPES, ("VALID", "SAME", "FULL"), (1, 3)):
        yield ConvSpec(spatial=spatial[rank], kernel=5 if rank < 3 else 3, in_channels=16, out_channels=8,
                       batch=4, strides=stride, dilations=2, padding=padding, groups=4, dtype=dtype)

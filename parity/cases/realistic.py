"""Realistic layer shapes: the accumulation lengths and channel counts of real networks (ResNet-50,
MobileNetV2, DCGAN, WaveNet, a video net), on small spatial grids, in every dtype. Normal data shows
how far each backend sits from the exact result; ``sparse`` integer data has a bound of 0 at any length, so
any convention mistake fails; ``canary`` data exposes TF32/bfloat16 input rounding and 16-bit accumulation
(see :func:`parity.core.inputs.integer_plan`)."""
from __future__ import annotations

from itertools import product
from typing import Any, Iterator

from parity.running.registry import Case, generator
from parity.core.spec import ConvSpec

DTYPES = ("float32", "float64", "float16", "bfloat16")
DISTRIBUTIONS = ("normal", "sparse", "canary")
# name -> ConvSpec fields; n = the accumulation length of the result. The channels a result does not sum
# over (out_channels of outputs and transposed outputs, in_channels of input gradients) are cut to 64: they
# only multiply the number of results, and the full widths made these layers 2/3 of the tier's run time.
LAYERS: dict[str, dict[str, Any]] = {
    "resnet-stem-7x7s2": dict(spatial=(56, 56), kernel=7, in_channels=3, out_channels=64, strides=2,
                              padding="SAME", layout="NHWC"),  # n = 147
    "resnet-3x3-c64": dict(spatial=(14, 14), kernel=3, in_channels=64, out_channels=64, padding="SAME"),  # 576
    "resnet-3x3-c256": dict(spatial=(7, 7), kernel=3, in_channels=256, out_channels=64, padding="SAME",
                            layout="NHWC"),  # 2304
    "resnet-3x3-c512": dict(spatial=(7, 7), kernel=3, in_channels=512, out_channels=64, padding="SAME"),  # 4608
    "resnet-1x1s2-c256": dict(spatial=(14, 14), kernel=1, in_channels=256, out_channels=64, strides=2,
                              layout="NHWC"),  # 256
    "resnet-1x1-c2048": dict(spatial=(7, 7), kernel=1, in_channels=2048, out_channels=64),  # 2048
    "mobilenet-dw3x3s1": dict(spatial=(14, 14), kernel=3, in_channels=96, out_channels=96, groups=96,
                              padding="SAME", layout="NHWC"),  # 9
    "mobilenet-dw3x3s2": dict(spatial=(14, 14), kernel=3, in_channels=96, out_channels=96, groups=96,
                              strides=2, padding="SAME"),  # 9
    "dcgan-convt4x4s2": dict(op="conv_transpose", spatial=(8, 8), kernel=4, in_channels=256, out_channels=64,
                             strides=2, padding=((1, 1), (1, 1)), layout="NHWC"),  # 4096 (1024 nonzero)
    "wavenet-causal-d8": dict(spatial=(64,), kernel=2, in_channels=128, out_channels=128, dilations=8,
                              padding="CAUSAL", layout="NWC"),  # 256
    "video-3x3x3-c64": dict(spatial=(6, 6, 6), kernel=3, in_channels=64, out_channels=64, padding="SAME"),  # 1728
    "resnet-3x3-c256-dx": dict(spatial=(7, 7), kernel=3, in_channels=64, out_channels=256, padding="SAME",
                               quantity="grad_input", layout="NHWC"),  # 2304
    "resnet-3x3-c256-dw": dict(spatial=(7, 7), kernel=3, in_channels=256, out_channels=64, padding="SAME",
                               quantity="grad_weight", batch=2),  # 98
}


@generator("default")
def realistic() -> Iterator[Case]:
    """Every layer of :data:`LAYERS` in every dtype and distribution."""
    for (name, fields), dtype, distribution in product(LAYERS.items(), DTYPES, DISTRIBUTIONS):
        spec = ConvSpec(dtype=dtype, distribution=distribution, **fields)
        yield Case(f"realistic-{name}-{spec.slug()}", spec)

"""Hypothesis strategies for conv specs, as named building blocks (like array-api-tests).

``valid_specs()`` draws small specs that construct without error (all ranks, paddings, strides,
dilations, groups incl. depthwise, layouts, dtypes, transposed convs and gradients);
``invalid_specs()`` draws ``(kwargs, field)`` pairs whose construction must raise a ``ValueError``
naming ``field``. Requires the ``hypothesis`` package (the ``test`` extra).
"""
from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from parity.core import geometry
from parity.core.dtypes import DTYPES, precision_bits
from parity.core.spec import DISTRIBUTIONS, LAYOUTS, ConvSpec

ranks = st.integers(1, 3)
dtypes = st.sampled_from(sorted(DTYPES))
layouts = st.sampled_from(LAYOUTS)
ops = st.sampled_from(("conv", "conv_transpose"))
quantities = st.sampled_from(("output", "grad_input", "grad_weight"))
small = st.integers(1, 3)


def per_axis(rank: int, values: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, ...]]:
    return st.tuples(*[values] * rank)


@st.composite
def channels(draw: st.DrawFn) -> dict[str, int]:
    """groups, in_channels and out_channels that divide: plain, grouped or depthwise."""
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(small)
    kind = draw(st.sampled_from(("any", "depthwise")))
    per_group_out = draw(small)
    if kind == "depthwise":
        in_channels = groups
    return dict(groups=groups, in_channels=in_channels, out_channels=groups * per_group_out)


@st.composite
def paddings(draw: st.DrawFn, rank: int, op: str) -> str | tuple[tuple[int, int], ...]:
    modes = ["VALID", "SAME"] + (["SAME_LOWER", "FULL"] + (["CAUSAL"] if rank == 1 else []) if op == "conv" else [])
    explicit = per_axis(rank, st.tuples(st.integers(0, 2), st.integers(0, 2)))
    return draw(st.one_of(st.sampled_from(modes), explicit))


@st.composite
def valid_specs(draw: st.DrawFn, op: st.SearchStrategy[str] = ops,
                quantity: st.SearchStrategy[str] = quantities) -> ConvSpec:
    rank, chosen_op = draw(ranks), draw(op)
    kernel, strides, dilations = (draw(per_axis(rank, small)) for _ in range(3))
    padding = draw(paddings(rank, chosen_op))
    # Large enough for every padding mode: the dilated kernel fits the unpadded input.
    spatial = tuple(span + draw(st.integers(0, 4)) for span in geometry.spans(kernel, dilations))
    extra = draw(per_axis(rank, st.integers(0, 1))) if chosen_op == "conv_transpose" else 0
    if chosen_op == "conv_transpose" and not isinstance(padding, str):  # crop at most full - 1
        full = geometry.full_transposed(spatial, kernel, strides, dilations)
        padding = tuple((min(lo, f - 1), min(hi, f - 1 - min(lo, f - 1))) for (lo, hi), f in zip(padding, full))
    spec = ConvSpec(spatial=spatial, kernel=kernel, strides=strides, dilations=dilations, padding=padding,
                    op=chosen_op, quantity=draw(quantity), output_padding=extra, batch=draw(st.integers(1, 3)),
                    dtype=draw(dtypes), layout=draw(layouts), seed=draw(st.integers(0, 3)), **draw(channels()))
    distribution = draw(st.sampled_from(DISTRIBUTIONS))
    if distribution == "int" and spec.accumulation_length > 2 ** precision_bits(spec.dtype):
        distribution = "normal"
    return ConvSpec(**{**spec.as_dict(), "distribution": distribution})


_BASE: dict[str, Any] = dict(spatial=(6, 6), kernel=3, in_channels=4, out_channels=4)
# Each entry: changed keyword arguments and the field the error must name.
_INVALID: list[tuple[dict[str, Any], str]] = [
    (dict(groups=3), "groups"), (dict(in_channels=0), "in_channels"), (dict(out_channels=-2), "out_channels"),
    (dict(batch=True), "batch"), (dict(kernel=0), "kernel"), (dict(kernel=(3,)), "kernel"),
    (dict(strides=(1, 0)), "strides"), (dict(dilations=1.5), "dilations"), (dict(spatial=(2, 2, 2, 2)), "spatial"),
    (dict(padding="HALF"), "padding"), (dict(padding="CAUSAL"), "padding"), (dict(padding=((1, -1), (0, 0))), "padding"),
    (dict(dtype="int8"), "dtype"), (dict(layout="NWC"), "layout"), (dict(distribution="uniform"), "distribution"),
    (dict(seed=-1), "seed"), (dict(op="deconv"), "op"), (dict(quantity="grad_bias"), "quantity"),
    (dict(output_padding=1), "output_padding"), (dict(kernel=7), "output size"),
    (dict(op="conv_transpose", padding="FULL"), "padding"),
    (dict(distribution="int", dtype="bfloat16", in_channels=64, out_channels=4), "distribution"),
]


@st.composite
def invalid_specs(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """(kwargs, field): ``ConvSpec(**kwargs)`` must raise a ValueError whose message names ``field``."""
    changes, field = draw(st.sampled_from(_INVALID))
    return {**_BASE, **changes}, field

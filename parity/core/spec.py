"""The canonical convolution spec: one frozen, validated description of a case.

Canonical form: channels-first data ``(N, C, *spatial)``, kernel ``(O, C/groups, *k)`` for ``conv`` and
``(C_in, C_out/groups, *k)`` for ``conv_transpose`` (PyTorch/ONNX), cross-correlation (no flip).
``quantity`` says what is compared: the ``output``, or the vector-Jacobian product with respect to the
input (``grad_input``) or the weight (``grad_weight``) for a seeded cotangent. User spellings ("NHWC", 2, "f32", "1:2,0:1") are accepted at construction
and turned once into that form; anything else raises ``ValueError`` naming field, value and rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, Final, Union

from parity.core import convert, geometry
from parity.core.dtypes import SHORT, canonical_name, precision_bits
from parity.core.errors import FieldError

PADDING_MODES: Final = ("VALID", "SAME", "SAME_LOWER", "CAUSAL", "FULL")
OPS: Final = ("conv", "conv_transpose")
QUANTITIES: Final = ("output", "grad_input", "grad_weight")
_TRANSPOSE_MODES: Final = ("VALID", "SAME")
LAYOUTS: Final = ("channels_first", "channels_last")
DISTRIBUTIONS: Final = ("normal", "int", "wide", "sparse", "canary")
Pads = tuple[tuple[int, int], ...]
PaddingLike = Union[str, int, tuple, list]


def _positive_ints(field: str, value: Any, rank: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    items = (value,) * (rank or 1) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (tuple, list)) or not items:
        raise FieldError(field, f"must be an int >= {minimum} or a non-empty tuple of them, got {value!r}")
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int) or item < minimum:
            raise FieldError(field, f"must contain only ints >= {minimum}, got {value!r}")
    if rank is not None and len(items) != rank:
        raise FieldError(field, f"must have one entry per spatial axis ({rank}), got {value!r}")
    return tuple(items)


def _positive_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FieldError(field, f"must be an int >= 1, got {value!r}")
    return value


def _padding(value: PaddingLike, rank: int) -> str | Pads:
    if isinstance(value, str):
        text = value.strip().upper()
        if text in PADDING_MODES:
            if text == "CAUSAL" and rank != 1:
                raise ValueError(f"padding='CAUSAL' must be used with rank 1, got rank {rank}")
            return text
        return _padding(convert.parse_pads(value, rank), rank)
    try:  # bools, None, floats, ... are not iterable: reject them with the ValueError below
        pairs = [value] * rank if isinstance(value, int) and not isinstance(value, bool) else list(value)
        pairs = [(p, p) if isinstance(p, int) and not isinstance(p, bool) else tuple(p) for p in pairs]
    except TypeError:
        pairs = None
    if pairs is None or len(pairs) != rank or any(len(p) != 2 for p in pairs):
        raise FieldError("padding", f"must be one of {', '.join(PADDING_MODES)}, an int, or one (lo, hi) pair "
                         f"per spatial axis ({rank}), got {value!r}")
    for lo, hi in pairs:
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (lo, hi)):
            raise FieldError("padding", f"must contain only ints >= 0, got {value!r}")
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def _check_op_fields(padding: str | Pads, output_padding: tuple[int, ...], transposed: bool) -> None:
    if transposed and isinstance(padding, str) and padding not in _TRANSPOSE_MODES:
        raise ValueError(f"padding={padding!r} must be VALID, SAME or explicit (lo, hi) crops for op='conv_transpose'")
    if not transposed and any(output_padding):
        raise ValueError(f"output_padding={output_padding} must be 0 for op='conv' (it is a conv_transpose parameter)")


def conventions(rank: int, *, strides: Any = 1, dilations: Any = 1, groups: Any = 1, padding: PaddingLike = "VALID",
                output_padding: Any = 0, transposed: bool = False) -> tuple[tuple[int, ...], tuple[int, ...], int,
                                                                            str | Pads, tuple[int, ...]]:
    """The shape-free fields of a spec, validated and canonical as :class:`ConvSpec` makes them: (strides,
    dilations, groups, padding, output_padding); ``ValueError`` naming field, value and rule."""
    checked = (_positive_ints("strides", strides, rank), _positive_ints("dilations", dilations, rank),
               _positive_int("groups", groups), _padding(padding, rank),
               _positive_ints("output_padding", output_padding, rank, minimum=0))
    _check_op_fields(checked[3], checked[4], transposed)
    return checked


@dataclass(frozen=True)
class ConvSpec:
    """A forward N-d convolution case (rank 1 to 3)."""

    spatial: tuple[int, ...]
    kernel: tuple[int, ...] | int
    in_channels: int = 1
    out_channels: int = 1
    batch: int = 1
    strides: tuple[int, ...] | int = 1
    dilations: tuple[int, ...] | int = 1
    groups: int = 1
    padding: str | Pads = "VALID"
    dtype: str = "float32"
    layout: str = "channels_first"
    distribution: str = "normal"
    seed: int = 0
    op: str = "conv"
    quantity: str = "output"
    output_padding: tuple[int, ...] | int = 0

    def __post_init__(self) -> None:
        spatial = _positive_ints("spatial", self.spatial)
        rank = len(spatial)
        if rank > 3:
            raise FieldError("spatial", f"must have 1 to 3 axes, got {self.spatial!r}")
        set_ = object.__setattr__
        set_(self, "spatial", spatial)
        for name in ("kernel", "strides", "dilations"):
            set_(self, name, _positive_ints(name, getattr(self, name), rank))
        for name in ("in_channels", "out_channels", "batch", "groups"):
            set_(self, name, _positive_int(name, getattr(self, name)))
        set_(self, "padding", _padding(self.padding, rank))
        set_(self, "dtype", canonical_name(self.dtype))
        set_(self, "layout", convert.layout_family(self.layout, rank))
        set_(self, "output_padding", _positive_ints("output_padding", self.output_padding, rank, minimum=0))
        for field, choices in (("distribution", DISTRIBUTIONS), ("op", OPS), ("quantity", QUANTITIES)):
            if getattr(self, field) not in choices:
                raise FieldError(field, f"must be one of {', '.join(choices)}, got {getattr(self, field)!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise FieldError("seed", f"must be an int >= 0, got {self.seed!r}")
        self._check_consistency()

    def _check_consistency(self) -> None:
        _check_op_fields(self.padding, self.output_padding, self.transposed)
        for field in ("in_channels", "out_channels"):
            if getattr(self, field) % self.groups:
                raise ValueError(f"groups={self.groups} must divide {field}={getattr(self, field)}")
        for axis, size in enumerate(self.output_spatial):
            if size < 1:
                raise ValueError(f"output size along spatial axis {axis} must be >= 1, got {size} from input "
                                 f"{self.spatial[axis]}, padding {self.pads[axis]}, dilated kernel "
                                 f"{self.dilated_kernel[axis]}, stride {self.strides[axis]}")
        limit = 2 ** precision_bits(self.dtype)
        if self.distribution == "int" and self.accumulation_length > limit:
            raise ValueError(
                f"distribution='int' must have accumulation length in_channels/groups x kernel volume <= {limit} "
                f"for {self.dtype} (so every partial sum is an exact integer), got {self.accumulation_length}")

    @property
    def rank(self) -> int:
        return len(self.spatial)

    @property
    def dilated_kernel(self) -> tuple[int, ...]:
        return geometry.spans(self.kernel, self.dilations)

    @property
    def transposed(self) -> bool:
        return self.op == "conv_transpose"

    @cached_property
    def pads(self) -> Pads:
        """Explicit (lo, hi) per spatial axis: input padding for ``conv``; for ``conv_transpose`` the crop
        of the full output (PyTorch's ``padding``; a negative hi extends it with zeros)."""
        geometry = (self.padding, self.spatial, self.kernel, self.strides, self.dilations)
        return convert.transpose_crops(*geometry) if self.transposed else convert.explicit_pads(*geometry)

    @cached_property
    def output_spatial(self) -> tuple[int, ...]:
        if self.transposed:
            full = geometry.full_transposed(self.spatial, self.kernel, self.strides, self.dilations)
            return tuple(f - lo - hi + extra for f, (lo, hi), extra in zip(full, self.pads, self.output_padding))
        return geometry.output_lengths(self.spatial, self.kernel, self.strides, self.dilations, self.pads)

    @property
    def accumulation_length(self) -> int:
        """n in the error bound: terms summed (at most) per element of the compared quantity."""
        if self.quantity == "grad_weight":  # summed over the batch and the cotangent-side grid
            grid = self.output_spatial if not self.transposed else self.spatial
            return self.batch * math.prod(grid)
        reduced = self.in_channels if (self.quantity == "output") else self.out_channels
        return reduced // self.groups * math.prod(self.kernel)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels, *self.spatial)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_channels, *self.output_spatial)

    @property
    def result_shape(self) -> tuple[int, ...]:
        """Shape of the compared quantity."""
        return {"output": self.output_shape, "grad_input": self.input_shape,
                "grad_weight": self.kernel_shape}[self.quantity]

    @property
    def is_depthwise(self) -> bool:
        return self.groups == self.in_channels and self.groups > 1

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly parameters (tuples become lists)."""
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {key: list(map(list, value)) if key == "padding" and not isinstance(value, str)
                else list(value) if isinstance(value, tuple) else value for key, value in values}

    def slug(self) -> str:
        """A readable id, unique per spec, e.g. ``conv2d-nhwc-same-s2-d1-g1-k4x4-n1c4x9x9-o8-f32-normal``."""
        layout = convert.layout_name(self.layout, self.rank).lower()
        op = "convtranspose" if self.transposed else "conv"
        extra = [f"op{_axes(self.output_padding)}"] if any(self.output_padding) else []
        quantity = [] if self.quantity == "output" else [{"grad_input": "dx", "grad_weight": "dw"}[self.quantity]]
        parts = [f"{op}{self.rank}d", *quantity, layout, convert.padding_slug(self.padding), "s" + _axes(self.strides),
                 "d" + _axes(self.dilations), *extra, f"g{self.groups}", "k" + _axes(self.kernel, collapse=False),
                 f"n{self.batch}c{self.in_channels}x{_axes(self.spatial, collapse=False)}", f"o{self.out_channels}",
                 SHORT[self.dtype], self.distribution]
        return "-".join(parts + ([f"seed{self.seed}"] if self.seed else []))


def _axes(values: tuple[int, ...], collapse: bool = True) -> str:
    return str(values[0]) if collapse and len(set(values)) == 1 else "x".join(map(str, values))
